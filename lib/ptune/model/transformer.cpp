// HF LlamaForCausalLM: "model" (embed_tokens, layers.N, norm) and "lm_head" (absent when tied).
// Registration order follows HF's state_dict so named_parameters() lists the checkpoint keys.
#include <torch/torch.h>

#include <algorithm>

#include "ptune/config/size_limits.h"
#include "ptune/core/error.h"
#include "ptune/model/transformer.h"

namespace ptune {

LlamaModelImpl::LlamaModelImpl(const ModelConfig& c, const ModelBuilder& b) {
  auto opts = torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size);
  const bool has_pad = c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size;
  if (has_pad) opts.padding_idx(c.pad_token_id);
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(opts));
  {
    torch::NoGradGuard no_grad;  // HF _init_weights: normal(0, 0.02), pad row zero
    embed_tokens->weight.normal_(0.0, 0.02);
    if (has_pad) embed_tokens->weight[c.pad_token_id].zero_();
  }
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    Block block(c, "model.layers." + std::to_string(i), b);
    layers->push_back(block);
    blocks.push_back(block);
  }
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

TransformerImpl::TransformerImpl(const ModelConfig& c, const ModelBuilder& b) : config_(c) {
  validate(c);
  std::tie(cos_, sin_) = rope_tables(c, c.max_position_embeddings);  // rejects bad rope_scaling
  model = register_module("model", LlamaModel(c, b));
  if (!c.tie_word_embeddings)
    lm_head =
        register_module("lm_head", make_projection(b, "lm_head", c.hidden_size, c.vocab_size));
}

std::pair<torch::Tensor, torch::Tensor> TransformerImpl::rope(int64_t pos_offset, int64_t T,
                                                              torch::ScalarType dtype,
                                                              torch::Device device) {
  if (pos_offset < 0) usage_error("forward: pos_offset must be >= 0, got {}", pos_offset);
  if (pos_offset + T > kMaxPositions)
    usage_error("forward: pos_offset + tokens must be <= {}, got {}; {}", kMaxPositions,
                pos_offset + T, kMaxPositionsWhy);
  if (pos_offset + T > cos_.size(0)) {
    // Longer than max_position_embeddings: extend (doubling) rather than fail.
    std::tie(cos_, sin_) = rope_tables(config_, std::max(pos_offset + T, 2 * cos_.size(0)));
  }
  if (cos_.device() != device) {
    cos_ = cos_.to(device);
    sin_ = sin_.to(device);
  }
  return {cos_.narrow(0, pos_offset, T).to(dtype), sin_.narrow(0, pos_offset, T).to(dtype)};
}

torch::Tensor TransformerImpl::hidden(const torch::Tensor& input_ids, const ForwardArgs& args) {
  PTUNE_CHECK(input_ids.dim() == 2, "input_ids must be (B, T), got {} dims", input_ids.dim());
  const int64_t T = input_ids.size(1);
  const int64_t n_layers = static_cast<int64_t>(model->blocks.size());
  int64_t n_past = 0;
  if (args.prefix) {
    if (static_cast<int64_t>(args.prefix->size()) != n_layers)
      runtime_error("forward: prefix has {} layers, the model has {}", args.prefix->size(),
                    n_layers);
    if (n_layers > 0) n_past += (*args.prefix)[0].first.size(2);
  }
  if (args.cache) {
    n_past += args.cache->length();
    if (static_cast<int64_t>(args.cache->k.size()) < n_layers) {
      args.cache->k.resize(n_layers);
      args.cache->v.resize(n_layers);
    }
  }
  auto x = model->embed_tokens->forward(input_ids);                         // (B, T, d)
  if (x.scalar_type() != compute_dtype_) x = x.to(compute_dtype_);          // precision policy
  auto [cos, sin] = rope(args.pos_offset, T, x.scalar_type(), x.device());  // (T, head_dim)
  auto mask = causal_mask(T, n_past, x.scalar_type(), x.device());          // (T, n_past + T)
  for (int64_t l = 0; l < n_layers; ++l) x = model->blocks[l]->forward(x, cos, sin, l, args, mask);
  return model->norm->forward(x);
}

torch::Tensor TransformerImpl::logits(const torch::Tensor& h) {
  // (B, T, d) -> (B, T, vocab) fp32
  auto out = lm_head ? lm_head->forward(h) : ptune::linear(h, model->embed_tokens->weight);
  return out.to(torch::kFloat);
}

torch::Tensor TransformerImpl::head_weight() const {
  return lm_head ? lm_head->base_weight() : model->embed_tokens->weight;
}

std::vector<std::pair<std::string, torch::Tensor>> model_state(torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : m.named_parameters(/*recurse=*/true))
    out.emplace_back(item.key(), item.value());
  return out;
}

}  // namespace ptune
