// Chunked causal attention with its hand-written backward against plain autograd attention
// (K/V repeated per query head, full masked softmax): outputs and q/k/v gradients, with GQA,
// visible past keys, several uneven chunks, fp32 and bf16, and one undefined-mask decode step.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "ptune/model/causal_attention.h"
#include "ptune/model/transformer.h"

#include "tiny_run.h"

namespace ptune {
namespace {

// q (B, H, T, D), k/v (B, KV, n_past + T, D) -> (B, T, H*D)
torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t n_past) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), G = H / k.size(1);
  auto kr = k.repeat_interleave(G, 1), vr = v.repeat_interleave(G, 1);  // (B, H, K, D)
  auto scores = q.matmul(kr.transpose(-1, -2)) / std::sqrt(static_cast<double>(D));
  auto mask = causal_mask(T, n_past, q.scalar_type(), q.device());
  if (mask.defined()) scores = scores + mask;
  auto probs = torch::softmax(scores.to(torch::kFloat), -1).to(q.scalar_type());
  return probs.matmul(vr).transpose(1, 2).reshape({B, T, H * D});
}

void check(int64_t T, int64_t n_past, torch::ScalarType dtype, double tol) {
  const int64_t B = 2, H = 4, KV = 2, D = 16;
  torch::manual_seed(T + n_past);
  // q as attention makes it: a (B, T, H, D) projection output seen as (B, H, T, D).
  auto q0 = torch::randn({B, T, H, D}).to(dtype).transpose(1, 2);
  auto k0 = torch::randn({B, KV, n_past + T, D}).to(dtype), v0 = torch::randn({B, KV, n_past + T, D}).to(dtype);
  auto r = torch::randn({B, T, H * D});
  auto run = [&](bool chunked) {
    auto q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
    auto mask = causal_mask(T, n_past, dtype, q.device());
    auto out = chunked ? causal_attention(q, k, v, mask, n_past) : reference(q, k, v, n_past);
    (out.to(torch::kFloat) * r).sum().backward();
    return std::vector<torch::Tensor>{out.detach(), q.grad(), k.grad(), v.grad()};
  };
  auto got = run(true), want = run(false);
  const char* names[] = {"out", "dq", "dk", "dv"};
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(got[i].sizes(), want[i].sizes()) << names[i];
    EXPECT_LE(test::max_rel_diff(got[i], want[i]), tol) << names[i] << " T=" << T << " n_past=" << n_past << " " << dtype;
  }
}

TEST(CausalAttention, MatchesAutogradReferenceInFp32) {
  check(/*T=*/200, /*n_past=*/0, torch::kFloat, 1e-5);  // 3 chunks of 67, 67, 66 rows
  check(/*T=*/130, /*n_past=*/5, torch::kFloat, 1e-5);  // 2 chunks after 5 visible keys
  check(/*T=*/20, /*n_past=*/3, torch::kFloat, 1e-5);   // one chunk
}

TEST(CausalAttention, MatchesAutogradReferenceInBf16) {
  check(/*T=*/130, /*n_past=*/5, torch::kBFloat16, 3e-2);
}

TEST(CausalAttention, DecodeStepWithoutMask) {
  const int64_t n_past = 7;
  torch::manual_seed(0);
  auto q = torch::randn({1, 4, 1, 16}), k = torch::randn({1, 2, n_past + 1, 16}), v = torch::randn({1, 2, n_past + 1, 16});
  torch::NoGradGuard no_grad;
  EXPECT_LE(test::max_rel_diff(causal_attention(q, k, v, torch::Tensor(), n_past), reference(q, k, v, n_past)), 1e-6);
}

}  // namespace
}  // namespace ptune
