// Tiled causal attention with an online softmax (see causal_attention.h).
//
// Layout: the G query heads that share a K/V head are folded into the row axis, rows (t, g),
// so one GEMM serves the whole group and K/V are never repeated: q is packed once into
// (B, KV, T*G, D). Work is split into independent items, each run on one thread with
// single-threaded kernels (a GEMM of one tile is too small to split well):
//   forward:  (b, kv, query tile)  -> its output rows and log-sum-exp;
//   backward: (b, kv, key tile)    -> its dK, dV rows; dQ is summed in one buffer per thread.
// Items are handed out costliest first from a shared counter, so the causal triangle's
// uneven rows do not leave a thread idle.
#include "ptune/ops/causal_attention.h"

#include <ATen/Parallel.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <torch/autograd.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "ptune/core/autocast.h"
#include "ptune/core/error.h"
#include "ptune/ops/mixed_precision.h"

namespace ptune {

namespace {

using torch::Tensor;

constexpr int64_t kKeyTile = 512;    // keys per tile (PyTorch's CPU flash kernel: 512)
constexpr int64_t kQueryRows = 256;  // GEMM rows per query tile: tokens * G

// The accumulation dtype: fp32 for bf16/fp16 inputs, else the inputs' own.
torch::ScalarType acc_type(torch::ScalarType t) {
  return t == torch::kBFloat16 || t == torch::kHalf ? torch::kFloat : t;
}

// a @ b in the accumulation dtype, from inputs in the compute dtype.
Tensor mm_acc(const Tensor& a, const Tensor& b) {
  const auto acc = acc_type(a.scalar_type());
  if (acc == a.scalar_type()) return at::mm(a, b);
  if (emulates_gemm(a)) return at::mm(a.to(acc), b.to(acc));
  return at::mm(a, b).to(acc);
}

// dst += alpha * a @ b; dst in the accumulation dtype, a and b in the compute dtype.
void addmm_acc(Tensor dst, const Tensor& a, const Tensor& b, double alpha) {
  const auto acc = dst.scalar_type();
  if (acc == a.scalar_type())
    dst.addmm_(a, b, /*beta=*/1.0, alpha);
  else if (emulates_gemm(a))
    dst.addmm_(a.to(acc), b.to(acc), /*beta=*/1.0, alpha);
  else
    dst.add_(at::mm(a, b), alpha);
}

enum class Seen { kNone, kPartly, kAll };

// Shapes, tiles and which tiles see which.
struct Plan {
  int64_t B, H, KV, G, T, K, D, n_past;
  int64_t rows;  // tokens per query tile
  int64_t n_q, n_k;
  double scale;
  Tensor doc_start;  // (B, T) int64 on the CPU, or undefined
  const int64_t* starts = nullptr;

  Plan(int64_t B_, int64_t H_, int64_t KV_, int64_t T_, int64_t K_, int64_t D_, int64_t n_past_,
       const Tensor& doc_start_)
      : B(B_), H(H_), KV(KV_), G(H_ / KV_), T(T_), K(K_), D(D_), n_past(n_past_) {
    rows = std::max<int64_t>(1, kQueryRows / G);
    n_q = (T + rows - 1) / rows;
    n_k = (K + kKeyTile - 1) / kKeyTile;
    scale = 1.0 / std::sqrt(static_cast<double>(D));
    if (doc_start_.defined()) {
      doc_start = doc_start_.to(torch::kCPU, torch::kLong).contiguous();
      starts = doc_start.data_ptr<int64_t>();
    }
  }
  int64_t start(int64_t b, int64_t t) const { return starts ? starts[b * T + t] : 0; }
  int64_t q_begin(int64_t i) const { return i * rows; }
  int64_t q_len(int64_t i) const { return std::min(rows, T - i * rows); }
  int64_t k_begin(int64_t j) const { return j * kKeyTile; }
  int64_t k_len(int64_t j) const { return std::min(kKeyTile, K - j * kKeyTile); }

