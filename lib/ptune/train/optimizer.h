// AdamW (decoupled weight decay, Loshchilov & Hutter) over the trainable parameters, in two
// groups: decayed matrices, and undecayed norms/biases/embeddings (unless asked otherwise).
// The optimizer is a FusedAdamW (train/fused_adamw.h): LibTorch's AdamW in one pass.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>

#include "ptune/config/recipe.h"
#include "ptune/io/safetensors.h"

namespace ptune {

std::unique_ptr<torch::optim::AdamW> make_adamw(const OptimConfig& o, const NamedTensors& params);
void set_lr(torch::optim::Optimizer& opt, double lr);

}  // namespace ptune
