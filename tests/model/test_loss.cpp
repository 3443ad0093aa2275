// Chunked LM loss (lib/ptune/model/loss.h): the same loss and gradients as the logits computed
// whole, for chunk sizes that do and do not divide the positions, with ignored targets, a
// frozen head, and bf16 compute.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ptune/data/batch.h"
#include "ptune/model/loss.h"
#include "ptune/ops/mixed_precision.h"
#include "tiny_run.h"

using namespace ptune;

namespace {

struct Case {
  torch::Tensor h, w, targets;  // (B, T, d), (V, d), (B, T)
};

Case make_case(torch::ScalarType dtype) {
  torch::manual_seed(9);
  Case c;
  c.h = torch::randn({3, 7, 16}).to(dtype).requires_grad_();
  c.w = torch::randn({50, 16}).mul_(0.3).requires_grad_();  // fp32 master
  c.targets = torch::randint(50, {3, 7}, torch::kLong);
  c.targets.index_put_({0, torch::indexing::Slice(0, 4)}, kIgnoreIndex);
  c.targets[2][6] = kIgnoreIndex;
  return c;
}

}  // namespace

TEST(ChunkedLmLoss, EqualsTheWholeLossAndGradientsInFp32) {
  Case ref = make_case(torch::kFloat);
  auto whole = lm_loss_sum(mixed_linear(ref.h, ref.w), ref.targets);
  whole.backward();
  for (int64_t rows : {1, 5, 21, 64}) {  // 21 positions: 1, 5 do not divide, 21, 64 are one chunk
    Case c = make_case(torch::kFloat);
    auto chunked = chunked_lm_loss_sum(c.h, c.w, c.targets, rows);
    chunked.backward();
    EXPECT_NEAR(chunked.item<double>(), whole.item<double>(), 1e-6 * whole.item<double>()) << rows;
    EXPECT_LE(test::max_rel_diff(c.h.grad(), ref.h.grad()), 1e-6) << rows;
    EXPECT_LE(test::max_rel_diff(c.w.grad(), ref.w.grad()), 1e-6) << rows;
  }
}

TEST(ChunkedLmLoss, FrozenHeadGetsNoGradient) {
  Case c = make_case(torch::kFloat);
  c.w.requires_grad_(false);
  chunked_lm_loss_sum(c.h, c.w, c.targets, 4).backward();
  EXPECT_TRUE(c.h.grad().defined());
  EXPECT_FALSE(c.w.grad().defined());
}

TEST(ChunkedLmLoss, Bf16MatchesTheWholeBf16LossWithinItsRounding) {
  // bf16 logits are rounded per element the same way in both; the head's gradient is summed
  // in fp32 over chunks instead of rounded once in bf16, so it agrees to bf16's precision.
  Case ref = make_case(torch::kBFloat16), c = make_case(torch::kBFloat16);
  auto whole = lm_loss_sum(mixed_linear(ref.h, ref.w), ref.targets);
  whole.backward();
  auto chunked = chunked_lm_loss_sum(c.h, c.w, c.targets, 5);
  chunked.backward();
  EXPECT_NEAR(chunked.item<double>(), whole.item<double>(), 1e-5 * whole.item<double>());
  EXPECT_EQ(c.h.grad().scalar_type(), torch::kBFloat16);
  EXPECT_EQ(c.w.grad().scalar_type(), torch::kFloat);
  EXPECT_LE(test::max_rel_diff(c.h.grad(), ref.h.grad()), 2 * 0.0078125);  // 2 ulps of bf16
  EXPECT_LE(test::max_rel_diff(c.w.grad(), ref.w.grad()), 2 * 0.0078125);
}
