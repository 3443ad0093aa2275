// Parallel (Medusa) heads and sequential (DeepSeek-V3) MTP modules, their training forward
// and their greedy drafters for speculative decoding (see heads.h for the papers and the
// module equations).
#include "ptune/mtp/heads.h"

#include <torch/torch.h>

#include <algorithm>

#include "ptune/core/error.h"
#include "ptune/model/attention.h"
#include "ptune/ops/causal_attention.h"
#include "ptune/ops/mixed_precision.h"

namespace ptune {

ResBlockImpl::ResBlockImpl(int64_t d) {
  linear = register_module("linear", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(true)));
  torch::NoGradGuard no_grad;
  linear->weight.zero_();  // Medusa: W zero, b default-initialised
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) {
  // mixed_linear: casts the fp32 weight to x's dtype (bf16/fp16 compute, CPU fp16 emulation).
  return x + mixed_silu(mixed_linear(x, linear->weight) + linear->bias.to(x.scalar_type()));
}

NamedTensors MtpHeadsImpl::named_tensors() {
  NamedTensors out;
  for (const auto& p : named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  return out;
}

torch::Tensor shift_left(const torch::Tensor& ids, int64_t k, int64_t fill) {
  // (B, T) -> (B, T): out[:, t] = ids[:, t + k], fill where t + k >= T.
  const int64_t T = ids.size(1);
  auto out = torch::full_like(ids, fill);
  if (k < T) out.narrow(1, 0, T - k).copy_(ids.narrow(1, k, T - k));
  return out;
}

// ---- parallel -------------------------------------------------------------------------------

ParallelHeadsImpl::ParallelHeadsImpl(int64_t n, Transformer& model) {
  n_heads_ = n;
  const auto w = model->head_weight().detach();  // (V, d)
  const int64_t d = model->config().hidden_size;
  auto list = register_module("medusa_head", torch::nn::ModuleList());
  for (int64_t k = 0; k < n; ++k) {
    auto head = std::make_shared<torch::nn::Module>();
    ResBlock block(d);
    head->register_module("0", block);
    auto proj = std::make_shared<torch::nn::Module>();
    out_proj.push_back(proj->register_parameter("weight", w.to(torch::kFloat).clone()));
    head->register_module("1", proj);
    list->push_back(head);
    blocks.push_back(block);
  }
}

torch::Tensor ParallelHeadsImpl::head_hidden(int64_t k, const torch::Tensor& trunk,
                                             const torch::Tensor&, const torch::Tensor&,
                                             const torch::Tensor&, Transformer&) {
  PTUNE_CHECK(k >= 1 && k <= n_heads_, "head {} of {}", k, n_heads_);
  return blocks[k - 1]->forward(trunk);  // (B, T, d)
}

torch::Tensor ParallelHeadsImpl::head_logits(int64_t k, const torch::Tensor& hidden, Transformer&) {
  return mixed_linear(hidden, out_proj[k - 1].to(hidden.scalar_type()))
      .to(torch::kFloat);  // (B, T, V)
}

namespace {

class ParallelDrafter : public Drafter {
 public:
  ParallelDrafter(ParallelHeadsImpl* heads, Transformer model)
      : heads_(heads), model_(std::move(model)) {}
  std::vector<int64_t> draft(const std::vector<int64_t>&, const torch::Tensor& hidden) override {
    auto last = hidden[0][hidden.size(1) - 1];  // (d)
    std::vector<int64_t> out;
    for (int64_t k = 1; k <= heads_->n_heads(); ++k) {
      auto h = heads_->head_hidden(k, last, last, {}, {}, model_);  // (d)
      // One position: matrix-vector product (a (1, d) x (d, V) GEMM would repack W each call).
      auto w = heads_->out_proj[k - 1];
      out.push_back(torch::mv(w, h.to(w.scalar_type())).argmax().item<int64_t>());
    }
    return out;
  }

 private:
  ParallelHeadsImpl* heads_;
  Transformer model_;
};

}  // namespace

std::unique_ptr<Drafter> ParallelHeadsImpl::drafter(Transformer& model) {
  return std::make_unique<ParallelDrafter>(this, model);
}

// ---- sequential -----------------------------------------------------------------------------

SequentialModuleImpl::SequentialModuleImpl(const ModelConfig& c, const std::string& path) {
  const int64_t d = c.hidden_size;
  enorm = register_module("enorm", RMSNorm(d, c.rms_norm_eps));
  hnorm = register_module("hnorm", RMSNorm(d, c.rms_norm_eps));
  eh_proj =
      register_module("eh_proj", torch::nn::Linear(torch::nn::LinearOptions(2 * d, d).bias(false)));
  {
    torch::NoGradGuard no_grad;
    eh_proj->weight.normal_(0.0, 0.02);
  }
  block = register_module("block", Block(c, path + ".block", ModelBuilder{}));
  norm = register_module("norm", RMSNorm(d, c.rms_norm_eps));
}

torch::Tensor SequentialModuleImpl::forward(const torch::Tensor& prev, const torch::Tensor& ids,
                                            Transformer& model, LayerKV* kv,
                                            const torch::Tensor& positions) {
  // prev (B, T, d), ids (B, T): h' = eh_proj([enorm(Emb(ids)); hnorm(prev)]) (B, T, d)
  auto e = enorm->forward(model->model->embed_tokens->forward(ids));
  auto x = mixed_linear(torch::cat({e, hnorm->forward(prev).to(e.scalar_type())}, -1),
                        eh_proj->weight.to(e.scalar_type()));
  const int64_t T = x.size(1);
  const int64_t n_past = kv ? kv->length() : 0;
  auto [cos, sin] = model->rope(n_past, T, x.scalar_type(), x.device(), positions);
  const auto doc_start = positions.defined() ? document_starts(positions) : torch::Tensor();
  return block->forward(x, cos, sin, kv, doc_start);
}

SequentialHeadsImpl::SequentialHeadsImpl(int64_t n, Transformer& model) {
  n_heads_ = n;
  layers = register_module("mtp_layers", torch::nn::ModuleList());
  for (int64_t k = 0; k < n; ++k) {
    SequentialModule m(model->config(), "mtp_layers." + std::to_string(k));
    layers->push_back(m);
    modules.push_back(m);
  }
}

torch::Tensor SequentialHeadsImpl::head_hidden(int64_t k, const torch::Tensor&,
                                               const torch::Tensor& prev,
                                               const torch::Tensor& input_ids,
                                               const torch::Tensor& positions, Transformer& model) {
  PTUNE_CHECK(k >= 1 && k <= n_heads_, "module {} of {}", k, n_heads_);
  // Position i pairs h^(k-1)_i with t_(i+k) = input_ids[i+k]; the filled tail positions
  // only feed positions whose labels are ignored (causal attention keeps them out of the rest).
  const int64_t pad = std::max<int64_t>(0, model->config().pad_token_id);
  return modules[k - 1]->forward(prev, shift_left(input_ids, k, pad), model, nullptr, positions);
}

torch::Tensor SequentialHeadsImpl::head_logits(int64_t k, const torch::Tensor& hidden,
                                               Transformer& model) {
  return model->logits(modules[k - 1]->norm->forward(hidden));
}

namespace {

// Module k at position i needs h^(k-1)_i and t_(i+k). Positions whose tokens are all
// committed (i + k <= last committed index) are kept in the module's KV cache and hidden
// history; the rest are recomputed each round with the current drafts.
class SequentialDrafter : public Drafter {
 public:
  SequentialDrafter(SequentialHeadsImpl* heads, Transformer model)
      : heads_(heads),
        model_(std::move(model)),
        caches_(heads->n_heads()),
        hist_(heads->n_heads() + 1) {}

  std::vector<int64_t> draft(const std::vector<int64_t>& tokens,
                             const torch::Tensor& hidden) override {
    const int64_t K = heads_->n_heads(), N = static_cast<int64_t>(tokens.size());
    const int64_t n = N - 2;  // last position with a base hidden state
    hist_[0] = hist_[0].defined() ? torch::cat({hist_[0], hidden}, 1) : hidden;  // (1, n+1, d)
    PTUNE_CHECK(hist_[0].size(1) == n + 1, "drafter: {} hidden states for {} tokens",
                hist_[0].size(1), N);
    std::vector<int64_t> ext(tokens);
    std::vector<int64_t> drafts;
    torch::Tensor prev_full = hist_[0];  // h^(k-1) for positions 0..n
    for (int64_t k = 1; k <= K; ++k) {
      LayerKV& cache = caches_[k - 1];
      const int64_t c = cache.length();  // committed positions of module k
      std::vector<int64_t> ids(ext.begin() + c + k, ext.begin() + n + k + 1);
      auto ids_t = torch::tensor(ids, torch::kLong).unsqueeze(0);  // (1, n - c + 1)
      auto h =
          heads_->modules[k - 1]->forward(prev_full.narrow(1, c, n - c + 1), ids_t, model_, &cache);
      const int64_t d =
          heads_->head_logits(k, h.narrow(1, h.size(1) - 1, 1), model_).argmax(-1).item<int64_t>();
      drafts.push_back(d);
      ext.push_back(d);
      auto& hk = hist_[k];
      auto full = hk.defined() ? torch::cat({hk, h}, 1) : h;  // (1, n+1, d)
      const int64_t keep = std::clamp<int64_t>(n + 2 - k, 0, n + 1);
      cache.truncate(std::max(c, keep));
      hk = full.narrow(1, 0, std::max(c, keep));
      prev_full = full;
    }
    return drafts;
  }

 private:
  SequentialHeadsImpl* heads_;
  Transformer model_;
  std::vector<LayerKV> caches_;      // per module
  std::vector<torch::Tensor> hist_;  // [0]: base hidden, [k]: module k outputs (1, L, d)
};

}  // namespace

std::unique_ptr<Drafter> SequentialHeadsImpl::drafter(Transformer& model) {
  return std::make_unique<SequentialDrafter>(this, model);
}

MtpHeads make_mtp_heads(const MtpConfig& m, Transformer& model) {
  if (m.heads <= 0) usage_error("mtp.heads: must be > 0, got {}", m.heads);
  if (m.style == MtpStyle::kParallel) return std::make_shared<ParallelHeadsImpl>(m.heads, model);
  if (m.style == MtpStyle::kSequential)
    return std::make_shared<SequentialHeadsImpl>(m.heads, model);
  usage_error("mtp.style: expected parallel or sequential, got '{}'", name_of(m.style));
}

}  // namespace ptune