  // How much of key tile j the queries of tile i in batch row b see. Query t sees keys
  // [0, n_past) and [n_past + start(t), n_past + t]; starts are nondecreasing in t.
  Seen seen(int64_t b, int64_t i, int64_t j) const {
    const int64_t a = q_begin(i), z = a + q_len(i);  // queries [a, z)
    const int64_t c = k_begin(j), e = c + k_len(j);  // keys [c, e)
    if (e <= n_past) return Seen::kAll;
    const bool any = c < n_past || (e > n_past + start(b, a) && c < n_past + z);
    if (!any) return Seen::kNone;
    const bool all = std::max(c, n_past) >= n_past + start(b, z - 1) && e - 1 <= n_past + a;
    return all ? Seen::kAll : Seen::kPartly;
  }

  // true where query row (t, g) of tile i must not see key s of tile j: (len*G, k_len).
  Tensor hidden(int64_t b, int64_t i, int64_t j, torch::Device device) const {
    const int64_t a = q_begin(i), m = q_len(i), c = k_begin(j), n = k_len(j);
    const auto opts = torch::TensorOptions(device).dtype(torch::kLong);
    auto s = torch::arange(c - n_past, c - n_past + n, opts).unsqueeze(0);  // new-key index
    auto t = torch::arange(a, a + m, opts).unsqueeze(1);
    auto h = s.gt(t);
    if (starts) h = h.logical_or_(s.lt(doc_start[b].narrow(0, a, m).to(device).unsqueeze(1)));
    h = h.logical_and_(s.ge(0));  // prefix keys are seen by all
    return h.unsqueeze(1).expand({m, G, n}).reshape({m * G, n});
  }
};

// (B, T, H, D) -> (B, KV, T*G, D) contiguous, rows (t, g).
Tensor pack_rows(const Tensor& x_bthd, const Plan& p) {
  return x_bthd.reshape({p.B, p.T, p.KV, p.G, p.D})
      .permute({0, 2, 1, 3, 4})
      .contiguous()
      .view({p.B, p.KV, p.T * p.G, p.D});
}

// (B, KV, T*G, D) -> (B, T, H, D) contiguous.
Tensor unpack_rows(const Tensor& x, const Plan& p) {
  return x.view({p.B, p.KV, p.T, p.G, p.D})
      .permute({0, 2, 1, 3, 4})
      .contiguous()
      .view({p.B, p.T, p.H, p.D});
}

// Runs f(item, worker) for items 0..n-1, costliest first, on up to get_num_threads() threads,
// each item on one thread with autograd and autocast off.
template <class Cost, class F>
void run_items(int64_t n, bool parallel, Cost&& cost, F&& f) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return cost(x) > cost(y); });
  const int64_t workers =
      parallel && !at::in_parallel_region() ? std::min<int64_t>(at::get_num_threads(), n) : 1;
  std::atomic<int64_t> next{0};
  auto work = [&](int64_t worker) {
    torch::NoGradGuard no_grad;
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    for (int64_t it; (it = next.fetch_add(1)) < n;) f(order[it], worker);
  };
  if (workers <= 1) return work(0);
  at::parallel_for(0, workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) work(w);
  });
}

// Forward of one (b, kv, query tile i): writes its rows of out (B, T, H, D) and lse.
void forward_tile(const Tensor& qp, const Tensor& k, const Tensor& v, Tensor& out, Tensor& lse,
                  const Plan& p, int64_t b, int64_t kv, int64_t i) {
  const int64_t a = p.q_begin(i), m = p.q_len(i), R = m * p.G;
  const auto dt = qp.scalar_type(), acc = acc_type(dt);
  const Tensor q = qp[b][kv].narrow(0, a * p.G, R);  // (R, D)
  const auto opts = q.options().dtype(acc);
  Tensor o, row_max, row_sum;  // (R, D), (R), (R)
  for (int64_t j = 0; j < p.n_k; ++j) {
    const Seen seen = p.seen(b, i, j);
    if (seen == Seen::kNone) continue;
    const Tensor kt = k[b][kv].narrow(0, p.k_begin(j), p.k_len(j));  // (n, D)
    const Tensor vt = v[b][kv].narrow(0, p.k_begin(j), p.k_len(j));
    auto s = mm_acc(q, kt.t()).mul_(p.scale);  // (R, n)
    if (seen == Seen::kPartly)
      s.masked_fill_(p.hidden(b, i, j, s.device()), -std::numeric_limits<double>::infinity());
    auto tile_max = s.amax(1);
    auto new_max = row_max.defined() ? torch::maximum(row_max, tile_max) : tile_max;
    // A row that has seen no key yet keeps max -inf; subtract 0 there (its exps are 0).
    auto shift = new_max.masked_fill(new_max.isneginf(), 0.0);
    s.sub_(shift.unsqueeze(1)).exp_();  // unnormalised probabilities
    if (!o.defined()) {
      row_sum = s.sum(1);
      o = torch::zeros({R, p.D}, opts);
    } else {
      auto rescale = (row_max - shift).exp_();
      row_sum.mul_(rescale).add_(s.sum(1));
      o.mul_(rescale.unsqueeze(1));
    }
    addmm_acc(o, s.to(dt), vt, 1.0);
    row_max = new_max;
  }
  o.div_(row_sum.unsqueeze(1));
  lse[b][kv].narrow(0, a * p.G, R).copy_(row_max.add_(row_sum.log_()));
  out[b].narrow(0, a, m).narrow(1, kv * p.G, p.G).copy_(o.view({m, p.G, p.D}));
}

