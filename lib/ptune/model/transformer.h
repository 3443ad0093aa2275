// LLaMA-family decoder (HF LlamaForCausalLM): embedding, N pre-norm blocks (RMSNorm,
// GQA self-attention with RoPE in HF rotate_half layout, RMSNorm, SwiGLU MLP), final norm,
// LM head (optionally tied). Parameter names are the HF checkpoint keys.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/types.h>

#include <string>
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

// Per-layer key/value prefixes (prefix tuning): (B or 1, n_kv_heads, P, head_dim), not
// rotated; cast to the compute dtype. Gradients flow into them.
using LayerPrefixes = std::vector<std::pair<torch::Tensor, torch::Tensor>>;

// The caller owns positions: with a cache, pos_offset is the position after the cached
// tokens; with a PEFT-style prefix of length P, real tokens start at P (pos_offset = P + ...).
struct ForwardArgs {
  int64_t pos_offset = 0;                 // RoPE position of input_ids[:, 0]
  const LayerPrefixes* prefix = nullptr;  // one (k, v) per layer, always visible
  KVCache* cache = nullptr;               // appended to; attention sees cache + new tokens
};

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // computed in fp32, returned in x's dtype
  torch::Tensor weight;                           // (dim)
  double eps;
};
TORCH_MODULE(RMSNorm);

// RMSNorm as a function: x (..., dim), weight (dim) cast to x's dtype. rms_norm runs a fused
// kernel for fp32 and bf16 on CPU; rms_norm_ops is the tensor-op definition (all other cases).
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
torch::Tensor rms_norm_ops(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// cos/sin tables for positions [0, max_len), fp32, (max_len, head_dim), HF layout
// (cat(freqs, freqs)); honours rope_scaling (linear, llama3, ...).
std::pair<torch::Tensor, torch::Tensor> rope_tables(const ModelConfig& c, int64_t max_len);
// x: (B, H, T, D); cos/sin: (T, D). Returns x*cos + rotate_half(x)*sin.
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos,
                         const torch::Tensor& sin);

// Additive attention mask (T, n_past + T) in `dtype`: 0 where new token i may attend key j,
// -inf where j > n_past + i. n_past counts the keys before the new tokens (prefix + cache),
// all of which are visible. Undefined when nothing is masked (T == 1).
torch::Tensor causal_mask(int64_t T, int64_t n_past, torch::ScalarType dtype, torch::Device device);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const std::string& path, const ModelBuilder& b);
  // x: (B, T, d); cos/sin: (T, head_dim) for this chunk's positions, in x's dtype.
  // `mask`: causal_mask(T, P + S, ...) shared by all layers; built here when undefined. It
  // must be that causal mask: long inputs are computed in row chunks that skip masked keys.
  // Keys are [prefix (P, not rotated), cache (S), new tokens (T)]; new keys are appended to
  // args.cache. For PEFT prefix semantics the caller passes pos_offset = P.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        int64_t layer, const ForwardArgs& args, const torch::Tensor& mask = {});
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
  // h = x + attn_hook(attn(norm1(x))); out = h + mlp_hook(mlp(norm2(h))). See Attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        int64_t layer, const ForwardArgs& args, const torch::Tensor& mask = {});
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
  // embed_tokens has padding_idx = pad_token_id when that is a valid id, as in HF (the pad
  // row gets no gradient).
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};  // of Block, named "0".."N-1"
  RMSNorm norm{nullptr};
  std::vector<Block> blocks;  // the same modules as `layers`, typed (not registered twice)
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
  // Precision policy (lib/ptune/precision): hidden() casts the embedding output to this
  // dtype, so blocks compute in it (ptune::linear casts the fp32 master weights to match).
  void set_compute_dtype(torch::ScalarType t) { compute_dtype_ = t; }
  torch::ScalarType compute_dtype() const { return compute_dtype_; }
  // cos/sin (T, head_dim) for positions [pos_offset, pos_offset + T) in `dtype` on `device`
  // (for callers that run blocks themselves, e.g. MTP heads). Extends the tables as needed.
  std::pair<torch::Tensor, torch::Tensor> rope(int64_t pos_offset, int64_t T,
                                               torch::ScalarType dtype, torch::Device device);

  LlamaModel model{nullptr};
  Projection lm_head;  // null when tie_word_embeddings

 private:
  ModelConfig config_;
  torch::ScalarType compute_dtype_ = torch::kFloat;  // fp32 | bf16 | fp16
  torch::Tensor cos_, sin_;  // (max_len, head_dim) fp32, not registered (not saved, not moved
                             // by to(): rope() follows the input's device)
};
TORCH_MODULE(Transformer);

// HF-named parameters and their values (for saving); tied lm_head is omitted, as HF does.
std::vector<std::pair<std::string, torch::Tensor>> model_state(torch::nn::Module& m);

// Next-token cross-entropy, targets already shifted (targets[b, t] is predicted at t).
// logits (B, T, V) fp32, targets (B, T) int64. lm_loss: mean over targets != -100 (0 when
// there are none); lm_loss_sum: their sum.
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets);
torch::Tensor lm_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace ptune
