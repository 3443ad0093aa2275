// Next-token cross-entropy over shifted targets (targets[b, t] is predicted at t), ignoring
// kIgnoreIndex (-100, the HF/PyTorch convention).
#pragma once

#include <torch/types.h>

namespace ptune {

// logits (B, T, V) fp32, targets (B, T) int64. lm_loss: mean over the targets that are not
// ignored (0 when there are none); lm_loss_sum: their sum.
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets);
torch::Tensor lm_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets);

// (B, T) bool: the argmax of logits (B, T, V) is the target, where the target is not ignored.
torch::Tensor correct_predictions(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace ptune
