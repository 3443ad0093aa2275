// Chunked causal attention (see causal_attention.h). Scores in the compute dtype, softmax in
// fp32 (HF LlamaAttention); GQA folds the G query heads that share a K/V head into the row
// axis instead of repeating K/V. The backward is the standard one (Vaswani et al. 2017;
// softmax gradient P * (dP - rowsum(dP * P))), per chunk, from the saved probabilities.
#include "ptune/ops/causal_attention.h"

#include <c10/core/impl/LocalDispatchKeySet.h>

#include <torch/autograd.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "ptune/ops/mixed_precision.h"
#include "ptune/core/autocast.h"

namespace ptune {

namespace {

using torch::Tensor;

// mask (M, N) broadcast + alpha * a @ b; a: (Z, M, K), b: (Z, K, N). mask may be undefined.
Tensor scaled_scores(const Tensor& mask, const Tensor& a, const Tensor& b, double alpha) {
  if (emulates_gemm(a))
    return scaled_scores(mask.defined() ? mask.to(torch::kFloat) : mask, a.to(torch::kFloat),
                         b.to(torch::kFloat), alpha)
        .to(a.scalar_type());
  if (!mask.defined()) return torch::bmm(a, b).mul_(alpha);
  return torch::baddbmm(mask.to(a.scalar_type()), a, b, /*beta=*/1.0, /*alpha=*/alpha);
}

Tensor batched_matmul(const Tensor& a, const Tensor& b) {
  if (emulates_gemm(a))
    return torch::bmm(a.to(torch::kFloat), b.to(torch::kFloat)).to(a.scalar_type());
  return torch::bmm(a, b);
}

// dst += alpha * a @ b, rounded once to dst's dtype (dst may be a view).
void accumulate_matmul(Tensor dst, const Tensor& a, const Tensor& b, double alpha) {
  if (!emulates_gemm(a)) {
    dst.baddbmm_(a, b, /*beta=*/1.0, alpha);
    return;
  }
  dst.copy_(
      torch::baddbmm(dst.to(torch::kFloat), a.to(torch::kFloat), b.to(torch::kFloat), 1.0, alpha));
}

// Shapes and the row chunking. The mask is causal, so query rows [s, e) see only keys
// [0, n_past + e): chunks skip the masked upper triangle, (n + 1) / 2n of the work for n
// chunks (5/8 for T = 256).
struct Plan {
  int64_t B, H, KV, G, T, K, D, n_past, rows, n_chunks;
  double scale;
  Plan(const Tensor& q, const Tensor& k, int64_t n_past_)
      : B(q.size(0)),
        H(q.size(1)),
        KV(k.size(1)),
        G(H / KV),
        T(q.size(2)),
        K(k.size(2)),
        D(q.size(3)),
        n_past(n_past_),
        rows(0),
        n_chunks(std::clamp<int64_t>(T / 64, 1, 8)),  // 64 rows: fastest measured
        scale(1.0 / std::sqrt(static_cast<double>(D))) {
    rows = (T + n_chunks - 1) / n_chunks;
  }
  int64_t keys(int64_t s, int64_t len) const { return n_chunks == 1 ? K : n_past + s + len; }
  template <class F>
  void for_chunks(F&& f) const {
    for (int64_t s = 0; s < T; s += rows) f(s, std::min(rows, T - s));
  }
};

// Rows [s, s + len) of x (B, H, T, D) as (B*KV, G*len, D), rows (g, t) of one K/V head group.
Tensor group_rows(const Tensor& x, const Plan& p, int64_t s, int64_t len) {
  return (p.n_chunks == 1 ? x : x.narrow(2, s, len)).reshape({p.B * p.KV, p.G * len, p.D});
}

// The same rows of x (B, T, H, D).
Tensor group_rows_bthd(const Tensor& x, const Plan& p, int64_t s, int64_t len) {
  return x.narrow(1, s, len)
      .view({p.B, len, p.KV, p.G, p.D})
      .permute({0, 2, 3, 1, 4})
      .reshape({p.B * p.KV, p.G * len, p.D});
}

// Writes g (B*KV, G*len, D), rows (g, t), into rows [s, s + len) of out (B, T, H, D).
void scatter_rows(Tensor& out, const Tensor& g, const Plan& p, int64_t s, int64_t len) {
  out.narrow(1, s, len)
      .view({p.B, len, p.KV, p.G, p.D})
      .copy_(g.view({p.B, p.KV, p.G, len, p.D}).permute({0, 3, 1, 2, 4}));
}

// The leading `keys` keys of k (B, KV, K, D), contiguous, as (B*KV, keys, D): a view.
Tensor leading_keys(const Tensor& k, const Plan& p, int64_t keys) {
  return k.narrow(2, 0, keys).view({p.B * p.KV, keys, p.D});
}

// One chunk: probabilities (B*KV, G*len, keys) in the compute dtype and output (B*KV, G*len, D).
std::pair<Tensor, Tensor> attend(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& mask, const Plan& p, int64_t s, int64_t len) {
  const int64_t keys = p.keys(s, len);
  Tensor m = mask.defined() && p.n_chunks > 1 ? mask.narrow(0, s, len).narrow(1, 0, keys) : mask;
  if (m.defined() && p.G > 1) m = m.repeat({p.G, 1});  // (G*len, keys), rows (g, t)
  auto scores =
      scaled_scores(m, group_rows(q, p, s, len), leading_keys(k, p, keys).transpose(1, 2), p.scale);
  auto probs = scores.scalar_type() == torch::kFloat
                   ? torch::softmax(scores, -1)
                   : torch::softmax(scores, -1, torch::kFloat).to(scores.scalar_type());
  return {probs, batched_matmul(probs, leading_keys(v, p, keys))};
}

struct CausalAttentionFunction : torch::autograd::Function<CausalAttentionFunction> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& q, const Tensor& k_in,
                        const Tensor& v_in, const Tensor* mask, int64_t n_past) {
    // mask: a pointer, as it may be undefined (which apply() cannot take) and needs no grad
    const Tensor k = k_in.contiguous(), v = v_in.contiguous();
    const Plan p(q, k, n_past);
    auto out = torch::empty({p.B, p.T, p.H, p.D}, q.options());
    std::vector<Tensor> saved{q, k, v};
    p.for_chunks([&](int64_t s, int64_t len) {
      auto [probs, o] = attend(q, k, v, *mask, p, s, len);
      scatter_rows(out, o, p, s, len);
      saved.push_back(probs);
    });
    ctx->save_for_backward(saved);
    ctx->saved_data["n_past"] = n_past;
    return out.view({p.B, p.T, p.H * p.D});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &q = saved[0], &k = saved[1], &v = saved[2];
    const Plan p(q, k, ctx->saved_data["n_past"].toInt());
    const Tensor dout = grads[0].contiguous().view({p.B, p.T, p.H, p.D});
    auto dq = torch::empty({p.B, p.T, p.H, p.D}, q.options());
    auto dk = torch::zeros_like(k), dv = torch::zeros_like(v);  // (B, KV, K, D)
    size_t chunk = 0;
    p.for_chunks([&](int64_t s, int64_t len) {
      const int64_t keys = p.keys(s, len);
      const Tensor& probs = saved[3 + chunk++];             // (B*KV, G*len, keys)
      const auto d_out = group_rows_bthd(dout, p, s, len);  // (B*KV, G*len, D)
      accumulate_matmul(leading_keys(dv, p, keys), probs.transpose(1, 2), d_out, 1.0);
      auto d_probs = batched_matmul(d_out, leading_keys(v, p, keys).transpose(1, 2));
      auto d_scores = probs.scalar_type() == torch::kFloat
                          ? at::_softmax_backward_data(d_probs, probs, -1, torch::kFloat)
                          : at::_softmax_backward_data(d_probs.to(torch::kFloat),
                                                       probs.to(torch::kFloat), -1, torch::kFloat)
                                .to(probs.scalar_type());
      accumulate_matmul(leading_keys(dk, p, keys), d_scores.transpose(1, 2),
                        group_rows(q, p, s, len), p.scale);
      scatter_rows(dq, batched_matmul(d_scores, leading_keys(k, p, keys)).mul_(p.scale), p, s, len);
    });
    return {dq.transpose(1, 2), dk, dv, Tensor(), Tensor()};  // dq as q: (B, H, T, D)
  }
};

}  // namespace

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                        int64_t n_past) {
  if (q.is_cpu() && cpu_autocast_enabled()) {
    // Under CPU autocast (bench --autocast) q and k arrive in fp32 (RoPE's fp32 tables promote
    // them) and v in autocast's dtype: attend in that dtype, as its batched GEMMs would, with
    // autocast off inside (its casts would not match the in-place accumulations). The mask
    // takes the scores' dtype in scaled_scores, as always.
    const auto dt = cpu_autocast_dtype();
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    return CausalAttentionFunction::apply(q.to(dt), k.to(dt), v.to(dt), &mask, n_past);
  }
  if (!is_cpu_half(q)) return CausalAttentionFunction::apply(q, k, v, &mask, n_past);
  // CPU fp16 emulation: autograd through the same chunks, so that every backward op rounds
  // to fp16 as it would on a GPU.
  const Tensor kc = k.contiguous(), vc = v.contiguous();
  const Plan p(q, kc, n_past);
  std::vector<Tensor> outs;
  p.for_chunks([&](int64_t s, int64_t len) {
    outs.push_back(attend(q, kc, vc, mask, p, s, len).second.view({p.B, p.H, len, p.D}));
  });
  auto out = outs.size() == 1 ? outs[0] : torch::cat(outs, 2);  // (B, H, T, D)
  return out.transpose(1, 2).reshape({p.B, p.T, p.H * p.D});
}

}  // namespace ptune
