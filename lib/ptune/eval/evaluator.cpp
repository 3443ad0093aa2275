// Streaming evaluation: one batch of logits at a time, reduced to per-example sums.
#include "ptune/eval/evaluator.h"

#include <fmt/format.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <cmath>

#include "ptune/core/progress.h"
#include "ptune/model/loss.h"

namespace ptune {

namespace {

EvalResult finish(double nll, int64_t correct, int64_t tokens, int64_t examples) {
  EvalResult r;
  r.tokens = tokens;
  r.examples = examples;
  r.loss = tokens > 0 ? nll / tokens : 0.0;
  r.perplexity = std::exp(r.loss);
  r.accuracy = tokens > 0 ? static_cast<double>(correct) / tokens : 0.0;
  return r;
}

}  // namespace

EvalResult evaluate_logits(const LogitsFn& logits_fn, const Dataset& data, int64_t pad_id,
                           const EvalOptions& o) {
  torch::NoGradGuard no_grad;
  double nll_total = 0.0;
  int64_t correct_total = 0, tokens_total = 0, examples = 0;
  const int64_t batches = (static_cast<int64_t>(data.size()) + o.batch_size - 1) / o.batch_size;
  ProgressLine progress("eval batch",
                        o.max_batches > 0 ? std::min(batches, o.max_batches) : batches);
  int64_t batch = 0;
  for_each_batch_in_order(data, o.batch_size, pad_id, o.max_batches, [&](Batch& global) {
    std::optional<Batch> share = rank_share(std::move(global), o.rank, o.world);
    if (!share) return;  // fewer rows than ranks: none for this one
    Batch& b = *share;
    torch::Tensor logits = logits_fn(b.input_ids, b.positions);  // (B, T, V) fp32
    const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
    torch::Tensor targets = b.targets.to(logits.device());  // (B, T)
    torch::Tensor mask = targets.ne(kIgnoreIndex);          // (B, T)
    torch::Tensor safe_targets = targets.clamp_min(0);      // (B, T)
    torch::Tensor nll =
        torch::nn::functional::cross_entropy(
            logits.reshape({B * T, V}), safe_targets.reshape({B * T}),
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
            .reshape({B, T}) *
        mask;                                                     // (B, T)
    torch::Tensor hit = correct_predictions(logits, targets);     // (B, T)
    torch::Tensor nll_ex = nll.to(torch::kFloat64).sum(1).cpu();  // (B)
    torch::Tensor hit_ex = hit.sum(1).cpu();                      // (B)
    torch::Tensor cnt_ex = mask.sum(1).cpu();                     // (B)
    for (int64_t i = 0; i < B; ++i) {
      const double n = nll_ex[i].item<double>();
      const int64_t h = hit_ex[i].item<int64_t>(), c = cnt_ex[i].item<int64_t>();
      nll_total += n;
      correct_total += h;
      tokens_total += c;
      if (o.per_example) o.per_example(examples, finish(n, h, c, 1));
      ++examples;
    }
    progress.update(++batch,
                    fmt::format("loss {:.4f}", tokens_total > 0 ? nll_total / tokens_total : 0.0));
  });
  if (o.reduce) {
    std::vector<double> totals{nll_total, static_cast<double>(correct_total),
                               static_cast<double>(tokens_total), static_cast<double>(examples)};
    o.reduce(totals);
    nll_total = totals[0];
    correct_total = static_cast<int64_t>(totals[1]);
    tokens_total = static_cast<int64_t>(totals[2]);
    examples = static_cast<int64_t>(totals[3]);
  }
  return finish(nll_total, correct_total, tokens_total, examples);
}

EvalResult evaluate(Transformer& model, const Dataset& data, int64_t pad_id, const EvalOptions& o) {
  const torch::Device device = model->head_weight().device();
  auto logits = [&](const torch::Tensor& ids, const torch::Tensor& positions) {
    ForwardArgs args;
    if (positions.defined()) args.positions = positions.to(device);
    return model->forward(ids.to(device), args);
  };
  return evaluate_logits(logits, data, pad_id, o);
}

}  // namespace ptune
