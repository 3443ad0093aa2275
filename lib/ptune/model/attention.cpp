// Grouped-query self-attention (Ainslie et al. 2023) with RoPE, KV cache and prefix K/V, as
// HF LlamaAttention computes it; causal mask aligned to the end (new token i sees every
// prefix/cached key and new keys <= i). The attention core is causal_attention.h.
#include <torch/torch.h>

#include "ptune/core/error.h"
#include "ptune/model/causal_attention.h"
#include "ptune/model/transformer.h"

namespace ptune {

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
  k_proj =
      register_module("k_proj", make_projection(b, path + ".k_proj", d, n_kv_heads * head_dim));
  v_proj =
      register_module("v_proj", make_projection(b, path + ".v_proj", d, n_kv_heads * head_dim));
  o_proj = register_module("o_proj", make_projection(b, path + ".o_proj", n_heads * head_dim, d));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, int64_t layer,
                                     const ForwardArgs& args, const torch::Tensor& mask_in) {
  const int64_t B = x.size(0), T = x.size(1), H = n_heads, KV = n_kv_heads, D = head_dim;
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

  torch::Tensor mask =
      mask_in.defined() ? mask_in : causal_mask(T, n_past, x.scalar_type(), x.device());
  PTUNE_CHECK(!mask.defined() || (mask.size(0) == T && mask.size(1) == K),
              "attention mask is [{}, {}], expected [{}, {}]", mask.size(0), mask.size(1), T, K);

  return o_proj->forward(causal_attention(q, k, v, mask, n_past));  // (B, T, H*D) -> (B, T, d)
}

}  // namespace ptune
