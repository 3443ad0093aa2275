// Thread and device resolution.
#include "ptune/core/context.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <thread>

#include "ptune/core/error.h"

namespace ptune {

int apply_threads(int requested) {
  int n = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
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
