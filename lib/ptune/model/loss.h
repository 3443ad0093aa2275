// Next-token cross-entropy over shifted targets (targets[b, t] is predicted at t), ignoring
// kIgnoreIndex (-100, the HF/PyTorch convention).
#pragma once

#include <torch/types.h>

namespace ptune {

// logits (B, T, V) fp32, targets (B, T) int64. lm_loss: mean over the targets that are not
// ignored (0 when there are none); lm_loss_sum: their sum.
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets);
torch::Tensor lm_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets);

// lm_loss_sum of the logits hidden @ weight^T, computed `rows` positions at a time so that
// the (B*T, V) fp32 logits and their gradient never exist at once (Llama-3's 128,256-token
// vocabulary: 2048 positions of fp32 logits are 1 GB). hidden (B, T, d) in the compute dtype,
// weight (V, d) the LM head (fp32 master or a frozen low-precision copy), targets (B, T).
// Each chunk's logits are recomputed in the backward; the head's gradient accumulates in
// fp32. The GEMMs follow mixed_linear's precision rule. Equal to
// lm_loss_sum(mixed_linear(hidden, weight), targets) up to summation order.
torch::Tensor chunked_lm_loss_sum(const torch::Tensor& hidden, const torch::Tensor& weight,
                                  const torch::Tensor& targets, int64_t rows);

// (B, T) bool: the argmax of logits (B, T, V) is the target, where the target is not ignored.
torch::Tensor correct_predictions(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace ptune
