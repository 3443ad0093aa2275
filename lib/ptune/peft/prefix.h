// Prefix tuning (Li & Liang 2021, arXiv:2101.00190) with PEFT's semantics: per-layer key and
// value prefixes from a PrefixEncoder (embedding (P, L*2*token_dim), or embedding (P,
// token_dim) -> Linear -> Tanh -> Linear with `projection`), token_dim = n_kv_heads *
// head_dim. The flat vector per virtual token is [L0.K, L0.V, L1.K, ...]; prefix keys are
// not rotated and real tokens' positions start at P. Parameters: prefix_encoder.*.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>

#include "ptune/peft/method.h"

namespace ptune {

// The model's key/value prefix (model/kv_cache.h), installed by the method's builder as the
// model's "prefix_encoder".
class PrefixEncoderImpl : public KVPrefixImpl {
 public:
  PrefixEncoderImpl(int64_t virtual_tokens, int64_t n_kv_heads, int64_t head_dim, int64_t n_layers,
                    bool projection, int64_t hidden);
  torch::Tensor flat();  // (P, n_layers * 2 * token_dim): PEFT's prompt_embeddings
  // flat() as per-layer (1, n_kv_heads, P, head_dim) K/V pairs.
  std::vector<LayerKV> forward() override;
  torch::nn::Embedding embedding{nullptr};                 // (P, token_dim) or (P, L*2*token_dim)
  torch::nn::Sequential transform{nullptr};                // Linear, Tanh, Linear when projecting
  int64_t virtual_tokens, n_kv_heads, head_dim, n_layers;  // 8, 4, 64, 22
};
TORCH_MODULE(PrefixEncoder);

class PrefixMethod : public Method {
 public:
  PrefixMethod(PrefixConfig c, const ModelConfig& m);
  MethodType type() const override { return MethodType::kPrefix; }
  // Installs the encoder as the model's key/value prefix.
  ModelBuilder builder() override;
  std::vector<std::string> own_params(Transformer& model) override;
  // Freezes the base; the encoder stays trainable.
  void attach(Transformer& model) override;
  void export_adapter(Transformer& model, const std::string& dir,
                      const std::string& base_path) const override;
  void load_adapter(Transformer& model, const std::string& dir) override;
  bool is_peft() const override { return true; }
  bool can_merge() const override { return false; }

 private:
  PrefixConfig c_;
  int64_t n_layers_, n_kv_heads_, head_dim_;
  mutable PrefixEncoder encoder_{nullptr};  // mutable: export runs it from a const method
};

}  // namespace ptune
