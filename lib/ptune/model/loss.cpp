// Next-token cross-entropy (see loss.h).
#include "ptune/model/loss.h"

#include <torch/torch.h>

#include "ptune/data/batch.h"

namespace ptune {

torch::Tensor lm_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets) {
  // logits (B, T, V), targets (B, T) -> scalar fp32
  namespace F = torch::nn::functional;
  const int64_t V = logits.size(-1);
  return F::cross_entropy(
      logits.to(torch::kFloat).reshape({-1, V}), targets.reshape({-1}),
      F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex).reduction(torch::kSum));
}

torch::Tensor correct_predictions(const torch::Tensor& logits, const torch::Tensor& targets) {
  return logits.argmax(-1).eq(targets).logical_and(targets.ne(kIgnoreIndex));
}

torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  // Divide by max(count, 1): no targets gives 0, not NaN; no host sync.
  auto count = targets.ne(kIgnoreIndex).sum().clamp_min(1).to(torch::kFloat);
  return lm_loss_sum(logits, targets) / count;
}

}  // namespace ptune