// Backward of one (b, kv, key tile j): its dK, dV rows, and its share of dQ into dq (the
// worker's buffer, (B, KV, T*G, D) in the accumulation dtype).
void backward_tile(const Tensor& qp, const Tensor& k, const Tensor& v, const Tensor& dop,
                   const Tensor& lse, const Tensor& delta, Tensor& dq, Tensor& dk, Tensor& dv,
                   const Plan& p, int64_t b, int64_t kv, int64_t j) {
  const auto dt = qp.scalar_type();
  const int64_t c = p.k_begin(j), n = p.k_len(j);
  const Tensor kt = k[b][kv].narrow(0, c, n), vt = v[b][kv].narrow(0, c, n);  // (n, D)
  Tensor dkt = dk[b][kv].narrow(0, c, n), dvt = dv[b][kv].narrow(0, c, n);    // views
  for (int64_t i = 0; i < p.n_q; ++i) {
    const Seen seen = p.seen(b, i, j);
    if (seen == Seen::kNone) continue;
    const int64_t r0 = p.q_begin(i) * p.G, R = p.q_len(i) * p.G;
    const Tensor q = qp[b][kv].narrow(0, r0, R), d_out = dop[b][kv].narrow(0, r0, R);  // (R, D)
    auto probs = mm_acc(q, kt.t()).mul_(p.scale);                                      // (R, n)
    if (seen == Seen::kPartly)
      probs.masked_fill_(p.hidden(b, i, j, probs.device()),
                         -std::numeric_limits<double>::infinity());
    probs.sub_(lse[b][kv].narrow(0, r0, R).unsqueeze(1)).exp_();
    addmm_acc(dvt, probs.to(dt).t(), d_out, 1.0);
    // dS = P * (dP - rowsum(dO * O)), with dP = dO V^T
    auto d_scores =
        mm_acc(d_out, vt.t()).sub_(delta[b][kv].narrow(0, r0, R).unsqueeze(1)).mul_(probs).to(dt);
    addmm_acc(dq[b][kv].narrow(0, r0, R), d_scores, kt, p.scale);
    addmm_acc(dkt, d_scores.t(), q, p.scale);
  }
}

