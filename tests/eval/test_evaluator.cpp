// Evaluator (lib/ptune/eval/evaluator.h): loss, perplexity and accuracy against values worked
// out by hand from fixed logits; ignored targets and batching do not change them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "ptune/data/dataset.h"
#include "ptune/eval/evaluator.h"

using namespace ptune;

namespace {

// Logits that put all mass on token (input + 1) % V except where the input is 0, which
// predicts uniformly: the NLL is 0 (1e-30 with a large margin) or log V there.
torch::Tensor fixed_logits(const torch::Tensor& ids, int64_t V) {
  auto next = (ids + 1).remainder(V);                                             // (B, T)
  auto logits = torch::full({ids.size(0), ids.size(1), V}, -1e4, torch::kFloat);  // (B, T, V)
  logits.scatter_(2, next.unsqueeze(-1), 0.0);
  auto zero = ids.eq(0).unsqueeze(-1).expand_as(logits);
  return torch::where(zero, torch::zeros_like(logits), logits);
}

}  // namespace

TEST(Evaluator, LossAccuracyAndPerplexityFromKnownLogits) {
  constexpr int64_t V = 8;
  // Targets: 2 follows 1 (right), 5 does not follow 3 (wrong: NLL 1e4), after 0 any target is
  // log V; kIgnoreIndex is not counted.
  const int32_t X = static_cast<int32_t>(kIgnoreIndex);
  Dataset data = Dataset::from_examples({{{1, 3, 0}, {2, 5, 7}}, {{0, 1}, {X, 2}}});
  EvalOptions o;
  o.batch_size = 1;
  std::vector<EvalResult> per;
  o.per_example = [&](int64_t, const EvalResult& e) { per.push_back(e); };
  const EvalResult r = evaluate_logits(
      [&](const torch::Tensor& ids, const torch::Tensor&) { return fixed_logits(ids, V); }, data, 0,
      o);
  EXPECT_EQ(r.tokens, 4);
  EXPECT_EQ(r.examples, 2);
  const double nll = 0 + 1e4 + std::log(V) + 0;
  EXPECT_NEAR(r.loss, nll / 4, 1e-3);
  EXPECT_DOUBLE_EQ(r.perplexity, std::exp(r.loss));
  // argmax is 2 (right), 4 (wrong), 0 after the uniform row (wrong: 7), 2 (right).
  EXPECT_DOUBLE_EQ(r.accuracy, 0.5);
  ASSERT_EQ(per.size(), 2u);
  EXPECT_EQ(per[1].tokens, 1);
  EXPECT_DOUBLE_EQ(per[1].accuracy, 1.0);

  // Batched (right padding with the pad id, ignored targets) gives the same totals.
  o.batch_size = 2;
  o.per_example = nullptr;
  const EvalResult b = evaluate_logits(
      [&](const torch::Tensor& ids, const torch::Tensor&) { return fixed_logits(ids, V); }, data, 0,
      o);
  EXPECT_EQ(b.tokens, r.tokens);
  EXPECT_NEAR(b.loss, r.loss, 1e-9);
  EXPECT_DOUBLE_EQ(b.accuracy, r.accuracy);
}
