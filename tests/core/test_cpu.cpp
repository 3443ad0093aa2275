// CPU capabilities against the kernel's view of the CPU (/proc/cpuinfo), precision.dtype
// auto, and the emulated low-precision GEMM: fp32 products of the bf16/fp16 values, rounded
// once, forward and backward.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>
#include <sstream>

#include "ptune/config/recipe_loader.h"
#include "ptune/core/cpu.h"
#include "ptune/model/projection.h"
#include "ptune/ops/mixed_precision.h"

namespace ptune {
namespace {

std::set<std::string> proc_cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> out;
    for (std::string w; words >> w;) out.insert(w);
    return out;
  }
  return {};
}

TEST(Cpu, FlagsMatchTheKernelsView) {
  const auto flags = proc_cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  const CpuInfo& c = cpu_info();
  std::printf("cpu: %s\n", cpu_summary().c_str());
  EXPECT_FALSE(c.model.empty());
  EXPECT_EQ(c.avx2, flags.count("avx2") == 1);
  if (c.forced_avx2) {  // PTUNE_CPU=avx2: everything above AVX2 is masked
    EXPECT_FALSE(c.avx512f || c.avx512_bf16 || c.amx_bf16 || c.native_bf16());
    return;
  }
  EXPECT_EQ(c.avx512f, flags.count("avx512f") == 1);
  EXPECT_EQ(c.avx512_bf16, flags.count("avx512_bf16") == 1);
  EXPECT_EQ(c.amx_bf16, flags.count("amx_bf16") == 1);
  EXPECT_EQ(c.native_bf16(), flags.count("avx512_bf16") == 1 || flags.count("amx_bf16") == 1);
}

TEST(Cpu, AutoDtypeIsBf16ExactlyWhereItIsNative) {
  const DType want = cpu_info().native_bf16() ? DType::kBf16 : DType::kFp32;
  EXPECT_EQ(auto_compute_dtype("cpu"), want);
  const std::string yaml =
      "model: {path: out/base/final}\ntokenizer: {path: tok.model}\n"
      "data: {train: {path: x.txt}}\n"
      "precision: {dtype: auto}\n";
  Recipe r = load_recipe_text(yaml, "r.yaml");
  EXPECT_EQ(r.precision.dtype, want);
  EXPECT_TRUE(r.precision.dtype_was_auto);
  EXPECT_FALSE(load_recipe_text(yaml, "r.yaml", {"precision.dtype=fp32"}).precision.dtype_was_auto);
}

TEST(Cpu, EmulationIsForFp16OnCpuAndBf16WithoutNativeBf16) {
  EXPECT_TRUE(emulates_gemm(torch::zeros({1}, torch::kHalf)));
  EXPECT_FALSE(emulates_gemm(torch::zeros({1}, torch::kFloat)));
  EXPECT_EQ(emulates_gemm(torch::zeros({1}, torch::kBFloat16)), !cpu_info().native_bf16());
}

// The emulated GEMM's values are those of an fp32 GEMM on the rounded inputs, rounded once;
// its gradients likewise, and the fp32 master weight receives the rounded weight gradient.
void check_emulated_linear(torch::ScalarType dtype) {
  torch::manual_seed(3);
  auto x = torch::randn({2, 5, 48}).to(dtype).requires_grad_(true);
  auto w = torch::randn({40, 48}).requires_grad_(true);  // fp32 master
  auto y = mixed_linear(x, w);
  ASSERT_EQ(y.scalar_type(), dtype);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 40}));
  const auto g = torch::randn({2, 5, 40}).to(dtype);
  y.backward(g);
  const auto xf = x.detach().reshape({10, 48}).to(torch::kFloat);
  const auto wf = w.detach().to(dtype).to(torch::kFloat);
  const auto gf = g.reshape({10, 40}).to(torch::kFloat);
  EXPECT_TRUE(torch::equal(y.detach().reshape({10, 40}), torch::mm(xf, wf.t()).to(dtype)));
  EXPECT_TRUE(torch::equal(x.grad().reshape({10, 48}), torch::mm(gf, wf).to(dtype)));
  ASSERT_EQ(w.grad().scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(w.grad(), torch::mm(gf.t(), xf).to(dtype).to(torch::kFloat)));
}

TEST(EmulatedGemm, Fp16LinearIsOneRoundedFp32Gemm) {
  check_emulated_linear(torch::kHalf);
}

TEST(EmulatedGemm, Bf16LinearIsOneRoundedFp32Gemm) {
  if (!emulates_gemm(torch::zeros({1}, torch::kBFloat16)))
    GTEST_SKIP() << "bf16 is native on this CPU (" << cpu_summary()
                 << "); PTUNE_CPU=avx2 runs this test on the emulated path";
  check_emulated_linear(torch::kBFloat16);
}

}  // namespace
}  // namespace ptune
