// Streaming per-head evaluation: one batch and one head's logits at a time.
#include "ptune/eval/mtp_eval.h"

#include <torch/torch.h>

#include <algorithm>

#include "ptune/model/loss.h"
#include "ptune/mtp/loss.h"

namespace ptune {

std::vector<HeadEval> evaluate_heads(Transformer& model, MtpHeadsImpl& heads, const Dataset& data,
                                     int64_t pad_id, const EvalOptions& o) {
  torch::NoGradGuard no_grad;
  const int64_t K = heads.n_heads();
  std::vector<double> nll(K, 0.0);
  std::vector<int64_t> hits(K, 0), count(K, 0);
  const torch::Device device = model->head_weight().device();
  for_each_batch_in_order(data, o.batch_size, pad_id, o.max_batches, [&](Batch& global) {
    std::optional<Batch> share = rank_share(std::move(global), o.rank, o.world);
    if (!share) return;  // fewer rows than ranks: none for this one
    Batch& b = *share;
    b.input_ids = b.input_ids.to(device);
    b.targets = b.targets.to(device);
    ForwardArgs args;
    args.positions = b.positions.defined() ? b.positions.to(device) : b.positions;
    auto trunk = model->hidden(b.input_ids, args);  // (B, T, d)
    torch::Tensor prev = trunk;
    for (int64_t k = 1; k <= K; ++k) {
      auto h = heads.head_hidden(k, trunk, prev, b.input_ids, args.positions, model);
      auto logits = heads.head_logits(k, h, model);               // (B, T, V)
      auto targets = head_targets(b.targets, k, args.positions);  // (B, T)
      auto mask = targets.ne(kIgnoreIndex);
      nll[k - 1] += lm_loss_sum(logits, targets).item<double>();
      hits[k - 1] += correct_predictions(logits, targets).sum().item<int64_t>();
      count[k - 1] += mask.sum().item<int64_t>();
      prev = h;
    }
  });
  if (o.reduce) {  // per head: nll, hits, count
    std::vector<double> totals;
    for (int64_t k = 0; k < K; ++k)
      totals.insert(totals.end(),
                    {nll[k], static_cast<double>(hits[k]), static_cast<double>(count[k])});
    o.reduce(totals);
    for (int64_t k = 0; k < K; ++k) {
      nll[k] = totals[3 * k];
      hits[k] = static_cast<int64_t>(totals[3 * k + 1]);
      count[k] = static_cast<int64_t>(totals[3 * k + 2]);
    }
  }
  std::vector<HeadEval> out;
  for (int64_t k = 0; k < K; ++k) {
    const double n = static_cast<double>(std::max<int64_t>(1, count[k]));
    out.push_back({k + 1, nll[k] / n, hits[k] / n, count[k]});
  }
  return out;
}

}  // namespace ptune
