// What ptune was built against and what it runs on, for `ptune --version` and bug reports.
#pragma once

#include <string>

namespace ptune {

// "LibTorch 1.13.0, CPU only" or "LibTorch 2.5.1, CUDA 12.4".
std::string build_summary();

// Three lines: "ptune <version>", "build: ...", "machine: <cpu_summary()>, N cores[, BLAS]".
std::string version_report();

}  // namespace ptune
