#include "ptune/core/blas.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace ptune {

std::string openblas_core() {
  using CoreName = const char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = fn ? fn() : nullptr;
  return name ? name : "";
}

std::string better_openblas_core(const std::string& detected) {
#if defined(__x86_64__) || defined(__i386__)
  std::string lower = detected;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // What OpenBLAS's dynamic dispatch returns for a CPU it does not know.
  const bool generic = lower == "prescott" || lower == "core2" || lower == "nehalem" ||
                       lower == "katmai" || lower == "unknown";
  if (!generic) return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
  if (__builtin_cpu_supports("avx2")) return "Haswell";
#else
  (void)detected;
#endif
  return "";
}

void reexec_with_fast_blas(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("PTUNE_KEEP_BLAS")) return;
  const std::string core = better_openblas_core(openblas_core());
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv("PTUNE_KEEP_BLAS", "1", 1);  // never loop, even if the new value were ignored
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // exec failed: carry on as we were
  unsetenv("PTUNE_KEEP_BLAS");
}

}  // namespace ptune
