// Rough peak memory of a run, estimated from its configs before the model or a batch is
// allocated, and the one check every command makes with it: a run that cannot fit stops with
// "needs about X GB, this machine has Y GB" (exit 1) instead of std::bad_alloc or the OOM
// killer minutes in. The estimate counts the big terms only, so it errs low: a refusal is
// certain, a pass is not a promise.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "ptune/config/recipe.h"

namespace ptune {

// Bytes, in double so that absurd sizes do not wrap around.
struct MemoryNeeds {
  double weights = 0;      // every parameter as built (fp32) + RoPE tables
  double optimizer = 0;    // gradients and AdamW moments of the trainable parameters
  double activations = 0;  // one micro-batch's forward (and backward), logits included
  double cache = 0;        // generate: K/V of every position
  double data = 0;         // token batches held at once
  double total() const { return weights + optimizer + activations + cache + data; }
};

// Parameters of the model with a method and MTP heads attached, and how many are trained
// (counted from the configs, as lora.cpp, adapter.cpp, prefix.cpp and mtp/heads.cpp build them).
struct ParamCount {
  double total = 0, trainable = 0;
};
ParamCount count_training_params(const ModelConfig& c, const MethodConfig& m, const MtpConfig& mtp);

// Training (train, bench): micro-batches of `batch` x `seq` tokens, `grad_accum` of them held per
// step, computed in `dtype` (fp32 | bf16 | fp16), the LM loss `loss_chunk` positions at a time
// (0 = all at once), every `checkpoint_every`-th trunk block recomputed in the backward (0 = none).
MemoryNeeds training_memory(const ModelConfig& c, const MethodConfig& m, const MtpConfig& mtp,
                            int64_t batch, int64_t seq, int64_t grad_accum, DType dtype,
                            int64_t loss_chunk = 0, int64_t checkpoint_every = 0);

// Inference in fp32 (eval, generate): a forward of `batch` x `seq` tokens without gradients, and a
// K/V cache of `cache_positions`; both 0 = the weights alone.
MemoryNeeds inference_memory(const ModelConfig& c, int64_t batch = 0, int64_t seq = 0,
                             int64_t cache_positions = 0);

// "needs about X GB, this machine has Y GB (weights ..., ...)" when `needs` exceeds
// `available` bytes, else "".
std::string memory_problem(const MemoryNeeds& needs, double available);

// Physical RAM in bytes (sysconf).
double machine_memory_bytes();

// Throws a Runtime error "<what>: needs about X GB, this machine has Y GB (...); <hint>" when
// `needs` exceeds the machine's RAM. On CUDA only the weights are checked against RAM (the model
// is built there before it moves); LibTorch's CPU builds cannot query device memory.
void check_memory(const MemoryNeeds& needs, torch::Device device, const std::string& what,
                  const std::string& hint);

}  // namespace ptune
