// The MTP training objective: LM loss + lambda * sum_k w_k * CE_k, with w_k = decay^k for
// parallel heads (Medusa) and 1/K for sequential modules (DeepSeek-V3 eq. 25). Head k at
// position t predicts token t+1+k: its labels are the batch targets shifted left by k.
// Memory (Gloeckle et al. 2024, App. C): the trunk runs once; each head's (B, T, V) logits
// are built, scored and backpropagated to a detached copy of its hidden state one head at
// a time, then one backward through the (B, T, d) graphs of heads and trunk finishes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ptune/config/recipe.h"
#include "ptune/data/dataset.h"
#include "ptune/mtp/heads.h"

namespace ptune {

// Targets of head k (B, T): targets shifted left by k, -100 fill; with packed documents'
// positions (ForwardArgs::positions), also -100 where the target lies in the next document.
torch::Tensor head_targets(const torch::Tensor& targets, int64_t k,
                           const torch::Tensor& positions = {});

class MtpObjective {
 public:
  MtpObjective(const MtpConfig& c, MtpHeads heads);
  // Weight of head k in the total loss (lambda included).
  double weight(int64_t k) const;
  // Forward + backward of one micro-batch with every loss divided by `norm` (the step's
  // predicted tokens). With train_base false the trunk runs without grad. Returns the
  // combined loss value; accumulates per-head sums for step_metrics().
  // Backward runs on loss * loss_scale (the fp16 loss scaler's current scale); returns the
  // unscaled loss.
  double forward_backward(Transformer& model, const Batch& b, int64_t norm,
                          double loss_scale = 1.0);
  // {"lm_loss", "mtp_loss_k", "mtp_acc_k"} over the micro-batches since the last call
  // (loss: mean CE per predicted token of that head); resets the sums.
  // `reduce`, when set, sums the raw totals over the ranks of a distributed run first.
  std::vector<std::pair<std::string, double>> step_metrics(
      const std::function<void(std::vector<double>&)>& reduce = {});
  const MtpHeads& heads() const { return heads_; }
  const MtpConfig& config() const { return c_; }

 private:
  MtpConfig c_;
  MtpHeads heads_;
  double lm_sum_ = 0.0;
  int64_t lm_count_ = 0;
  std::vector<double> ce_sum_;
  std::vector<int64_t> correct_, count_;
};

// The objective for recipe `m` on `model` (base weights loaded, method attached), or null
// for style none. Adds the heads' parameters to `trainable`; with train_base false it first
// freezes and removes every base and method parameter there (Medusa-1: heads only).
std::unique_ptr<MtpObjective> make_mtp_objective(const MtpConfig& m, Transformer& model,
                                                 NamedTensors& trainable);

}  // namespace ptune
