// The fused CPU RMSNorm (fp32 and bf16 activations) against the tensor-op definition (HF's):
// forward values and input/weight gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ptune/model/rms_norm.h"
#include "ptune/model/transformer.h"
#include "ptune/ops/rms_norm.h"

#include "tiny_run.h"

namespace ptune {
namespace {

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

TEST(RMSNormKernel, RMSNormMatchesTensorOpsInFp32) {
  torch::manual_seed(0);
  auto x = torch::randn({3, 5, 40}) * 3;  // dim not a multiple of 8: the tail loop too
  auto w = torch::rand({40}) + 0.5;
  auto r = torch::randn({3, 5, 40});
  auto fused = run([](auto& x, auto& w) { return rms_norm(x, w, 1e-5); }, x, w, r);
  auto ops = run([](auto& x, auto& w) { return rms_norm_ops(x, w, 1e-5); }, x, w, r);
  EXPECT_EQ(fused.y.scalar_type(), torch::kFloat);
  EXPECT_LE(test::max_rel_diff(fused.y, ops.y), 1e-6);
  EXPECT_LE(test::max_rel_diff(fused.dx, ops.dx), 1e-5);
  EXPECT_LE(test::max_rel_diff(fused.dw, ops.dw), 1e-5);
  EXPECT_EQ(fused.dw.scalar_type(), torch::kFloat);
}

// bf16 activations, fp32 master weight (mixed precision): the kernel rounds where the ops do
// (x * rstd and the product to bf16; the weight cast to bf16), so outputs are the same bf16
// values but where the variance's summation order moves a value across a rounding boundary.
TEST(RMSNormKernel, Bf16MatchesTensorOps) {
  torch::manual_seed(1);
  auto x = (torch::randn({4, 16, 72}) * 2).to(torch::kBFloat16);  // 72: the tail loop too
  auto w = torch::rand({72}) + 0.5;
  auto r = torch::randn({4, 16, 72});
  auto fused = run([](auto& x, auto& w) { return rms_norm(x, w, 1e-6); }, x, w, r);
  auto ops = run([](auto& x, auto& w) { return rms_norm_ops(x, w, 1e-6); }, x, w, r);
  ASSERT_EQ(fused.y.scalar_type(), torch::kBFloat16);
  ASSERT_EQ(fused.dx.scalar_type(), torch::kBFloat16);
  ASSERT_EQ(fused.dw.scalar_type(), torch::kFloat);
  const double same = fused.y.eq(ops.y).to(torch::kFloat).mean().item<double>();
  EXPECT_GE(same, 0.99) << "fraction of forward outputs equal to the tensor ops' bf16 values";
  EXPECT_LE(test::max_rel_diff(fused.y, ops.y), 1.0 / 128);  // at most one bf16 ulp
  EXPECT_LE(test::max_rel_diff(fused.dx, ops.dx), 2.0 / 128);
  // The ops round dw's per-element products and its sum to bf16; the kernel sums in fp32.
  EXPECT_LE(test::max_rel_diff(fused.dw, ops.dw), 2.0 / 128);
}

// A bf16 weight (a frozen bf16 base) with bf16 activations: gradient only for x, output bf16.
TEST(RMSNormKernel, Bf16WeightMatchesTensorOps) {
  torch::manual_seed(3);
  auto x = (torch::randn({2, 8, 64}) * 2).to(torch::kBFloat16);
  auto w = (torch::rand({64}) + 0.5).to(torch::kBFloat16);
  auto r = torch::randn({2, 8, 64});
  auto fused = run([](auto& x, auto& w) { return rms_norm(x, w, 1e-6); }, x, w, r);
  auto ops = run([](auto& x, auto& w) { return rms_norm_ops(x, w, 1e-6); }, x, w, r);
  EXPECT_LE(test::max_rel_diff(fused.y, ops.y), 1.0 / 128);
  EXPECT_LE(test::max_rel_diff(fused.dx, ops.dx), 2.0 / 128);
  ASSERT_EQ(fused.dw.scalar_type(), torch::kBFloat16);
  EXPECT_LE(test::max_rel_diff(fused.dw, ops.dw), 2.0 / 128);
}

TEST(RMSNormKernel, RMSNormOnlyComputesRequestedGradients) {
  torch::manual_seed(2);
  auto x = torch::randn({2, 8, 16}).requires_grad_(true);
  auto w = torch::ones({16});  // frozen, as under LoRA
  rms_norm(x, w, 1e-5).sum().backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

}  // namespace
}  // namespace ptune
