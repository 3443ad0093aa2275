// LibTorch's CPU autocast state (thread-local), behind one set of names for every LibTorch
// version: 2.4 replaced the per-device functions (is_cpu_enabled, ...) with ones that take the
// device type, and later releases removed the old names. ptune's training casts explicitly;
// autocast is only `ptune bench --autocast`, a comparison.
#pragma once

#include <c10/core/ScalarType.h>

namespace ptune {

bool cpu_autocast_enabled();
c10::ScalarType cpu_autocast_dtype();
void set_cpu_autocast(bool enabled, c10::ScalarType dtype);

}  // namespace ptune
