// MtpObjective: combined LM + MTP loss, computed head by head (see loss.h).
#include "ptune/mtp/loss.h"

#include <torch/torch.h>

#include <cmath>
#include <functional>

#include "ptune/core/error.h"
#include "ptune/model/loss.h"
#include "ptune/ops/causal_attention.h"

namespace ptune {

torch::Tensor head_targets(const torch::Tensor& targets, int64_t k,
                           const torch::Tensor& positions) {
  auto shifted = shift_left(targets, k, kIgnoreIndex);
  if (!positions.defined()) return shifted;
  const auto doc = document_starts(positions);  // (B, T): equal within a document
  return shifted.masked_fill_(shift_left(doc, k, -1).ne(doc), kIgnoreIndex);
}

MtpObjective::MtpObjective(const MtpConfig& c, MtpHeads heads)
    : c_(c),
      heads_(std::move(heads)),
      ce_sum_(heads_->n_heads()),
      correct_(heads_->n_heads()),
      count_(heads_->n_heads()) {}

double MtpObjective::weight(int64_t k) const {
  if (c_.style == MtpStyle::kSequential)
    return c_.loss_weight / static_cast<double>(heads_->n_heads());
  return c_.loss_weight * std::pow(c_.head_decay, static_cast<double>(k));
}

double MtpObjective::forward_backward(Transformer& model, const Batch& b, int64_t norm,
                                      double loss_scale) {
  const int64_t denom = std::max<int64_t>(1, norm);
  const bool base = c_.train_base;
  ForwardArgs args;
  args.positions = b.positions;
  torch::Tensor trunk;  // (B, T, d), with graph when the base trains
  {
    torch::NoGradGuard no_grad;
    if (!base) trunk = model->hidden(b.input_ids, args);
  }
  if (base) trunk = model->hidden(b.input_ids, args);

  // Surrogate terms sum(h * dL/dh) for each detached hidden state; one backward at the end.
  std::vector<torch::Tensor> surrogate;
  auto score = [&](const torch::Tensor& h, const torch::Tensor& targets, double w,
                   const std::function<torch::Tensor(const torch::Tensor&)>& logits_of,
                   bool backprop, int64_t head) {
    auto hd = h.detach().requires_grad_(backprop && h.requires_grad());
    torch::Tensor logits = logits_of(hd);  // (B, T, V) fp32, the only one alive
    torch::Tensor ce = lm_loss_sum(logits, targets);
    const double ce_v = ce.item<double>();
    if (head > 0) {
      torch::NoGradGuard no_grad;
      auto mask = targets.ne(kIgnoreIndex);
      ce_sum_[head - 1] += ce_v;
      correct_[head - 1] += correct_predictions(logits, targets).sum().item<int64_t>();
      count_[head - 1] += mask.sum().item<int64_t>();
    }
    // As the plain trainer computes it (sum / step targets), so lambda = 0 is bit-exact.
    auto loss = (w == 1.0 ? ce : ce * w) / denom;
    if (backprop && loss.requires_grad()) {
      (loss_scale == 1.0 ? loss : loss * loss_scale).backward();  // fp16: scaled like the LM loss
      if (hd.requires_grad() && hd.grad().defined()) surrogate.push_back((h * hd.grad()).sum());
    }
    if (head == 0) lm_sum_ += ce_v;
    return loss.item<double>();
  };

  double total = score(
      trunk, b.targets, 1.0, [&](const torch::Tensor& h) { return model->logits(h); }, base, 0);
  lm_count_ += b.n_targets;
  torch::Tensor prev = trunk;
  for (int64_t k = 1; k <= heads_->n_heads(); ++k) {
    torch::Tensor hk =
        heads_->head_hidden(k, trunk, prev, b.input_ids, b.positions, model);  // (B, T, d)
    total += score(
        hk, head_targets(b.targets, k, b.positions), weight(k),
        [&](const torch::Tensor& h) { return heads_->head_logits(k, h, model); }, true, k);
    prev = hk;
  }
  if (!surrogate.empty()) torch::stack(surrogate).sum().backward();
  return total;
}

std::vector<std::pair<std::string, double>> MtpObjective::step_metrics(
    const std::function<void(std::vector<double>&)>& reduce) {
  if (reduce) {  // lm sum and count, then per head: ce sum, correct, count
    std::vector<double> t{lm_sum_, static_cast<double>(lm_count_)};
    for (int64_t k = 0; k < heads_->n_heads(); ++k)
      t.insert(t.end(),
               {ce_sum_[k], static_cast<double>(correct_[k]), static_cast<double>(count_[k])});
    reduce(t);
    lm_sum_ = t[0];
    lm_count_ = static_cast<int64_t>(t[1]);
    for (int64_t k = 0; k < heads_->n_heads(); ++k) {
      ce_sum_[k] = t[2 + 3 * k];
      correct_[k] = static_cast<int64_t>(t[3 + 3 * k]);
      count_[k] = static_cast<int64_t>(t[4 + 3 * k]);
    }
  }
  std::vector<std::pair<std::string, double>> out;
  out.emplace_back("lm_loss", lm_count_ > 0 ? lm_sum_ / lm_count_ : 0.0);
  for (int64_t k = 0; k < heads_->n_heads(); ++k) {
    const double n = static_cast<double>(std::max<int64_t>(1, count_[k]));
    out.emplace_back("mtp_loss_" + std::to_string(k + 1), ce_sum_[k] / n);
    out.emplace_back("mtp_acc_" + std::to_string(k + 1), correct_[k] / n);
    ce_sum_[k] = 0.0;
    correct_[k] = count_[k] = 0;
  }
  lm_sum_ = 0.0;
  lm_count_ = 0;
  return out;
}

std::unique_ptr<MtpObjective> make_mtp_objective(const MtpConfig& m, Transformer& model,
                                                 NamedTensors& trainable) {
  if (m.style == MtpStyle::kNone) return nullptr;
  if (!m.train_base) {
    for (auto& [_, p] : trainable) p.requires_grad_(false);
    trainable.clear();
  }
  auto heads = make_mtp_heads(m, model);
  for (auto& [name, p] : heads->named_tensors()) trainable.emplace_back("mtp." + name, p);
  return std::make_unique<MtpObjective>(m, heads);
}

}  // namespace ptune
