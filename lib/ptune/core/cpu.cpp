// CPU capability detection (CPUID leaves 1, 7.0, 7.1 and the brand string; XGETBV for the
// register state the OS saves: a flag whose registers the OS does not save is absent).
#include "ptune/core/cpu.h"

#include <ATen/Context.h>

#include <cstdlib>
#include <cstring>

#include "ptune/core/context.h"
#include "ptune/core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define PTUNE_X86 1
#endif

namespace ptune {

namespace {

bool forced_avx2_env() {
  const char* v = std::getenv("PTUNE_CPU");
  return v && std::strcmp(v, "avx2") == 0;
}

// PTUNE_CPU=avx2 must reach ATen and oneDNN before the first kernel runs, in every binary that
// links the library (ptune and the test executables alike): a static initializer does that.
// ATen reads ATEN_CPU_CAPABILITY when it dispatches its first kernel, after main() starts.
const bool kForcedAvx2 = [] {
  if (!forced_avx2_env()) return false;
  setenv("ATEN_CPU_CAPABILITY", "avx2", /*overwrite=*/0);
  at::globalContext().setUserEnabledMkldnn(false);
  return true;
}();

#ifdef PTUNE_X86
uint64_t xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

std::string brand_string() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000004u) return "unknown x86-64 CPU";
  char s[49] = {};
  for (unsigned i = 0; i < 3; ++i) {
    __get_cpuid(0x80000002u + i, &a, &b, &c, &d);
    std::memcpy(s + 16 * i, &a, 4), std::memcpy(s + 16 * i + 4, &b, 4);
    std::memcpy(s + 16 * i + 8, &c, 4), std::memcpy(s + 16 * i + 12, &d, 4);
  }
  std::string out(s);
  const auto first = out.find_first_not_of(' '), last = out.find_last_not_of(' ');
  return first == std::string::npos ? "unknown x86-64 CPU" : out.substr(first, last - first + 1);
}

CpuInfo detect() {
  CpuInfo c;
  c.model = brand_string();
  unsigned a = 0, b = 0, cx = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &cx, &d)) return c;
  const bool osxsave = cx & (1u << 27);
  const uint64_t x = osxsave ? xcr0() : 0;
  const bool ymm = (x & 0x6) == 0x6;            // SSE + AVX state
  const bool zmm = ymm && (x & 0xE0) == 0xE0;   // opmask + both halves of zmm0-31
  const bool tiles = (x & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  if (__get_cpuid_max(0, nullptr) < 7) return c;
  __cpuid_count(7, 0, a, b, cx, d);
  c.avx2 = ymm && (b & (1u << 5));
  c.avx512f = zmm && (b & (1u << 16));
  c.amx_bf16 = tiles && (d & (1u << 22));
  const unsigned max_sub = a;
  if (max_sub >= 1) {
    __cpuid_count(7, 1, a, b, cx, d);
    c.avx512_bf16 = c.avx512f && (a & (1u << 5));
  }
  return c;
}
#else
CpuInfo detect() {
  CpuInfo c;
  c.model = "non-x86 CPU";
  return c;
}
#endif

// ATen's choice of vectorised kernels, by its own rule (aten/src/ATen/native/DispatchStub.cpp,
// which it does not export): ATEN_CPU_CAPABILITY when set, else AVX-512 given VL, BW, DQ and
// FMA, else AVX2 given FMA.
std::string aten_kernels() {
  const char* env = std::getenv("ATEN_CPU_CAPABILITY");
  if (env &&
      (!std::strcmp(env, "avx512") || !std::strcmp(env, "avx2") || !std::strcmp(env, "default")))
    return env;
#ifdef PTUNE_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("fma")) {
    if (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq"))
      return "avx512";
    if (__builtin_cpu_supports("avx2")) return "avx2";
  }
#endif
  return "default";
}

}  // namespace

std::string CpuInfo::flags() const {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (on) out += (out.empty() ? "" : " ") + std::string(name);
  };
  add(avx2, "avx2");
  add(avx512f, "avx512f");
  add(avx512_bf16, "avx512_bf16");
  add(amx_bf16, "amx_bf16");
  return out.empty() ? "none of avx2/avx512" : out;
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = [] {
    const char* v = std::getenv("PTUNE_CPU");
    if (v && *v && std::strcmp(v, "avx2") != 0 && std::strcmp(v, "native") != 0)
      usage_error("PTUNE_CPU: expected avx2 or native, got '{}'", v);
    CpuInfo c = detect();
    if (kForcedAvx2) {
      c.forced_avx2 = true;
      c.avx512f = c.avx512_bf16 = c.amx_bf16 = false;
    }
    c.aten_kernels = aten_kernels();
    return c;
  }();
  return info;
}

std::string cpu_summary() {
  const CpuInfo& c = cpu_info();
  return fmt::format("{} [{}; bf16 {}; ATen {} kernels{}]", c.model, c.flags(),
                     c.native_bf16() ? "native" : "emulated with fp32 GEMMs", c.aten_kernels,
                     c.forced_avx2 ? "; PTUNE_CPU=avx2" : "");
}

DType auto_compute_dtype(const std::string& device) {
  // CUDA: bf16 (Ampere and newer compute it natively; LibTorch's CPU-only API cannot read
  // the device's compute capability, so older GPUs are not told apart).
  if (resolve_device(device).is_cuda()) return DType::kBf16;
  return cpu_info().native_bf16() ? DType::kBf16 : DType::kFp32;
}

}  // namespace ptune
