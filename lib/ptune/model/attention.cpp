// Grouped-query self-attention (Ainslie et al. 2023) with RoPE, KV cache and prefix K/V, as
// HF LlamaAttention computes it: scores in the compute dtype, softmax in fp32, causal mask
// aligned to the end (new token i sees every prefix/cached key and new keys <= i).
// GQA folds the query heads that share a K/V head into the row axis instead of repeating K/V.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ptune/core/error.h"
#include "ptune/model/transformer.h"

namespace ptune {

namespace {

// mask (M, N) broadcast + alpha * a @ b; a: (Z, M, K), b: (Z, K, N). mask may be undefined.
torch::Tensor scaled_scores(const torch::Tensor& mask, const torch::Tensor& a,
                            const torch::Tensor& b, double alpha) {
  if (is_cpu_half(a))
    return scaled_scores(mask.defined() ? mask.to(torch::kFloat) : mask, a.to(torch::kFloat),
                         b.to(torch::kFloat), alpha)
        .to(torch::kHalf);
  if (!mask.defined()) return torch::bmm(a, b).mul_(alpha);
  return torch::baddbmm(mask.to(a.scalar_type()), a, b, /*beta=*/1.0, /*alpha=*/alpha);
}

torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b) {
  if (is_cpu_half(a)) return torch::bmm(a.to(torch::kFloat), b.to(torch::kFloat)).to(torch::kHalf);
  return torch::bmm(a, b);
}

}  // namespace

void KVCache::truncate(int64_t len) {
  if (len < 0 || len > length())
    runtime_error("KVCache::truncate: length must be in [0, {}], got {}", length(), len);
  for (auto* side : {&k, &v})
    for (auto& t : *side)
      if (t.defined()) t = t.narrow(2, 0, len);
}

AttentionImpl::AttentionImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b)
    : n_heads(c.num_attention_heads),
      n_kv_heads(c.num_key_value_heads),
      head_dim(c.resolved_head_dim()) {
  const int64_t d = c.hidden_size;
  q_proj = register_module("q_proj", make_projection(b, path + ".q_proj", d, n_heads * head_dim));
  k_proj = register_module("k_proj", make_projection(b, path + ".k_proj", d, n_kv_heads * head_dim));
  v_proj = register_module("v_proj", make_projection(b, path + ".v_proj", d, n_kv_heads * head_dim));
  o_proj = register_module("o_proj", make_projection(b, path + ".o_proj", n_heads * head_dim, d));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, int64_t layer,
                                     const ForwardArgs& args, const torch::Tensor& mask_in) {
  const int64_t B = x.size(0), T = x.size(1), H = n_heads, KV = n_kv_heads, D = head_dim;
  const int64_t G = H / KV;  // query heads per K/V head
  auto q = q_proj->forward(x).view({B, T, H, D}).transpose(1, 2);   // (B, H, T, D)
  auto k = k_proj->forward(x).view({B, T, KV, D}).transpose(1, 2);  // (B, KV, T, D)
  auto v = v_proj->forward(x).view({B, T, KV, D}).transpose(1, 2);  // (B, KV, T, D)
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);

  int64_t n_past = 0;  // keys before the new ones: prefix P + cache S
  if (args.cache) {
    auto& cache = *args.cache;
    if (static_cast<int64_t>(cache.k.size()) <= layer) {
      cache.k.resize(layer + 1);
      cache.v.resize(layer + 1);
    }
    auto& ck = cache.k[layer];
    auto& cv = cache.v[layer];
    if (ck.defined()) {
      n_past += ck.size(2);
      ck = torch::cat({ck, k}, 2);  // (B, KV, S + T, D)
      cv = torch::cat({cv, v}, 2);
    } else {
      ck = k.contiguous();
      cv = v.contiguous();
    }
    k = ck;
    v = cv;
  }
  if (args.prefix) {
    PTUNE_CHECK(static_cast<int64_t>(args.prefix->size()) > layer, "prefix has {} layers, need {}",
                args.prefix->size(), layer + 1);
    const auto& [pk, pv] = (*args.prefix)[layer];  // (B or 1, KV, P, D)
    n_past += pk.size(2);
    k = torch::cat({pk.to(k.scalar_type()).expand({B, KV, pk.size(2), D}), k}, 2);
    v = torch::cat({pv.to(v.scalar_type()).expand({B, KV, pv.size(2), D}), v}, 2);
  }
  const int64_t K = k.size(2);

  torch::Tensor mask = mask_in.defined() ? mask_in : causal_mask(T, n_past, x.scalar_type(), x.device());
  PTUNE_CHECK(!mask.defined() || (mask.size(0) == T && mask.size(1) == K),
              "attention mask is [{}, {}], expected [{}, {}]", mask.size(0), mask.size(1), T, K);

  // The mask is causal, so query rows [s, e) see only keys [0, n_past + e): computing the
  // scores in row chunks skips the masked upper triangle, (n + 1) / 2n of the work for n
  // chunks (5/8 for T = 256).
  const int64_t n_chunks = std::clamp<int64_t>(T / 64, 1, 8);  // 64 rows: fastest measured
  const int64_t rows = (T + n_chunks - 1) / n_chunks;
  const double scale = 1.0 / std::sqrt(double(D));
  if (n_chunks > 1) {  // then each chunk's leading keys are a view, not a copy
    k = k.contiguous();
    v = v.contiguous();
  }
  std::vector<torch::Tensor> outs;
  for (int64_t s = 0; s < T; s += rows) {
    const int64_t len = std::min(rows, T - s), keys = n_chunks == 1 ? K : n_past + s + len;
    // Rows (g, t) of one K/V head group: the G query heads that share it.
    auto qg = (n_chunks == 1 ? q : q.narrow(2, s, len)).reshape({B * KV, G * len, D});
    auto kg = (keys == K ? k : k.narrow(2, 0, keys)).reshape({B * KV, keys, D});
    auto vg = (keys == K ? v : v.narrow(2, 0, keys)).reshape({B * KV, keys, D});
    torch::Tensor m = mask.defined() && n_chunks > 1 ? mask.narrow(0, s, len).narrow(1, 0, keys) : mask;
    if (m.defined() && G > 1) m = m.repeat({G, 1});  // (G*len, keys), rows (g, t)
    auto scores = scaled_scores(m, qg, kg.transpose(1, 2), scale);  // (B*KV, G*len, keys)
    auto probs = scores.scalar_type() == torch::kFloat
                     ? torch::softmax(scores, -1)
                     : torch::softmax(scores, -1, torch::kFloat).to(scores.scalar_type());
    outs.push_back(batched_matmul(probs, vg).view({B, H, len, D}));  // (B*KV, G*len, D)
  }
  auto out = outs.size() == 1 ? outs[0] : torch::cat(outs, 2);        // (B, H, T, D)
  out = out.transpose(1, 2).reshape({B, T, H * D});                   // (B, T, H*D)
  return o_proj->forward(out);
}

}  // namespace ptune
