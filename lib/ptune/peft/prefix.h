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

class PrefixEncoderImpl : public torch::nn::Module {
 public:
  PrefixEncoderImpl(int64_t virtual_tokens, int64_t token_dim, int64_t n_layers, bool projection,
                    int64_t hidden);
  torch::Tensor forward();                   // (P, n_layers * 2 * token_dim)
  torch::nn::Embedding embedding{nullptr};   // (P, token_dim) or (P, L*2*token_dim)
  torch::nn::Sequential transform{nullptr};  // Linear, Tanh, Linear when projecting
};
TORCH_MODULE(PrefixEncoder);

class PrefixMethod : public Method {
 public:
  PrefixMethod(PrefixConfig c, const ModelConfig& m);
  std::string name() const override { return "prefix"; }
  // Freezes the base and registers the encoder as the model's "prefix_encoder".
  void attach(Transformer& model) override;
  ForwardArgs forward_args(int64_t batch_size) override;
  void export_adapter(Transformer& model, const std::string& dir,
                      const std::string& base_path) const override;
  void load_adapter(Transformer& model, const std::string& dir) override;
  bool is_peft() const override { return true; }
  bool can_merge() const override { return false; }

  // The encoder output as per-layer (1, n_kv_heads, P, head_dim) K/V pairs.
  LayerPrefixes prefixes();

 private:
  PrefixConfig c_;
  int64_t n_layers_, n_kv_heads_, head_dim_;
  mutable PrefixEncoder encoder_{nullptr};  // mutable: export runs it from a const method
  LayerPrefixes current_;                   // what forward_args last pointed at
};

}  // namespace ptune
