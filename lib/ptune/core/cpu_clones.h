// PTUNE_CPU_CLONES on a function: on x86-64 with GCC, the compiler builds it twice,
// for AVX2 and for the baseline (SSE2), and the loader picks one for the CPU (an ifunc). For
// hand-written loops over fp32/bf16 rows, which the baseline build cannot vectorise well
// (bf16 <-> fp32 conversions in particular: measured 2x on RMSNorm). Without FMA, so that both
// clones round alike: results do not depend on the CPU. Lambdas inside do not inherit it: put
// the loop in the attributed function itself. Clang (14) cannot clone function templates, so
// its builds (the sanitizer and fuzz builds) get the baseline loop.
#pragma once

#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones) && !defined(__APPLE__) && !defined(__clang__)
#define PTUNE_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef PTUNE_CPU_CLONES
#define PTUNE_CPU_CLONES
#endif
