// Grouped-query self-attention (see attention.h).
#include "ptune/model/attention.h"

#include <torch/torch.h>

#include <limits>

#include "ptune/core/error.h"
#include "ptune/model/rope.h"
#include "ptune/ops/causal_attention.h"

namespace ptune {

torch::Tensor causal_mask(int64_t T, int64_t n_past, torch::ScalarType dtype,
                          torch::Device device) {
  if (T <= 1) return {};
  auto opts = torch::TensorOptions(device).dtype(torch::kLong);
  auto i = torch::arange(T, opts).unsqueeze(1);           // (T, 1) new-token index
  auto j = torch::arange(n_past + T, opts).unsqueeze(0);  // (1, K) key index
  return torch::zeros({T, n_past + T}, torch::TensorOptions(device).dtype(dtype))
      .masked_fill_(j > i + n_past, -std::numeric_limits<double>::infinity());  // (T, K)
}

AttentionImpl::AttentionImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b)
    : n_heads(c.num_attention_heads),
      n_kv_heads(c.num_key_value_heads),
      head_dim(c.resolved_head_dim()) {
  const int64_t d = c.hidden_size, q_dim = n_heads * head_dim, kv_dim = n_kv_heads * head_dim;
  q_proj = register_module("q_proj", make_projection(b, path + ".q_proj", d, q_dim));
  k_proj = register_module("k_proj", make_projection(b, path + ".k_proj", d, kv_dim));
  v_proj = register_module("v_proj", make_projection(b, path + ".v_proj", d, kv_dim));
  o_proj = register_module("o_proj", make_projection(b, path + ".o_proj", q_dim, d));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, LayerKV* kv,
                                     const torch::Tensor& mask_in) {
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
  const int64_t K = k.size(2);  // n_past + T

  torch::Tensor mask =
      mask_in.defined() ? mask_in : causal_mask(T, n_past, x.scalar_type(), x.device());
  PTUNE_CHECK(!mask.defined() || (mask.size(0) == T && mask.size(1) == K),
              "attention mask is [{}, {}], expected [{}, {}]", mask.size(0), mask.size(1), T, K);

  return o_proj->forward(causal_attention(q, k, v, mask, n_past));  // (B, T, H*D) -> (B, T, d)
}

}  // namespace ptune
