// Build and machine description. The CUDA runtime version comes from ATen's CUDA hooks, which
// a CPU-only LibTorch does not register (its stub throws).
#include "ptune/core/build_info.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <spdlog/fmt/fmt.h>

#include <thread>

#include "ptune/core/blas.h"
#include "ptune/core/cpu.h"

namespace ptune {

std::string build_summary() {
  std::string cuda = "CPU only";
  try {
    const long v = at::detail::getCUDAHooks().versionCUDART();
    cuda = fmt::format("CUDA {}.{}", v / 1000, (v % 1000) / 10);
  } catch (const std::exception&) {
  }
  return fmt::format("LibTorch {}.{}.{}, {}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR,
                     TORCH_VERSION_PATCH, cuda);
}

std::string version_report() {
  const std::string blas = openblas_core();
  return fmt::format("ptune {}\nbuild: {}, C++{}\nmachine: {}, {} cores{}", PTUNE_VERSION,
                     build_summary(), __cplusplus / 100 % 100, cpu_summary(),
                     std::thread::hardware_concurrency(),
                     blas.empty() ? "" : ", OpenBLAS " + blas + " kernels");
}

}  // namespace ptune
