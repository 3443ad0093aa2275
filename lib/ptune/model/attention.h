// Grouped-query self-attention (Ainslie et al. 2023) with RoPE and a KV cache, as HF
// LlamaAttention computes it; the causal mask is aligned to the end (new token i sees every
// key before the new ones and new keys <= i), and packed sequences attend within their
// documents. The attention core is ops/causal_attention.h.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

#include "ptune/config/model_config.h"
#include "ptune/model/builder.h"
#include "ptune/model/kv_cache.h"

namespace ptune {

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b);
  // x: (B, T, d); cos/sin: (T, head_dim) or (B, 1, T, head_dim) for the new tokens'
  // positions, in x's dtype. The new keys are appended to `kv` when given; every key already
  // in it is visible. doc_start (B, T): where each token's document starts (CausalMask);
  // undefined = one document per row.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        LayerKV* kv = nullptr, const torch::Tensor& doc_start = {});
  Projection q_proj, k_proj, v_proj, o_proj;
  int64_t n_heads, n_kv_heads, head_dim;  // 32, 8, 64
};
TORCH_MODULE(Attention);

}  // namespace ptune
