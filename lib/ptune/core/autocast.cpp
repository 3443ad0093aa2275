#include "ptune/core/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace ptune {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool cpu_autocast_enabled() {
  return at::autocast::is_autocast_enabled(at::kCPU);
}
c10::ScalarType cpu_autocast_dtype() {
  return at::autocast::get_autocast_dtype(at::kCPU);
}
void set_cpu_autocast(bool enabled, c10::ScalarType dtype) {
  at::autocast::set_autocast_enabled(at::kCPU, enabled);
  at::autocast::set_autocast_dtype(at::kCPU, dtype);
}
#else
bool cpu_autocast_enabled() {
  return at::autocast::is_cpu_enabled();
}
c10::ScalarType cpu_autocast_dtype() {
  return at::autocast::get_autocast_cpu_dtype();
}
void set_cpu_autocast(bool enabled, c10::ScalarType dtype) {
  at::autocast::set_cpu_enabled(enabled);
  at::autocast::set_autocast_cpu_dtype(dtype);
}
#endif

}  // namespace ptune
