// What this CPU computes natively, detected once from CPUID and the OS's XSAVE state, and the
// switch that makes any x86 machine run what an AVX2-only one runs:
//   PTUNE_CPU=avx2  ptune reports no AVX-512 and no native bf16 (so bf16 GEMMs are emulated
//                   with fp32 ones), ATen uses its AVX2 kernels (ATEN_CPU_CAPABILITY=avx2
//                   unless set) and oneDNN is off, so a bf16 GEMM that is not emulated runs
//                   ATen's scalar one, as it does on an AVX2-only CPU.
#pragma once

#include <string>

#include "ptune/core/dtype.h"

namespace ptune {

struct CpuInfo {
  std::string model;  // "AMD EPYC 7B13", "Intel(R) Xeon(R) Platinum 8480+"
  bool avx2 = false;
  bool avx512f = false;
  bool avx512_bf16 = false;  // vdpbf16ps: bf16 dot products at the fp32 FMA rate x2
  bool amx_bf16 = false;     // AMX tiles (Sapphire Rapids): bf16 GEMMs several times fp32's
  bool forced_avx2 = false;  // PTUNE_CPU=avx2: the flags above are masked to AVX2
  std::string aten_kernels;  // ATen's vectorised kernels in use: "avx512", "avx2", "default"

  // bf16 GEMMs at or above fp32 speed: AVX512_BF16 or AMX-BF16.
  bool native_bf16() const { return avx512_bf16 || amx_bf16; }
  std::string flags() const;  // "avx2 avx512f avx512_bf16 amx_bf16" (those present)
};

// Detected on first use; a PTUNE_CPU other than "avx2" or "native" is a usage error.
const CpuInfo& cpu_info();

// One line for logs and --version: "Intel(R) Xeon(R) Processor [avx2 avx512f avx512_bf16
// amx_bf16; bf16 native; ATen avx512 kernels]".
std::string cpu_summary();

// "bf16" where `device` ("cpu" | "cuda" | "auto", as train.device) computes bf16 natively (a
// CPU with native bf16; a CUDA device), "fp32" elsewhere: what precision.dtype auto means.
DType auto_compute_dtype(const std::string& device);

}  // namespace ptune
