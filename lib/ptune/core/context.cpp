// Run context, thread and device resolution (see context.h).
#include "ptune/core/context.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <cstdlib>
#include <thread>

#include "ptune/core/error.h"

namespace ptune {

RunContext RunContext::start(int threads, const std::string& device, uint64_t seed) {
  RunContext c;
  c.threads = apply_threads(threads);
  c.device = resolve_device(device);
  c.seed = seed;
  torch::manual_seed(seed);
  c.rng = at::detail::getDefaultCPUGenerator();  // a handle to the global one
  return c;
}

torch::Tensor RunContext::rng_state() const {
  return rng.get_state();
}

void RunContext::set_rng_state(const torch::Tensor& state) {
  rng.set_state(state);
}

int apply_threads(int requested) {
  int n = requested;
  if (n <= 0) {  // all cores, shared among the workers of this machine (torchrun's env)
    n = static_cast<int>(std::thread::hardware_concurrency());
    const char* local = std::getenv("LOCAL_WORLD_SIZE");
    const int workers = local ? std::atoi(local) : 1;
    if (workers > 1) n /= workers;
  }
  if (n <= 0) n = 1;
  at::set_num_threads(n);
  return n;
}

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda" || name == "auto") {
    if (torch::cuda::is_available()) return torch::kCUDA;
    if (name == "cuda") usage_error("device: cuda requested but no CUDA device is available");
    return torch::kCPU;
  }
  usage_error("device: unknown '{}'; expected cpu, cuda or auto", name);
}

}  // namespace ptune
