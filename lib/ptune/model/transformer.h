// LLaMA-family decoder (HF LlamaForCausalLM): embedding, N pre-norm blocks (RMSNorm,
// GQA self-attention with RoPE in HF rotate_half layout, RMSNorm, SwiGLU MLP), final norm,
// LM head (optionally tied). Parameter names are the HF checkpoint keys.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/types.h>

#include <utility>
#include <vector>

#include "ptune/config/model_config.h"
#include "ptune/model/projection.h"

namespace ptune {

// Per-layer K/V cache for incremental decoding. k[l], v[l]: (B, n_kv_heads, S, head_dim).
struct KVCache {
  std::vector<torch::Tensor> k, v;
  int64_t length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(2); }
  void truncate(int64_t len);  // drop positions >= len (speculative decoding rollback)
};

// Per-layer key/value prefixes (prefix tuning): (B, n_kv_heads, P, head_dim), not rotated.
using LayerPrefixes = std::vector<std::pair<torch::Tensor, torch::Tensor>>;

struct ForwardArgs {
  int64_t pos_offset = 0;               // RoPE position of input_ids[:, 0]
  const LayerPrefixes* prefix = nullptr;
  KVCache* cache = nullptr;             // appended to; attention sees cache + new tokens
};

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // computed in fp32, returned in x's dtype
  torch::Tensor weight;  // (dim)
  double eps;
};
TORCH_MODULE(RMSNorm);

// cos/sin tables for positions [0, max_len), fp32, (max_len, head_dim), HF layout
// (cat(freqs, freqs)); honours rope_scaling (linear, llama3, ...).
std::pair<torch::Tensor, torch::Tensor> rope_tables(const ModelConfig& c, int64_t max_len);
// x: (B, H, T, D); cos/sin: (T, D). Returns x*cos + rotate_half(x)*sin.
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b);
  // x: (B, T, d); cos/sin: (T, head_dim) for this chunk's positions.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        int64_t layer, const ForwardArgs& args);
  Projection q_proj, k_proj, v_proj, o_proj;
  int64_t n_heads, n_kv_heads, head_dim;
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  Projection gate_proj, up_proj, down_proj;
};
TORCH_MODULE(MLP);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        int64_t layer, const ForwardArgs& args);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};
  SublayerHook attn_hook, mlp_hook;  // optional (bottleneck adapters)
};
TORCH_MODULE(Block);

// "model" submodule of LlamaForCausalLM.
class LlamaModelImpl : public torch::nn::Module {
 public:
  LlamaModelImpl(const ModelConfig& c, const ModelBuilder& b);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& c, const ModelBuilder& b = {});
  // Final-normed hidden states (B, T, d) for input_ids (B, T) int64.
  torch::Tensor hidden(const torch::Tensor& input_ids, const ForwardArgs& args = {});
  // LM-head logits in fp32, (B, T, vocab).
  torch::Tensor logits(const torch::Tensor& hidden);
  torch::Tensor forward(const torch::Tensor& input_ids, const ForwardArgs& args = {}) {
    return logits(hidden(input_ids, args));
  }
  // The LM head weight (vocab, d): lm_head.weight, or embed_tokens.weight when tied.
  torch::Tensor head_weight() const;
  const ModelConfig& config() const { return config_; }

  LlamaModel model{nullptr};
  Projection lm_head;  // null when tie_word_embeddings

 private:
  ModelConfig config_;
  torch::Tensor cos_, sin_;  // (max_position_embeddings, head_dim) fp32 buffers (not saved)
};
TORCH_MODULE(Transformer);

// HF-named parameters and their values (for saving); tied lm_head is omitted, as HF does.
std::vector<std::pair<std::string, torch::Tensor>> model_state(torch::nn::Module& m);

// Mean next-token cross-entropy over targets != -100 (fp32), and its sum/count.
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets);
torch::Tensor lm_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace ptune
