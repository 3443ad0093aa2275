// Tiled causal attention (online softmax, recomputing backward) against plain autograd
// attention that materialises the masked (T, K) softmax, with K/V repeated per query head:
// outputs and q/k/v gradients, with GQA, visible past keys spanning key tiles, several query
// and key tiles, packed documents, and decode steps. fp32 against the fp32 reference; bf16
// and fp16 against the exact (fp64) result on the same inputs, with a bound from the format,
// so that it holds whatever kernels the CPU has.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "ptune/ops/causal_attention.h"
#include "ptune/ops/mixed_precision.h"

#include "tiny_run.h"

namespace ptune {
namespace {

// visible (B, T, K): key s is seen by new query t (CausalMask's rule, written out).
torch::Tensor visible(int64_t B, int64_t T, int64_t n_past, const torch::Tensor& doc_start) {
  auto t = torch::arange(T).view({1, T, 1});
  auto s = torch::arange(n_past + T).view({1, 1, n_past + T}) - n_past;
  auto st = doc_start.defined() ? doc_start.view({B, T, 1}) : torch::zeros({B, T, 1}, torch::kLong);
  return s.lt(0).logical_or(s.le(t).logical_and(s.ge(st)));
}

// q (B, H, T, D), k/v (B, KV, n_past + T, D) -> (B, T, H*D)
torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const CausalMask& m) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), G = H / k.size(1);
  auto kr = k.repeat_interleave(G, 1), vr = v.repeat_interleave(G, 1);  // (B, H, K, D)
  auto scores = q.matmul(kr.transpose(-1, -2)) / std::sqrt(static_cast<double>(D));
  scores = scores.masked_fill(visible(B, T, m.n_past, m.doc_start).unsqueeze(1).logical_not(),
                              -std::numeric_limits<double>::infinity());
  auto probs = q.scalar_type() == torch::kDouble
                   ? torch::softmax(scores, -1)
                   : torch::softmax(scores.to(torch::kFloat), -1).to(q.scalar_type());
  return probs.matmul(vr).transpose(1, 2).reshape({B, T, H * D});
}

struct Inputs {
  torch::Tensor q, k, v, r;  // q (B, H, T, D) as a (B, T, H, D) projection output; r (B, T, H*D)
};

Inputs make_inputs(int64_t B, int64_t H, int64_t KV, int64_t T, int64_t n_past) {
  const int64_t D = 16;
  torch::manual_seed(T + n_past);
  Inputs in;
  in.q = torch::randn({B, T, H, D}).transpose(1, 2);
  in.k = torch::randn({B, KV, n_past + T, D});
  in.v = torch::randn({B, KV, n_past + T, D});
  in.r = torch::randn({B, T, H * D});
  return in;
}

// {out, dq, dk, dv} of sum(attention(q, k, v) * r), in `dtype` (the inputs' values cast to it).
std::vector<torch::Tensor> run(const Inputs& in, const CausalMask& m, torch::ScalarType dtype,
                               bool tiled) {
  auto leaf = [&](const torch::Tensor& t) { return t.to(dtype).clone().requires_grad_(true); };
  auto q = leaf(in.q), k = leaf(in.k), v = leaf(in.v);
  auto out = tiled ? causal_attention(q, k, v, m) : reference(q, k, v, m);
  (out.to(torch::kDouble) * in.r.to(torch::kDouble)).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

const char* kNames[] = {"out", "dq", "dk", "dv"};

void check(const Inputs& in, const CausalMask& m, double tol, const char* what) {
  auto got = run(in, m, torch::kFloat, true), want = run(in, m, torch::kFloat, false);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(got[i].sizes(), want[i].sizes()) << kNames[i];
    EXPECT_LE(test::max_rel_diff(got[i], want[i]), tol) << kNames[i] << " " << what;
  }
}

// Document starts (B, T) for documents of the given lengths, one list per batch row.
torch::Tensor starts_of(const std::vector<std::vector<int64_t>>& lengths) {
  std::vector<torch::Tensor> rows;
  for (const auto& row : lengths) {
    std::vector<int64_t> s;
    for (int64_t len : row)
      for (int64_t i = 0, at = static_cast<int64_t>(s.size()); i < len; ++i) s.push_back(at);
    rows.push_back(torch::tensor(s, torch::kLong));
  }
  return torch::stack(rows);
}

TEST(CausalAttention, MatchesAutogradReferenceInFp32) {
  // 700 new keys: two key tiles of 512; G = 2: query tiles of 128 tokens, the last partial.
  check(make_inputs(2, 4, 2, 700, 0), {0, {}}, 1e-5, "T=700");
  // 600 visible past keys, so a key tile holds past and new keys, and one query tile only.
  check(make_inputs(1, 4, 2, 90, 600), {600, {}}, 1e-5, "T=90 n_past=600");
  check(make_inputs(2, 2, 2, 20, 3), {3, {}}, 1e-5, "T=20 n_past=3 no GQA");
  check(make_inputs(1, 8, 1, 300, 0), {0, {}}, 1e-5, "T=300 multi-query (G=8)");
}

TEST(CausalAttention, PackedDocumentsMatchTheMaskedReference) {
  // Documents that straddle query and key tiles, a one-token document, different layouts per
  // row, and a prefix that every document sees.
  const auto starts = starts_of({{300, 1, 250, 149}, {700}});
  check(make_inputs(2, 4, 2, 700, 0), {0, starts}, 1e-5, "documents");
  check(make_inputs(2, 4, 2, 700, 5), {5, starts}, 1e-5, "documents after a prefix");
}

