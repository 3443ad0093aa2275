// Chunked causal attention with its hand-written backward against plain autograd attention
// (K/V repeated per query head, full masked softmax): outputs and q/k/v gradients, with GQA,
// visible past keys, several uneven chunks, and one undefined-mask decode step. fp32 against
// the fp32 reference; bf16 against the exact (fp64) result on the same bf16 inputs, with a
// bound from the format, so that it holds whatever bf16 kernels the CPU has.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "ptune/model/attention.h"
#include "ptune/model/projection.h"
#include "ptune/model/transformer.h"
#include "ptune/ops/causal_attention.h"
#include "ptune/ops/mixed_precision.h"

#include "tiny_run.h"

namespace ptune {
namespace {

// q (B, H, T, D), k/v (B, KV, n_past + T, D) -> (B, T, H*D)
torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t n_past) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), G = H / k.size(1);
  auto kr = k.repeat_interleave(G, 1), vr = v.repeat_interleave(G, 1);  // (B, H, K, D)
  auto scores = q.matmul(kr.transpose(-1, -2)) / std::sqrt(static_cast<double>(D));
  auto mask = causal_mask(T, n_past, q.scalar_type(), q.device());
  if (mask.defined()) scores = scores + mask;
  auto probs = q.scalar_type() == torch::kDouble
                   ? torch::softmax(scores, -1)
                   : torch::softmax(scores.to(torch::kFloat), -1).to(q.scalar_type());
  return probs.matmul(vr).transpose(1, 2).reshape({B, T, H * D});
}

struct Inputs {
  torch::Tensor q, k, v, r;  // q (B, H, T, D) as a (B, T, H, D) projection output; r (B, T, H*D)
};

Inputs make_inputs(int64_t T, int64_t n_past, torch::ScalarType dtype) {
  const int64_t B = 2, H = 4, KV = 2, D = 16;
  torch::manual_seed(T + n_past);
  Inputs in;
  in.q = torch::randn({B, T, H, D}).to(dtype).transpose(1, 2);
  in.k = torch::randn({B, KV, n_past + T, D}).to(dtype);
  in.v = torch::randn({B, KV, n_past + T, D}).to(dtype);
  in.r = torch::randn({B, T, H * D});
  return in;
}

// {out, dq, dk, dv} of sum(attention(q, k, v) * r), in `dtype` (the inputs' values cast to it).
std::vector<torch::Tensor> run(const Inputs& in, int64_t n_past, torch::ScalarType dtype,
                               bool chunked) {
  auto leaf = [&](const torch::Tensor& t) { return t.to(dtype).clone().requires_grad_(true); };
  auto q = leaf(in.q), k = leaf(in.k), v = leaf(in.v);
  auto mask = causal_mask(q.size(2), n_past, dtype, q.device());
  auto out = chunked ? causal_attention(q, k, v, mask, n_past) : reference(q, k, v, n_past);
  (out.to(torch::kDouble) * in.r.to(torch::kDouble)).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

const char* kNames[] = {"out", "dq", "dk", "dv"};

void check(int64_t T, int64_t n_past, torch::ScalarType dtype, double tol) {
  const Inputs in = make_inputs(T, n_past, dtype);
  auto got = run(in, n_past, dtype, true), want = run(in, n_past, dtype, false);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(got[i].sizes(), want[i].sizes()) << kNames[i];
    EXPECT_LE(test::max_rel_diff(got[i], want[i]), tol)
        << kNames[i] << " T=" << T << " n_past=" << n_past << " " << dtype;
  }
}

// ||a - b|| / ||b|| (Frobenius norms, fp64).
double normwise_error(const torch::Tensor& a, const torch::Tensor& b) {
  const auto bd = b.to(torch::kDouble);
  return (a.to(torch::kDouble) - bd).norm().item<double>() / bd.norm().item<double>();
}

// bf16 keeps 8 significant bits: a rounding is off by at most u = 2^-8 of the value rounded.
// ptune's GEMMs accumulate in fp32 (oneDNN's, or the fp32 GEMMs of the emulation), so each
// GEMM result carries one rounding, and the softmax and its gradient run in fp32. The output
// passes three roundings (scores, probabilities, output): normwise error <= 3u. A gradient
// passes four (the cast of dO, dP, dS, the result; dK/dV accumulate their chunks in one
// rounded step): <= 4u. Independent roundings add in quadrature, so about u is typical
// (measured 0.8-1.2u on both paths). A GEMM that accumulates in bf16, as ATen's scalar CPU
// loop does (plain autograd's bf16 on a CPU without native bf16), does not meet the bound
// (measured up to 4.3u on dV); the autograd numbers are printed for that comparison only.
void check_bf16_against_exact(int64_t T, int64_t n_past) {
  const double u = std::ldexp(1.0, -8);
  const double bound[] = {3 * u, 4 * u, 4 * u, 4 * u};
  const Inputs in = make_inputs(T, n_past, torch::kBFloat16);
  auto exact = run(in, n_past, torch::kDouble, false);
  auto got = run(in, n_past, torch::kBFloat16, true),
       ref = run(in, n_past, torch::kBFloat16, false);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(got[i].scalar_type(), torch::kBFloat16) << kNames[i];
    const double e_got = normwise_error(got[i], exact[i]), e_ref = normwise_error(ref[i], exact[i]);
    std::printf("bf16 %s T=%ld n_past=%ld: ptune %.5f, autograd %.5f, bound %.5f (%s)\n", kNames[i],
                static_cast<long>(T), static_cast<long>(n_past), e_got, e_ref, bound[i],
                emulates_gemm(got[i]) ? "emulated bf16 GEMMs" : "native bf16 GEMMs");
    EXPECT_LE(e_got, bound[i]) << kNames[i] << " T=" << T << " n_past=" << n_past;
  }
}

TEST(CausalAttention, MatchesAutogradReferenceInFp32) {
  check(/*T=*/200, /*n_past=*/0, torch::kFloat, 1e-5);  // 3 chunks of 67, 67, 66 rows
  check(/*T=*/130, /*n_past=*/5, torch::kFloat, 1e-5);  // 2 chunks after 5 visible keys
  check(/*T=*/20, /*n_past=*/3, torch::kFloat, 1e-5);   // one chunk
}

TEST(CausalAttention, Bf16WithinTheFormatsBoundOfTheExactResult) {
  check_bf16_against_exact(/*T=*/130, /*n_past=*/5);  // 2 chunks after 5 visible keys
  check_bf16_against_exact(/*T=*/20, /*n_past=*/3);   // one chunk
}

TEST(CausalAttention, DecodeStepWithoutMask) {
  const int64_t n_past = 7;
  torch::manual_seed(0);
  auto q = torch::randn({1, 4, 1, 16}), k = torch::randn({1, 2, n_past + 1, 16}),
       v = torch::randn({1, 2, n_past + 1, 16});
  torch::NoGradGuard no_grad;
  EXPECT_LE(test::max_rel_diff(causal_attention(q, k, v, torch::Tensor(), n_past),
                               reference(q, k, v, n_past)),
            1e-6);
}

}  // namespace
}  // namespace ptune
