// The fused CPU RMSNorm and RoPE against the tensor-op definitions (HF's): forward values and
// input/weight gradients, in fp32 and bf16, for contiguous and transposed (B, T, H, D) inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ptune/model/fused_ops.h"
#include "ptune/model/transformer.h"

#include "tiny_run.h"

namespace ptune {
namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

// Largest |a - b| relative to max |b|.
double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return max_diff(a, b) / b.to(torch::kFloat).abs().max().item<double>();
}

struct Grads {
  torch::Tensor y, dx, dw;
};

// y = f(x, w); backward of sum(y * r) for a fixed random r.
template <class F>
Grads run(F&& f, const torch::Tensor& x0, const torch::Tensor& w0, const torch::Tensor& r) {
  auto x = x0.clone().requires_grad_(true);
  auto w = w0.defined() ? w0.clone().requires_grad_(true) : w0;
  auto y = f(x, w);
  (y.to(torch::kFloat) * r).sum().backward();
  return {y.detach(), x.grad(), w.defined() ? w.grad() : torch::Tensor()};
}

TEST(FusedOps, RMSNormMatchesTensorOpsInFp32) {
  torch::manual_seed(0);
  auto x = torch::randn({3, 5, 40}) * 3;  // dim not a multiple of 8: the tail loop too
  auto w = torch::rand({40}) + 0.5;
  auto r = torch::randn({3, 5, 40});
  auto fused = run([](auto& x, auto& w) { return rms_norm(x, w, 1e-5); }, x, w, r);
  auto ops = run([](auto& x, auto& w) { return rms_norm_ops(x, w, 1e-5); }, x, w, r);
  EXPECT_EQ(fused.y.scalar_type(), torch::kFloat);
  EXPECT_LE(rel_diff(fused.y, ops.y), 1e-6);
  EXPECT_LE(rel_diff(fused.dx, ops.dx), 1e-5);
  EXPECT_LE(rel_diff(fused.dw, ops.dw), 1e-5);
  EXPECT_EQ(fused.dw.scalar_type(), torch::kFloat);
}

TEST(FusedOps, RMSNormMatchesTensorOpsInBf16WithFp32MasterWeight) {
  torch::manual_seed(1);
  auto x = (torch::randn({4, 16, 64}) * 2).to(torch::kBFloat16);
  auto w = torch::rand({64}) + 0.5;  // fp32 master weight, cast to bf16 by both paths
  auto r = torch::randn({4, 16, 64});
  auto fused = run([](auto& x, auto& w) { return rms_norm(x, w, 1e-6); }, x, w, r);
  auto ops = run([](auto& x, auto& w) { return rms_norm_ops(x, w, 1e-6); }, x, w, r);
  EXPECT_EQ(fused.y.scalar_type(), torch::kBFloat16);
  // Same roundings; only the variance's summation order differs (one bf16 step at most).
  EXPECT_LE(rel_diff(fused.y, ops.y), 1e-2);
  EXPECT_GT(fused.y.eq(ops.y).to(torch::kFloat).mean().item<double>(), 0.99);
  // The tensor ops round every backward intermediate to bf16; the fused one rounds once.
  EXPECT_LE(rel_diff(fused.dx, ops.dx), 3e-2);
  EXPECT_LE(rel_diff(fused.dw, ops.dw), 3e-2);
  EXPECT_EQ(fused.dw.scalar_type(), torch::kFloat);
}

TEST(FusedOps, RMSNormOnlyComputesRequestedGradients) {
  torch::manual_seed(2);
  auto x = torch::randn({2, 8, 16}).requires_grad_(true);
  auto w = torch::ones({16});  // frozen, as under LoRA
  rms_norm(x, w, 1e-5).sum().backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(FusedOps, RopeMatchesTensorOpsForTransposedAndContiguousInputs) {
  ModelConfig c = test::tiny_model_config(64);
  auto [cos_all, sin_all] = rope_tables(c, 32);
  const int64_t B = 2, H = 3, T = 7, D = cos_all.size(1);
  auto cos = cos_all.narrow(0, 5, T), sin = sin_all.narrow(0, 5, T);  // positions 5..11
  torch::manual_seed(3);
  auto r = torch::randn({B, H, T, D});
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    auto cd = cos.to(dtype), sd = sin.to(dtype);
    // As attention makes q: a (B, T, H, D) projection output seen as (B, H, T, D).
    auto transposed = torch::randn({B, T, H, D}).to(dtype).transpose(1, 2);
    auto contiguous = torch::randn({B, H, T, D}).to(dtype);
    for (const auto& x : {transposed, contiguous}) {
      auto rope = [&](auto& x, auto&) { return apply_rope(x, cd, sd); };
      auto ops_rope = [&](auto& x, auto&) { return rope_ops(x, cd, sd); };
      auto fused = run(rope, x, torch::Tensor(), r);
      auto ops = run(ops_rope, x, torch::Tensor(), r);
      EXPECT_TRUE(fused.y.equal(ops.y)) << dtype;  // the same roundings in the same order
      EXPECT_EQ(fused.y.strides(), x.strides()) << "keeps the input's memory layout";
      EXPECT_LE(rel_diff(fused.dx, ops.dx), dtype == torch::kFloat ? 1e-6 : 1e-2) << dtype;
    }
  }
}

}  // namespace
}  // namespace ptune