TEST(CausalAttention, DocumentsSeeNothingOfEachOther) {
  // Changing the keys and values of one document leaves the other documents' outputs equal.
  const int64_t T = 600;
  const auto starts = starts_of({{200, 250, 150}});
  Inputs in = make_inputs(1, 4, 2, T, 0);
  torch::NoGradGuard no_grad;
  const auto out = causal_attention(in.q, in.k, in.v, {0, starts});
  in.k.narrow(2, 200, 250).normal_();
  in.v.narrow(2, 200, 250).normal_();
  const auto changed = causal_attention(in.q, in.k, in.v, {0, starts});
  EXPECT_TRUE(torch::equal(out.narrow(1, 0, 200), changed.narrow(1, 0, 200)));
  EXPECT_TRUE(torch::equal(out.narrow(1, 450, 150), changed.narrow(1, 450, 150)));
  EXPECT_FALSE(torch::equal(out.narrow(1, 200, 250), changed.narrow(1, 200, 250)));
}

TEST(CausalAttention, DecodeSteps) {
  torch::NoGradGuard no_grad;
  for (int64_t n_past : {7, 1100}) {  // one key tile; three
    const Inputs in = make_inputs(1, 4, 2, 1, n_past);
    EXPECT_LE(test::max_rel_diff(causal_attention(in.q, in.k, in.v, {n_past, {}}),
                                 reference(in.q, in.k, in.v, {n_past, {}})),
              1e-5)
        << "n_past=" << n_past;
  }
}

TEST(CausalAttention, SameResultOnOneThreadAndOnAll) {
  // Work is split by tiles, each on one thread, and dQ sums per-thread buffers: the same
  // result to rounding (the BLAS may block a GEMM differently inside a parallel region).
  const Inputs in = make_inputs(2, 4, 2, 700, 0);
  const CausalMask m{0, starts_of({{300, 400}, {700}})};
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto one = run(in, m, torch::kFloat, true);
  at::set_num_threads(std::max(threads, 2));
  auto all = run(in, m, torch::kFloat, true);
  at::set_num_threads(threads);
  for (int i = 0; i < 4; ++i) EXPECT_LE(test::max_rel_diff(one[i], all[i]), 1e-6) << kNames[i];
}

// ||a - b|| / ||b|| (Frobenius norms, fp64).
double normwise_error(const torch::Tensor& a, const torch::Tensor& b) {
  const auto bd = b.to(torch::kDouble);
  return (a.to(torch::kDouble) - bd).norm().item<double>() / bd.norm().item<double>();
}

// A format with unit roundoff u (bf16 2^-8, fp16 2^-11). The kernel's GEMMs take inputs in
// that format and accumulate in fp32, and the softmax, its statistics and every accumulator
// are fp32; on a CPU with native bf16 GEMMs each GEMM's result is rounded to bf16 once more.
// The output passes at most four roundings (scores, probabilities, the P V product, the
// result); a gradient at most five (dO's cast, dP, dS, the product, the result): normwise
// error <= 4u and 5u. Independent roundings add in quadrature, so about u-2u is typical.
void check_against_exact(const Inputs& in, const CausalMask& m, torch::ScalarType dtype) {
  const double u = std::ldexp(1.0, dtype == torch::kBFloat16 ? -8 : -11);
  const double bound[] = {4 * u, 5 * u, 5 * u, 5 * u};
  Inputs rounded = in;  // the exact result of the rounded inputs
  rounded.q = in.q.to(dtype).to(torch::kDouble);
  rounded.k = in.k.to(dtype).to(torch::kDouble);
  rounded.v = in.v.to(dtype).to(torch::kDouble);
  auto exact = run(rounded, m, torch::kDouble, false);
  auto got = run(in, m, dtype, true);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(got[i].scalar_type(), dtype) << kNames[i];
    const double e = normwise_error(got[i], exact[i]);
    std::printf("%s %s T=%ld n_past=%ld: %.5f, bound %.5f (%s)\n", c10::toString(dtype), kNames[i],
                static_cast<long>(in.q.size(2)), static_cast<long>(m.n_past), e, bound[i],
                emulates_gemm(got[i]) ? "emulated GEMMs" : "native GEMMs");
    EXPECT_LE(e, bound[i]) << kNames[i] << " " << dtype;
  }
}

TEST(CausalAttention, Bf16AndFp16WithinTheFormatsBoundOfTheExactResult) {
  for (auto dtype : {torch::kBFloat16, torch::kHalf}) {
    check_against_exact(make_inputs(1, 4, 2, 600, 5), {5, {}}, dtype);
    check_against_exact(make_inputs(2, 4, 2, 20, 3), {3, {}}, dtype);
  }
}

TEST(CausalAttention, FullyVisibleDoubleMatchesExactly) {
  // fp64 through the tiles against fp64 autograd: the algorithm itself, without rounding.
  const Inputs in = make_inputs(1, 4, 2, 700, 0);
  auto got = run(in, {0, {}}, torch::kDouble, true), want = run(in, {0, {}}, torch::kDouble, false);
  for (int i = 0; i < 4; ++i) EXPECT_LE(test::max_rel_diff(got[i], want[i]), 1e-12) << kNames[i];
}

}  // namespace
}  // namespace ptune
