// The explicit run context: the device, the intra-op threads, and the seed with the random
// stream it starts. Ops (dropout, initialisation) draw from LibTorch's default generator, so
// the context holds that generator: seeded once here, its state saved into training
// checkpoints and restored from them.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace ptune {

struct RunContext {
  torch::Device device = torch::kCPU;
  int threads = 0;  // resolved thread count (> 0)
  uint64_t seed = 0;
  at::Generator rng;  // LibTorch's default CPU generator

  // Applies `threads` (0 = all cores), resolves `device` and seeds the generators
  // (torch::manual_seed: the CPU one and, when present, CUDA's).
  static RunContext start(int threads, const std::string& device, uint64_t seed);
  torch::Tensor rng_state() const;
  void set_rng_state(const torch::Tensor& state);
};

// Resolves `requested` (0 = all cores, shared evenly among LOCAL_WORLD_SIZE workers when
// torchrun or --nproc set it) and applies it to LibTorch's intra-op pool.
int apply_threads(int requested);

// Picks "cpu" | "cuda" | "auto" (cuda when available).
torch::Device resolve_device(const std::string& name);

}  // namespace ptune