struct CausalAttentionFunction : torch::autograd::Function<CausalAttentionFunction> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& q_bhtd,
                        const Tensor& k_in, const Tensor& v_in, const CausalMask* mask) {
    // mask: a pointer, as apply() forwards only tensors and plain values
    const Tensor k = k_in.contiguous(), v = v_in.contiguous();
    const Plan p(q_bhtd.size(0), q_bhtd.size(1), k.size(1), q_bhtd.size(2), k.size(2),
                 q_bhtd.size(3), mask->n_past, mask->doc_start);
    const Tensor qp = pack_rows(q_bhtd.transpose(1, 2), p);
    auto out = torch::empty({p.B, p.T, p.H, p.D}, qp.options());
    auto lse = torch::empty({p.B, p.KV, p.T * p.G}, qp.options().dtype(acc_type(qp.scalar_type())));
    const int64_t per_b = p.KV * p.n_q;
    run_items(
        p.B * per_b, qp.is_cpu(), [&](int64_t it) { return (it % p.n_q); },
        [&](int64_t it, int64_t) {
          forward_tile(qp, k, v, out, lse, p, it / per_b, it / p.n_q % p.KV, it % p.n_q);
        });
    out = out.view({p.B, p.T, p.H * p.D});
    ctx->save_for_backward({qp, k, v, out, lse});
    ctx->saved_data["n_past"] = mask->n_past;
    ctx->saved_data["H"] = p.H;
    if (mask->doc_start.defined()) ctx->saved_data["doc_start"] = p.doc_start;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &qp = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &lse = saved[4];
    const int64_t H = ctx->saved_data["H"].toInt();
    Tensor doc_start;
    if (ctx->saved_data.count("doc_start")) doc_start = ctx->saved_data["doc_start"].toTensor();
    const Plan p(qp.size(0), H, k.size(1), qp.size(2) / (H / k.size(1)), k.size(2), qp.size(3),
                 ctx->saved_data["n_past"].toInt(), doc_start);
    const auto dt = qp.scalar_type(), acc = acc_type(dt);
    const Tensor dout = grads[0].to(dt).reshape({p.B, p.T, p.H, p.D});
    const Tensor dop = pack_rows(dout, p);
    const Tensor delta =  // rowsum(dO * O): (B, KV, T*G)
        (dop.to(acc) * pack_rows(out.view({p.B, p.T, p.H, p.D}), p).to(acc)).sum(-1);
    auto dk = torch::zeros(k.sizes(), k.options().dtype(acc));
    auto dv = torch::zeros(v.sizes(), v.options().dtype(acc));
    const int64_t workers = qp.is_cpu() ? std::max<int64_t>(1, at::get_num_threads()) : 1;
    std::vector<Tensor> dq(workers);  // per worker, allocated on first use
    const int64_t per_b = p.KV * p.n_k;
    run_items(
        p.B * per_b, qp.is_cpu(), [&](int64_t it) { return -(it % p.n_k); },
        [&](int64_t it, int64_t w) {
          if (!dq[w].defined()) dq[w] = torch::zeros(qp.sizes(), qp.options().dtype(acc));
          backward_tile(qp, k, v, dop, lse, delta, dq[w], dk, dv, p, it / per_b, it / p.n_k % p.KV,
                        it % p.n_k);
        });
    Tensor dq_sum;
    for (auto& d : dq)
      if (d.defined()) dq_sum = dq_sum.defined() ? dq_sum.add_(d) : d;
    const Tensor dq_bhtd = unpack_rows(dq_sum, p).to(dt).transpose(1, 2);  // as q: (B, H, T, D)
    return {dq_bhtd, dk.to(dt), dv.to(dt), Tensor()};
  }
};

}  // namespace

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, const CausalMask& mask) {
  PTUNE_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be 4-D");
  PTUNE_CHECK(q.size(1) % k.size(1) == 0, "attention: {} query heads for {} key/value heads",
              q.size(1), k.size(1));
  PTUNE_CHECK(k.size(2) == mask.n_past + q.size(2), "attention: {} keys for {} past + {} new",
              k.size(2), mask.n_past, q.size(2));
  PTUNE_CHECK(!mask.doc_start.defined() ||
                  (mask.doc_start.dim() == 2 && mask.doc_start.size(0) == q.size(0) &&
                   mask.doc_start.size(1) == q.size(2)),
              "attention: doc_start must be (batch, tokens)");
  if (q.is_cpu() && cpu_autocast_enabled()) {
    // Under CPU autocast (bench --autocast) q and k arrive in fp32 (RoPE's fp32 tables promote
    // them) and v in autocast's dtype: attend in that dtype, as its batched GEMMs would.
    const auto dt = cpu_autocast_dtype();
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    return CausalAttentionFunction::apply(q.to(dt), k.to(dt), v.to(dt), &mask);
  }
  return CausalAttentionFunction::apply(q, k, v, &mask);
}

Tensor document_starts(const Tensor& positions) {
  PTUNE_CHECK(positions.dim() == 2, "positions must be (batch, tokens), got {} dims",
              positions.dim());
  const int64_t T = positions.size(1);
  auto index = torch::arange(T, positions.options().dtype(torch::kLong)).expand_as(positions);
  auto is_start = positions.eq(0);
  if (T > 0) is_start.select(1, 0).fill_(true);
  return std::get<0>(torch::where(is_start, index, torch::zeros_like(index)).cummax(1));
}

}  // namespace ptune
