// AdamW (decoupled weight decay, Loshchilov & Hutter) over the trainable parameters, in two
// groups: decayed matrices, and undecayed norms/biases/embeddings (unless asked otherwise).
// The optimizer is a FusedAdamW (train/fused_adamw.h): LibTorch's AdamW in one pass.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <vector>

#include "ptune/config/recipe.h"
#include "ptune/io/safetensors.h"
#include "ptune/precision/loss_scaler.h"
#include "ptune/train/fused_adamw.h"

namespace ptune {

std::unique_ptr<FusedAdamW> make_adamw(const OptimConfig& o, const NamedTensors& params);
void set_lr(torch::optim::Optimizer& opt, double lr);

struct StepOutcome {
  bool skipped = false;    // fp16 overflow: optimizer.step() was not called
  double grad_norm = 0.0;  // total norm of the (unscaled) gradients before clipping; 0 if skipped
};

// The end of an optimizer step, once all grad_accum micro-batches are back-propagated:
// with a scaler, unscale and check all gradients once; then clip (grad_clip > 0; otherwise
// only measure the norm) and step, or skip on inf/NaN; then update the scaler.
StepOutcome clip_and_step(FusedAdamW& opt, const std::vector<torch::Tensor>& params,
                          double grad_clip, LossScaler* scaler);

}  // namespace ptune
