// OpenBLAS kernel selection. OpenBLAS 0.3.21 (Debian 12) does not recognise newer x86 cores
// (Sapphire Rapids, Zen 4) and falls back to its SSE3 "Prescott" kernels, ~3x slower than the
// AVX-512 ones for the fp32 GEMMs that dominate training. The kernels are chosen once, when
// the library loads, from OPENBLAS_CORETYPE; so the choice has to be made before the process
// starts: ptune re-executes itself once with the right value.
#pragma once

#include <string>

namespace ptune {

// The OpenBLAS core in use ("SkylakeX", "Haswell", ...); empty when the BLAS is not OpenBLAS.
std::string openblas_core();

// The core ptune would choose for this CPU when OpenBLAS fell back to a generic one: SkylakeX
// on AVX-512 CPUs, Haswell on AVX2 ones; empty when OpenBLAS's own choice should stand.
std::string better_openblas_core(const std::string& detected);

// When OPENBLAS_CORETYPE is unset (an explicit setting always wins; PTUNE_KEEP_BLAS=1 opts
// out) and OpenBLAS fell back to generic kernels, sets OPENBLAS_CORETYPE and re-executes the
// running binary with the same arguments. Returns only when nothing needs to change or the
// re-exec failed (then the run goes on with the slow kernels).
void reexec_with_fast_blas(char** argv);

}  // namespace ptune
