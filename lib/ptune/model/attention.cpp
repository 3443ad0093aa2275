// Grouped-query self-attention (see attention.h).
#include "ptune/model/attention.h"

#include <torch/torch.h>

#include "ptune/model/rope.h"
#include "ptune/ops/causal_attention.h"

namespace ptune {

AttentionImpl::AttentionImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b)
    : n_heads(c.num_attention_heads),
      n_kv_heads(c.num_key_value_heads),
      head_dim(c.resolved_head_dim()) {
  const int64_t d = c.hidden_size, q_dim = n_heads * head_dim, kv_dim = n_kv_heads * head_dim;
  const bool qkv_bias = c.qkv_bias();
  q_proj = register_module("q_proj", make_projection(b, path + ".q_proj", d, q_dim, qkv_bias));
  k_proj = register_module("k_proj", make_projection(b, path + ".k_proj", d, kv_dim, qkv_bias));
  v_proj = register_module("v_proj", make_projection(b, path + ".v_proj", d, kv_dim, qkv_bias));
  o_proj = register_module("o_proj", make_projection(b, path + ".o_proj", q_dim, d, c.o_bias()));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, LayerKV* kv,
                                     const torch::Tensor& doc_start) {
  const int64_t B = x.size(0), T = x.size(1), H = n_heads, KV = n_kv_heads, D = head_dim;
  auto q = q_proj->forward(x).view({B, T, H, D}).transpose(1, 2);   // (B, H, T, D)
  auto k = k_proj->forward(x).view({B, T, KV, D}).transpose(1, 2);  // (B, KV, T, D)
  auto v = v_proj->forward(x).view({B, T, KV, D}).transpose(1, 2);  // (B, KV, T, D)
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);

  const int64_t n_past = kv ? kv->length() : 0;  // keys before the new ones
  if (kv) {
    const LayerKV all = kv->append(k, v);  // (B, KV, n_past + T, D)
    k = all.k;
    v = all.v;
  }
  // (B, T, H*D) -> (B, T, d)
  return o_proj->forward(causal_attention(q, k, v, {n_past, doc_start}));
}

}  // namespace ptune
