// The explicit run context: device, threads and seed travel here, never as globals.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace ptune {

struct RunContext {
  torch::Device device = torch::kCPU;
  int threads = 0;  // resolved thread count (> 0 after apply())
  uint64_t seed = 0;
};

// Resolves `requested` (0 = all cores) and applies it to LibTorch's intra-op pool.
int apply_threads(int requested);

// Picks "cpu" | "cuda" | "auto" (cuda when available).
torch::Device resolve_device(const std::string& name);

}  // namespace ptune
