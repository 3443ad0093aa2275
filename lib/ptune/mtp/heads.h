// Multi-token-prediction heads on top of a Transformer trunk. parallel = Medusa heads (Cai et al.
// 2024; Gloeckle et al. 2024): head k reads the trunk's final-normed hidden state h_t through
// ResBlock x + SiLU(W x + b) (W zero-init) and its own output projection (a copy of the LM head);
// it predicts token t+1+k. sequential = DeepSeek-V3 MTP modules (arXiv 2412.19437 §2.2): module k
// combines RMSNorm(h^(k-1)_t) and RMSNorm(Emb(t_(t+k))) through eh_proj (2d -> d, order [emb;
// hidden] as vLLM/SGLang), runs one trunk-type block with RoPE, then its own norm and the shared LM
// head; it predicts token t+1+k too. Heads are numbered k = 1..K everywhere.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <memory>
#include <string>
#include <vector>

#include "ptune/config/recipe.h"
#include "ptune/io/safetensors.h"
#include "ptune/model/transformer.h"

namespace ptune {

// Medusa ResBlock: x + SiLU(linear(x)), linear d -> d with bias; weight zero-initialised,
// bias keeps nn.Linear's default init as Medusa does.
class ResBlockImpl : public torch::nn::Module {
 public:
  explicit ResBlockImpl(int64_t d);
  torch::Tensor forward(const torch::Tensor& x);  // (..., d) -> (..., d)
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(ResBlock);

// Per-sequence drafting state for speculative decoding (one per generated sequence).
class Drafter {
 public:
  virtual ~Drafter() = default;
  // `tokens`: the committed sequence so far, including the base model's newest token (not
  // yet in the base KV cache). `hidden`: base final-normed hidden states (1, m, d) of the
  // positions committed since the last call, the last of which predicted tokens.back().
  // Returns K draft tokens for the positions after tokens.back() (greedy: argmax of each head).
  virtual std::vector<int64_t> draft(const std::vector<int64_t>& tokens,
                                     const torch::Tensor& hidden) = 0;
};

class MtpHeadsImpl : public torch::nn::Module {
 public:
  virtual MtpStyle style() const = 0;
  int64_t n_heads() const { return n_heads_; }
  // Head k's hidden state (B, T, d). `trunk`: trunk hidden (B, T, d); `prev`: head k-1's
  // hidden (the trunk for k = 1); `input_ids` (B, T); `positions`: packed documents' positions
  // as ForwardArgs::positions (or undefined). Parallel heads read `trunk`, sequential modules
  // read `prev` and the input tokens shifted left by k, attending within documents.
  virtual torch::Tensor head_hidden(int64_t k, const torch::Tensor& trunk,
                                    const torch::Tensor& prev, const torch::Tensor& input_ids,
                                    const torch::Tensor& positions, Transformer& model) = 0;
  // Head k's logits (B, T, V) fp32 from its hidden state.
  virtual torch::Tensor head_logits(int64_t k, const torch::Tensor& hidden, Transformer& model) = 0;
  virtual std::unique_ptr<Drafter> drafter(Transformer& model) = 0;
  // Heads' parameters with their names in mtp_heads.safetensors.
  NamedTensors named_tensors();

 protected:
  int64_t n_heads_ = 0;
};
using MtpHeads = std::shared_ptr<MtpHeadsImpl>;

// Head k: medusa_head.{k-1}.0.linear.{weight,bias} (ResBlock), medusa_head.{k-1}.1.weight
// (V x d output projection), the key layout of FasterDecoding/Medusa.
class ParallelHeadsImpl : public MtpHeadsImpl {
 public:
  // Output projections start as copies of model's LM head weight.
  ParallelHeadsImpl(int64_t n_heads, Transformer& model);
  MtpStyle style() const override { return MtpStyle::kParallel; }
  torch::Tensor head_hidden(int64_t k, const torch::Tensor& trunk, const torch::Tensor& prev,
                            const torch::Tensor& input_ids, const torch::Tensor& positions,
                            Transformer& model) override;
  torch::Tensor head_logits(int64_t k, const torch::Tensor& hidden, Transformer& model) override;
  std::unique_ptr<Drafter> drafter(Transformer& model) override;
  std::vector<ResBlock> blocks;
  std::vector<torch::Tensor> out_proj;  // (V, d) each
};

// Module k: mtp_layers.{k-1}.{enorm,hnorm}.weight, .eh_proj.weight (d x 2d),
// .block.* (a LLaMA decoder layer with HF names), .norm.weight; Emb and LM head are the
// trunk's (shared, not saved here).
class SequentialModuleImpl : public torch::nn::Module {
 public:
  SequentialModuleImpl(const ModelConfig& c, const std::string& path);
  RMSNorm enorm{nullptr}, hnorm{nullptr}, norm{nullptr};
  torch::nn::Linear eh_proj{nullptr};
  Block block{nullptr};
  // prev (B, T, d), ids (B, T) the tokens t_(i+k); kv: the module's own KV cache, whose
  // length is the first new position (none: positions from 0); positions as in ForwardArgs.
  // Returns h^k (B, T, d) before `norm`.
  torch::Tensor forward(const torch::Tensor& prev, const torch::Tensor& ids, Transformer& model,
                        LayerKV* kv = nullptr, const torch::Tensor& positions = {});
};
TORCH_MODULE(SequentialModule);

class SequentialHeadsImpl : public MtpHeadsImpl {
 public:
  SequentialHeadsImpl(int64_t n_heads, Transformer& model);
  MtpStyle style() const override { return MtpStyle::kSequential; }
  torch::Tensor head_hidden(int64_t k, const torch::Tensor& trunk, const torch::Tensor& prev,
                            const torch::Tensor& input_ids, const torch::Tensor& positions,
                            Transformer& model) override;
  torch::Tensor head_logits(int64_t k, const torch::Tensor& hidden, Transformer& model) override;
  std::unique_ptr<Drafter> drafter(Transformer& model) override;
  torch::nn::ModuleList layers{nullptr};
  std::vector<SequentialModule> modules;
};

// Builds heads for `m.style` (parallel | sequential) on `model` (base weights loaded).
MtpHeads make_mtp_heads(const MtpConfig& m, Transformer& model);

// ids (B, T) shifted left by k, the last k columns `fill`.
torch::Tensor shift_left(const torch::Tensor& ids, int64_t k, int64_t fill);

}  // namespace ptune
