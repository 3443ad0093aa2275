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

  // Each gradient is multiplied by `m` inside the next step() (the clip coefficient);
  // the stored .grad tensors are left as they are. Reset to 1 after the step.
  void set_grad_multiplier(double m) { grad_multiplier_ = m; }

  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  double grad_multiplier_ = 1.0;
};

}  // namespace ptune
