// Grouped-query self-attention (Ainslie et al. 2023) with RoPE and a KV cache, as HF
// LlamaAttention computes it; the causal mask is aligned to the end (new token i sees every
// key before the new ones and new keys <= i). The attention core is ops/causal_attention.h.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

#include "ptune/config/model_config.h"
#include "ptune/model/builder.h"
#include "ptune/model/kv_cache.h"

namespace ptune {

// Additive attention mask (T, n_past + T) in `dtype`: 0 where new token i may attend key j,
// -inf where j > n_past + i. n_past counts the keys before the new tokens (prefix + cache),
// all of which are visible. Undefined when nothing is masked (T == 1).
torch::Tensor causal_mask(int64_t T, int64_t n_past, torch::ScalarType dtype, torch::Device device);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b);
  // x: (B, T, d); cos/sin: (T, head_dim) for the new tokens' positions, in x's dtype.
  // `mask`: causal_mask(T, S, ...) for the S keys in `kv` (shared by all layers; built here
  // when undefined). It must be that causal mask: long inputs are computed in row chunks that
  // skip masked keys. The new keys are appended to `kv` when given.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        LayerKV* kv = nullptr, const torch::Tensor& mask = {});
  Projection q_proj, k_proj, v_proj, o_proj;
  int64_t n_heads, n_kv_heads, head_dim;  // 32, 8, 64
};
TORCH_MODULE(Attention);

}  // namespace ptune
