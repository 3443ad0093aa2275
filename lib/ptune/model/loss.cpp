// Next-token cross-entropy over shifted targets, ignore index -100 (HF/PyTorch convention).
#include <torch/torch.h>

#include "ptune/model/transformer.h"

namespace ptune {

torch::Tensor lm_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets) {
  // logits (B, T, V), targets (B, T) -> scalar fp32
  namespace F = torch::nn::functional;
  const int64_t V = logits.size(-1);
  return F::cross_entropy(logits.to(torch::kFloat).reshape({-1, V}), targets.reshape({-1}),
                          F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
}

torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  // Divide by max(count, 1): no targets gives 0, not NaN; no host sync.
  auto count = targets.ne(-100).sum().clamp_min(1).to(torch::kFloat);
  return lm_loss_sum(logits, targets) / count;
}

}  // namespace ptune
