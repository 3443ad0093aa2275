// The model on every rank must be the same model: at the start of a distributed run every
// tensor (trainable or frozen, MTP heads included) is fingerprinted and compared with rank 0's,
// and the trainable ones are then broadcast from rank 0, as DDP does.
#pragma once

#include "ptune/dist/process_group.h"
#include "ptune/io/safetensors.h"

namespace ptune {

// An error naming the first tensor whose bytes differ between ranks, and the ranks.
void check_replicas(DistGroup& g, const NamedTensors& tensors);

// Rank 0's values into `tensors` on every rank (fp32 on the wire: Gloo has no bf16).
void broadcast_from_rank0(DistGroup& g, NamedTensors& tensors);

// A 64-bit fingerprint of a tensor's dtype, shape and bytes.
int64_t fingerprint(const torch::Tensor& t);

}  // namespace ptune
