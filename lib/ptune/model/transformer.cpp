// HF LlamaForCausalLM (see transformer.h).
#include "ptune/model/transformer.h"

#include <torch/torch.h>

#include <algorithm>

#include "ptune/config/size_limits.h"
#include "ptune/core/error.h"
#include "ptune/model/attention.h"
#include "ptune/model/block_checkpoint.h"
#include "ptune/model/loss.h"
#include "ptune/model/rope.h"
#include "ptune/model/weight_init.h"
#include "ptune/ops/causal_attention.h"

namespace ptune {

LlamaModelImpl::LlamaModelImpl(const ModelConfig& c, const ModelBuilder& b) {
  auto opts = torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size);
  const bool has_pad = c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size;
  if (has_pad) opts.padding_idx(c.pad_token_id);
  // A given weight is not initialised by Embedding (the checkpoint's is loaded into it).
  if (weight_init_skipped()) opts._weight(torch::empty({c.vocab_size, c.hidden_size}));
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(opts));
  if (!weight_init_skipped()) {
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
  if (b.kv_prefix) {
    auto [name, prefix] = b.kv_prefix(c);
    if (prefix) kv_prefix_ = register_module(name, prefix);
  }
}

std::pair<torch::Tensor, torch::Tensor> TransformerImpl::rope(int64_t pos_offset, int64_t T,
                                                              torch::ScalarType dtype,
                                                              torch::Device device,
                                                              const torch::Tensor& positions) {
  if (pos_offset < 0) usage_error("forward: pos_offset must be >= 0, got {}", pos_offset);
  int64_t end = pos_offset + T;  // one past the last position
  if (positions.defined()) {
    PTUNE_CHECK(positions.dim() == 2 && positions.size(1) == T,
                "forward: positions must be (batch, {}), got {} dims", T, positions.dim());
    const int64_t lo = positions.numel() ? positions.min().item<int64_t>() : 0;
    if (lo < 0) usage_error("forward: positions must be >= 0, got {}", lo);
    end = pos_offset + (positions.numel() ? positions.max().item<int64_t>() + 1 : 0);
  }
  if (end > kMaxPositions)
    usage_error("forward: pos_offset + tokens must be <= {}, got {}; {}", kMaxPositions, end,
                kMaxPositionsWhy);
  if (end > cos_.size(0)) {
    // Longer than max_position_embeddings: extend (doubling) rather than fail.
    std::tie(cos_, sin_) = rope_tables(config_, std::max(end, 2 * cos_.size(0)));
  }
  if (cos_.device() != device) {
    cos_ = cos_.to(device);
    sin_ = sin_.to(device);
  }
  if (!positions.defined())
    return {cos_.narrow(0, pos_offset, T).to(dtype), sin_.narrow(0, pos_offset, T).to(dtype)};
  const auto index = (positions.to(device, torch::kLong) + pos_offset).flatten();
  const int64_t B = positions.size(0), D = cos_.size(1);
  auto gather = [&](const torch::Tensor& table) {
    return table.index_select(0, index).view({B, 1, T, D}).to(dtype);  // (B, 1, T, D)
  };
  return {gather(cos_), gather(sin_)};
}

void TransformerImpl::seed_prefix(KVCache& cache, int64_t batch) {
  std::vector<LayerKV> prefix = kv_prefix_->forward();  // per layer (1, KV, P, D)
  const int64_t n_layers = static_cast<int64_t>(model->blocks.size());
  if (static_cast<int64_t>(prefix.size()) != n_layers)
    runtime_error("forward: the key/value prefix has {} layers, the model has {}", prefix.size(),
                  n_layers);
  for (int64_t l = 0; l < n_layers; ++l) {
    const auto& [k, v] = prefix[l];
    auto& dst = cache.layers[l];
    dst.k = k.to(compute_dtype_).expand({batch, k.size(1), k.size(2), k.size(3)});
    dst.v = v.to(compute_dtype_).expand({batch, v.size(1), v.size(2), v.size(3)});
  }
}

torch::Tensor TransformerImpl::hidden(const torch::Tensor& input_ids, const ForwardArgs& args) {
  PTUNE_CHECK(input_ids.dim() == 2, "input_ids must be (B, T), got {} dims", input_ids.dim());
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t n_layers = static_cast<int64_t>(model->blocks.size());
  KVCache local;  // the prefix's keys when the caller keeps no cache
  KVCache* cache = args.cache ? args.cache : kv_prefix_ ? &local : nullptr;
  if (cache) {
    if (static_cast<int64_t>(cache->layers.size()) < n_layers) cache->layers.resize(n_layers);
    if (kv_prefix_ && cache->length() == 0) seed_prefix(*cache, B);
  }
  const int64_t n_past = cache ? cache->length() : 0;
  auto x = model->embed_tokens->forward(input_ids);                 // (B, T, d)
  if (x.scalar_type() != compute_dtype_) x = x.to(compute_dtype_);  // precision policy
  const int64_t pos0 = args.pos_offset >= 0 ? args.pos_offset : n_past;
  auto [cos, sin] = rope(pos0, T, x.scalar_type(), x.device(), args.positions);
  const auto doc_start =
      args.positions.defined() ? document_starts(args.positions) : torch::Tensor();
  const bool recompute = checkpoint_every_ > 0 && !args.cache && torch::GradMode::is_enabled();
  for (int64_t l = 0; l < n_layers; ++l) {
    LayerKV* kv = cache ? &cache->layers[l] : nullptr;
    if (recompute && l % checkpoint_every_ == 0)
      x = checkpointed_block(model->blocks[l], x, cos, sin, kv, doc_start);
    else
      x = model->blocks[l]->forward(x, cos, sin, kv, doc_start);
  }
  return model->norm->forward(x);
}

torch::Tensor TransformerImpl::logits(const torch::Tensor& h) {
  // (B, T, d) -> (B, T, vocab) fp32
  auto out = lm_head ? lm_head->forward(h) : mixed_linear(h, model->embed_tokens->weight);
  return out.to(torch::kFloat);
}

torch::Tensor TransformerImpl::loss_sum(const torch::Tensor& hidden, const torch::Tensor& targets,
                                        int64_t rows) {
  const bool plain_head = !lm_head || std::dynamic_pointer_cast<LinearImpl>(lm_head);
  if (rows <= 0 || !plain_head) return lm_loss_sum(logits(hidden), targets);
  return chunked_lm_loss_sum(hidden, head_weight(), targets, rows);
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
