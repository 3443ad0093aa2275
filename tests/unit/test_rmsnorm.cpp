// The fused fp32 CPU RMSNorm against the tensor-op definition (HF's): forward values and
// input/weight gradients; bf16 takes the tensor ops.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ptune/model/transformer.h"

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

TEST(RMSNormKernel, Bf16TakesTheTensorOps) {
  torch::manual_seed(1);
  auto x = (torch::randn({4, 16, 64}) * 2).to(torch::kBFloat16);
  auto w = torch::rand({64}) + 0.5;  // fp32 master weight
  EXPECT_TRUE(rms_norm(x, w, 1e-6).equal(rms_norm_ops(x, w, 1e-6)));
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
