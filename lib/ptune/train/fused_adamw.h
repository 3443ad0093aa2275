// AdamW with LibTorch's exact update rule and state layout (so checkpoints and resume are
// unchanged), done in one pass over each fp32 CPU parameter instead of LibTorch's ten-odd
// tensor-wide passes (decay, two moment updates, sqrt, divide, addcdiv ...). The optimizer
// step is memory-bound: on a 110M-parameter model that is most of its time. Gradient
// clipping folds into the same pass (set_grad_multiplier) instead of rescaling every
// gradient first. Other parameters (CUDA, non-contiguous) take the tensor-op path.
#pragma once

#include <torch/optim/adamw.h>

namespace ptune {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  // clip_grad_norm_'s total norm of the gradients of `params` (returned) and its coefficient
  // max_norm / (norm + 1e-6), applied inside the next step() when below 1; the stored .grad
  // tensors are left as they are.
  double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  double grad_multiplier_ = 1.0;
};

}  // namespace ptune
