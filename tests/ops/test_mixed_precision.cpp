// Precision-rule linear (lib/ptune/ops/mixed_precision.h) with a frozen weight stored in another
// dtype than the activations: the same output and input gradient as autograd through the cast,
// through the op that keeps the stored weight instead of a cast copy.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ptune/ops/mixed_precision.h"
#include "tiny_run.h"

using namespace ptune;

namespace {

// (output, dx, grad_fn name) of y = x @ w^T with w frozen, loss sum(y * r).
struct Result {
  torch::Tensor y, dx;
  std::string node;
};

Result run(const torch::Tensor& x0, const torch::Tensor& w, const torch::Tensor& r, bool reference) {
  auto x = x0.clone().requires_grad_();
  auto y = reference ? torch::matmul(x, w.to(x.scalar_type()).t()) : mixed_linear(x, w);
  (y.to(torch::kFloat) * r).sum().backward();
  // The node that made y, past the reshape back to (..., out).
  auto node = y.grad_fn();
  if (node->name().rfind("View", 0) == 0) node = node->next_edges()[0].function;
  return {y.detach(), x.grad(), node->name()};
}

}  // namespace

TEST(FrozenCastLinear, Bf16BaseUnderFp32ActivationsMatchesAutogradThroughTheCast) {
  torch::manual_seed(1);
  auto w = torch::randn({24, 16}).to(torch::kBFloat16);  // frozen (no grad)
  auto x = torch::randn({2, 5, 16});
  auto r = torch::randn({2, 5, 24});
  const Result got = run(x, w, r, false), want = run(x, w, r, true);
  EXPECT_NE(got.node.find("FrozenCastLinear"), std::string::npos) << got.node;
  EXPECT_TRUE(got.y.equal(want.y));  // the same cast and GEMM: identical
  EXPECT_TRUE(got.dx.equal(want.dx));
  EXPECT_EQ(got.dx.scalar_type(), torch::kFloat);
}

TEST(FrozenCastLinear, Fp32BaseUnderBf16ActivationsKeepsTheRules) {
  torch::manual_seed(2);
  auto w = torch::randn({24, 16});
  auto x = torch::randn({10, 16}).to(torch::kBFloat16);
  auto r = torch::randn({10, 24});
  const Result got = run(x, w, r, false);
  EXPECT_NE(got.node.find("FrozenCastLinear"), std::string::npos) << got.node;
  EXPECT_EQ(got.y.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(got.dx.scalar_type(), torch::kBFloat16);
  // Against fp64 on the bf16-rounded operands: within a few bf16 roundings (u = 2^-8), whether
  // the GEMM is native or emulated on this CPU.
  auto wl = w.to(torch::kBFloat16).to(torch::kDouble), xl = x.to(torch::kDouble);
  EXPECT_LE(test::max_rel_diff(got.y, torch::mm(xl, wl.t())), 4.0 / 256);
  EXPECT_LE(test::max_rel_diff(got.dx, torch::mm(r.to(torch::kBFloat16).to(torch::kDouble), wl)),
            4.0 / 256);
}

TEST(FrozenCastLinear, TrainableOrSameDtypeWeightsTakeThePlainPath) {
  auto x = torch::randn({3, 8}).requires_grad_();
  auto trainable = torch::randn({4, 8}).to(torch::kBFloat16).requires_grad_();
  EXPECT_EQ(mixed_linear(x, trainable).grad_fn()->name().find("FrozenCastLinear"),
            std::string::npos);
  auto same = torch::randn({4, 8});
  EXPECT_EQ(mixed_linear(x, same).grad_fn()->name().find("FrozenCastLinear"), std::string::npos);
}
