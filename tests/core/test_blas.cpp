// OpenBLAS kernel selection (core/blas.h).
#include <gtest/gtest.h>

#include "ptune/core/blas.h"

namespace ptune {
namespace {

TEST(Blas, LinksOpenBlas) {
  // setup.sh installs libopenblas0-openmp; without it GEMMs run on the reference BLAS.
  EXPECT_FALSE(openblas_core().empty()) << "libblas.so.3 is not OpenBLAS";
}

TEST(Blas, ReplacesOnlyGenericFallbackCores) {
  if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "no AVX2 on this CPU";
  const std::string expected = __builtin_cpu_supports("avx512f") ? "SkylakeX" : "Haswell";
  EXPECT_EQ(better_openblas_core("Prescott"), expected);
  EXPECT_EQ(better_openblas_core("prescott"), expected);
  EXPECT_EQ(better_openblas_core("Haswell"), "");  // a recognised core stands
  EXPECT_EQ(better_openblas_core("SkylakeX"), "");
  EXPECT_EQ(better_openblas_core("Zen"), "");
  EXPECT_EQ(better_openblas_core(""), "");  // not OpenBLAS
}

}  // namespace
}  // namespace ptune
