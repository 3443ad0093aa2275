// Activation checkpointing of one decoder block (Chen et al. 2016, "Training Deep Nets with
// Sublinear Memory Cost"; PyTorch's torch.utils.checkpoint in its reentrant form): the
// forward keeps only the block's input; the backward runs the block again with autograd on
// and backpropagates through that. The device's generator state is restored for the recompute,
// so dropout draws the same masks: gradients equal those of the plain block.
#pragma once

#include <torch/types.h>

#include "ptune/model/block.h"
#include "ptune/model/kv_cache.h"

namespace ptune {

// block(x, cos, sin, prefix, doc_start) with its activations recomputed in the backward.
// prefix: keys/values before the new tokens (prefix tuning), or null; it is not appended to.
torch::Tensor checkpointed_block(Block& block, const torch::Tensor& x, const torch::Tensor& cos,
                                 const torch::Tensor& sin, const LayerKV* prefix,
                                 const torch::Tensor& doc_start);

}  // namespace ptune
