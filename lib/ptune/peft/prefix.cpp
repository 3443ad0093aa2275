// Prefix encoder and the prefix-tuning method (PEFT tuners/prefix_tuning, peft_model.py
// get_prompt). Export writes PEFT's PREFIX_TUNING layout: one tensor prompt_embeddings
// (P, L*2*token_dim), the encoder output; reloading it gives a bare embedding (no MLP).
#include "ptune/peft/prefix.h"

#include <torch/torch.h>

#include "ptune/core/error.h"
#include "ptune/io/adapter_config.h"

namespace ptune {

namespace {
const std::string kEncoderName = "prefix_encoder";
}  // namespace

PrefixEncoderImpl::PrefixEncoderImpl(int64_t P, int64_t KV, int64_t D, int64_t L, bool projection,
                                     int64_t hidden)
    : virtual_tokens(P), n_kv_heads(KV), head_dim(D), n_layers(L) {
  const int64_t token_dim = KV * D, out = L * 2 * token_dim;
  embedding = register_module("embedding", torch::nn::Embedding(P, projection ? token_dim : out));
  if (projection)
    transform = register_module(
        "transform", torch::nn::Sequential(torch::nn::Linear(token_dim, hidden), torch::nn::Tanh(),
                                           torch::nn::Linear(hidden, out)));
}

torch::Tensor PrefixEncoderImpl::flat() {
  // embedding(arange(P)) is the whole table
  return transform ? transform->forward(embedding->weight) : embedding->weight;
}

std::vector<LayerKV> PrefixEncoderImpl::forward() {
  const int64_t P = virtual_tokens, KV = n_kv_heads, D = head_dim;
  auto kv = flat().view({P, n_layers * 2, KV, D}).permute({1, 2, 0, 3});  // (2L, KV, P, D)
  std::vector<LayerKV> out;
  for (int64_t l = 0; l < n_layers; ++l)
    out.push_back({kv[2 * l].unsqueeze(0), kv[2 * l + 1].unsqueeze(0)});  // (1, KV, P, D)
  return out;
}

PrefixMethod::PrefixMethod(PrefixConfig c, const ModelConfig& m)
    : c_(std::move(c)),
      n_layers_(m.num_hidden_layers),
      n_kv_heads_(m.num_key_value_heads),
      head_dim_(m.resolved_head_dim()) {
  encoder_ = PrefixEncoder(c_.virtual_tokens, n_kv_heads_, head_dim_, n_layers_, c_.projection,
                           c_.projection_hidden);
}

ModelBuilder PrefixMethod::builder() {
  ModelBuilder b;
  b.kv_prefix = [this](const ModelConfig&) {
    return std::pair<std::string, KVPrefix>{kEncoderName, encoder_.ptr()};
  };
  return b;
}

std::vector<std::string> PrefixMethod::own_params(Transformer&) {
  return {kEncoderName + "."};
}

void PrefixMethod::attach(Transformer& model) {
  for (auto& p : model->parameters()) p.requires_grad_(false);
  for (auto& p : encoder_->parameters()) p.requires_grad_(true);
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
                   {{"prompt_embeddings", encoder_->flat().detach().contiguous()}});
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
