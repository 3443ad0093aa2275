// Prefix encoder and the prefix-tuning method (PEFT tuners/prefix_tuning, peft_model.py
// get_prompt). Export writes PEFT's PREFIX_TUNING layout: one tensor prompt_embeddings
// (P, L*2*token_dim), the encoder output; reloading it gives a bare embedding (no MLP).
#include "ptune/peft/prefix.h"

#include <torch/torch.h>

#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"

namespace ptune {

PrefixEncoderImpl::PrefixEncoderImpl(int64_t P, int64_t token_dim, int64_t n_layers,
                                     bool projection, int64_t hidden) {
  const int64_t out = n_layers * 2 * token_dim;
  embedding = register_module("embedding", torch::nn::Embedding(P, projection ? token_dim : out));
  if (projection)
    transform = register_module(
        "transform", torch::nn::Sequential(torch::nn::Linear(token_dim, hidden), torch::nn::Tanh(),
                                           torch::nn::Linear(hidden, out)));
}

torch::Tensor PrefixEncoderImpl::forward() {
  // embedding(arange(P)) is the whole table
  return transform ? transform->forward(embedding->weight) : embedding->weight;
}

PrefixMethod::PrefixMethod(PrefixConfig c, const ModelConfig& m)
    : c_(std::move(c)),
      n_layers_(m.num_hidden_layers),
      n_kv_heads_(m.num_key_value_heads),
      head_dim_(m.resolved_head_dim()) {
  encoder_ = PrefixEncoder(c_.virtual_tokens, n_kv_heads_ * head_dim_, n_layers_, c_.projection,
                           c_.projection_hidden);
}

void PrefixMethod::attach(Transformer& model) {
  for (auto& p : model->parameters()) p.requires_grad_(false);
  model->register_module("prefix_encoder", encoder_);
  for (auto& p : encoder_->parameters()) p.requires_grad_(true);
}

LayerPrefixes PrefixMethod::prefixes() {
  const int64_t P = c_.virtual_tokens, KV = n_kv_heads_, D = head_dim_;
  auto flat = encoder_->forward();                                       // (P, L*2*KV*D)
  auto kv = flat.view({P, n_layers_ * 2, KV, D}).permute({1, 2, 0, 3});  // (2L, KV, P, D)
  LayerPrefixes out;
  for (int64_t l = 0; l < n_layers_; ++l)
    out.emplace_back(kv[2 * l].unsqueeze(0), kv[2 * l + 1].unsqueeze(0));  // (1, KV, P, D)
  return out;
}

ForwardArgs PrefixMethod::forward_args(int64_t) {
  current_ = prefixes();
  ForwardArgs a;
  a.prefix = &current_;
  a.pos_offset = c_.virtual_tokens;  // real tokens' positions start after the virtual ones
  return a;
}

void PrefixMethod::export_adapter(Transformer&, const std::string& dir,
                                  const std::string& base_path) const {
  AdapterFileConfig c;
  c.peft_type = "PREFIX_TUNING";
  c.base_model_name_or_path = base_path;
  c.num_virtual_tokens = c_.virtual_tokens;
  c.token_dim = n_kv_heads_ * head_dim_;
  c.num_layers = n_layers_;
  c.num_attention_heads = n_kv_heads_;
  c.encoder_hidden_size = c_.projection ? c_.projection_hidden : c.token_dim;
  c.prefix_projection = c_.projection;
  torch::NoGradGuard no_grad;
  write_adapter_config(dir, c);
  save_safetensors(dir + "/" + kAdapterWeightsFile,
                   {{"prompt_embeddings", encoder_->forward().detach().contiguous()}});
}

void PrefixMethod::load_adapter(Transformer& model, const std::string& dir) {
  const std::string file = dir + "/" + kAdapterWeightsFile;
  PTUNE_CHECK(!encoder_->transform, "prefix adapters load into a bare embedding");
  auto st = SafetensorsFile::open(file);
  if (!st->contains("prompt_embeddings"))
    usage_error("{}: adapter is missing key 'prompt_embeddings'", file);
  auto t = st->tensor("prompt_embeddings");
  auto& w = encoder_->embedding->weight;
  if (t.sizes() != w.sizes())
    usage_error(
        "{}: adapter key 'prompt_embeddings' has shape {}; the base model expects [{}, {}] "
        "(virtual tokens, layers {} * 2 * kv heads {} * head_dim {})",
        file, c10::str(t.sizes()), w.size(0), w.size(1), n_layers_, n_kv_heads_, head_dim_);
  torch::NoGradGuard no_grad;
  w.copy_(t);
}

}  // namespace ptune
