// LLaMA-family decoder (HF LlamaForCausalLM): embedding, N pre-norm blocks (block.h), final
// norm, LM head (optionally tied). Parameter names are the HF checkpoint keys; registration
// follows HF's state_dict order, so named_parameters() lists them as a checkpoint does.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "ptune/config/model_config.h"
#include "ptune/model/block.h"
#include "ptune/model/builder.h"
#include "ptune/model/kv_cache.h"
#include "ptune/model/rms_norm.h"

namespace ptune {

// What a forward sees before the new tokens. Positions: the RoPE position of input_ids[:, 0]
// is pos_offset when it is >= 0, else the number of keys before it (the cache's length after
// the model's key/value prefix has been seeded into it; 0 without cache or prefix).
// Packed sequences: `positions` (B, T) int64 are the tokens' positions counted from that
// base, restarting at 0 at each document; a token attends only within its document (and to
// the cache). Undefined = 0, 1, ..., T-1: one document per row.
struct ForwardArgs {
  KVCache* cache = nullptr;  // appended to; attention sees cache + new tokens
  int64_t pos_offset = -1;
  torch::Tensor positions = {};
};

// "model" submodule of LlamaForCausalLM.
class LlamaModelImpl : public torch::nn::Module {
 public:
  LlamaModelImpl(const ModelConfig& c, const ModelBuilder& b);
  // embed_tokens has padding_idx = pad_token_id when that is a valid id, as in HF (the pad
  // row gets no gradient).
  torch::nn::Embedding embed_tokens{nullptr};  // (vocab, d)
  torch::nn::ModuleList layers{nullptr};       // of Block, named "0".."N-1"
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
  // lm_loss_sum(logits(hidden), targets), `rows` positions at a time (chunked_lm_loss_sum) when
  // rows > 0 and the head is a plain weight; otherwise in one piece.
  torch::Tensor loss_sum(const torch::Tensor& hidden, const torch::Tensor& targets, int64_t rows);
  torch::Tensor forward(const torch::Tensor& input_ids, const ForwardArgs& args = {}) {
    return logits(hidden(input_ids, args));
  }
  // The LM head weight (vocab, d): lm_head.weight, or embed_tokens.weight when tied.
  torch::Tensor head_weight() const;
  const ModelConfig& config() const { return config_; }
  // The dtype activations compute in (fp32 | bf16 | fp16): hidden() casts the embedding
  // output to it, and mixed_linear casts the fp32 master weights to match.
  void set_compute_dtype(torch::ScalarType t) { compute_dtype_ = t; }
  torch::ScalarType compute_dtype() const { return compute_dtype_; }
  // Activation checkpointing: with autograd on and no caller's cache, every `every`-th block
  // (0, N, 2N, ...) keeps only its input and is recomputed in the backward; 0 = none.
  void set_activation_checkpointing(int64_t every) { checkpoint_every_ = every; }
  // cos/sin (T, head_dim) for positions [pos_offset, pos_offset + T) in `dtype` on `device`
  // (for callers that run blocks themselves, e.g. MTP heads); with `positions` (B, T),
  // (B, 1, T, head_dim) for positions pos_offset + positions. Extends the tables as needed.
  std::pair<torch::Tensor, torch::Tensor> rope(int64_t pos_offset, int64_t T,
                                               torch::ScalarType dtype, torch::Device device,
                                               const torch::Tensor& positions = {});
  // The builder's key/value prefix, null without one.
  const KVPrefix& kv_prefix() const { return kv_prefix_; }

  LlamaModel model{nullptr};
  Projection lm_head;  // null when tie_word_embeddings

 private:
  // Fills an empty cache with the key/value prefix, expanded to `batch` and cast to the
  // compute dtype.
  void seed_prefix(KVCache& cache, int64_t batch);

  ModelConfig config_;
  torch::ScalarType compute_dtype_ = torch::kFloat;
  int64_t checkpoint_every_ = 0;
  KVPrefix kv_prefix_;
  torch::Tensor cos_, sin_;  // (max_len, head_dim) fp32, not registered (not saved, not moved
                             // by to(): rope() follows the input's device)
};
TORCH_MODULE(Transformer);

// HF-named parameters and their values (for saving); tied lm_head is omitted, as HF does.
std::vector<std::pair<std::string, torch::Tensor>> model_state(torch::nn::Module& m);

}  // namespace ptune
