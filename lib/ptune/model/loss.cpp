// Next-token cross-entropy (see loss.h).
#include "ptune/model/loss.h"

#include <torch/torch.h>

#include <algorithm>

#include "ptune/data/batch.h"
#include "ptune/ops/mixed_precision.h"

namespace ptune {

namespace {

using torch::Tensor;

struct ChunkedLmLoss : torch::autograd::Function<ChunkedLmLoss> {
  // h (N, d), w (V, d), targets (N) int64.
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& h, const Tensor& w,
                        const Tensor& targets, int64_t rows) {
    namespace F = torch::nn::functional;
    const Tensor wc = w.scalar_type() == h.scalar_type() ? w : w.to(h.scalar_type());
    Tensor total = torch::zeros({}, h.options().dtype(torch::kFloat));
    for (int64_t s = 0; s < h.size(0); s += rows) {
      const int64_t n = std::min(rows, h.size(0) - s);
      const Tensor logits = mixed_mm(h.narrow(0, s, n), wc.t()).to(torch::kFloat);  // (n, V)
      total += F::cross_entropy(
          logits, targets.narrow(0, s, n),
          F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex).reduction(torch::kSum));
    }
    ctx->save_for_backward({h, w, targets});  // w as given: no upcast copy is kept
    ctx->saved_data["rows"] = rows;
    return total;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &h = saved[0], &w = saved[1], &targets = saved[2];
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const Tensor g = grads[0].to(torch::kFloat);  // scalar
    const Tensor wc = w.scalar_type() == h.scalar_type() ? w : w.to(h.scalar_type());
    Tensor dh = ctx->needs_input_grad(0) ? torch::empty_like(h) : Tensor();
    Tensor dw = ctx->needs_input_grad(1) ? torch::zeros(w.sizes(), w.options().dtype(torch::kFloat))
                                         : Tensor();
    for (int64_t s = 0; s < h.size(0); s += rows) {
      const int64_t n = std::min(rows, h.size(0) - s);
      const Tensor hc = h.narrow(0, s, n), tc = targets.narrow(0, s, n);
      // d(sum CE)/d logits = softmax - onehot(target), zero where the target is ignored.
      Tensor d = torch::softmax(mixed_mm(hc, wc.t()).to(torch::kFloat), -1);  // (n, V) fp32
      const Tensor keep = tc.ne(kIgnoreIndex);
      d.scatter_add_(1, tc.clamp_min(0).unsqueeze(1), -keep.to(torch::kFloat).unsqueeze(1));
      d.mul_(keep.to(torch::kFloat).unsqueeze(1)).mul_(g);
      const Tensor dl = d.to(h.scalar_type());  // the grad of .to(fp32): the compute dtype
      if (dh.defined()) dh.narrow(0, s, n).copy_(mixed_mm(dl, wc));
      if (dw.defined()) dw.add_(mixed_mm(dl.t().contiguous(), hc).to(torch::kFloat));
    }
    if (dw.defined() && dw.scalar_type() != w.scalar_type()) dw = dw.to(w.scalar_type());
    return {dh, dw, Tensor(), Tensor()};
  }
};

}  // namespace

Tensor chunked_lm_loss_sum(const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                           int64_t rows) {
  const int64_t d = hidden.size(-1);
  return ChunkedLmLoss::apply(hidden.reshape({-1, d}), weight, targets.reshape({-1}),
                              std::max<int64_t>(1, rows));
}

torch::Tensor lm_loss_sum(const torch::Tensor& logits, const torch::Tensor& targets) {
  // logits (B, T, V), targets (B, T) -> scalar fp32
  namespace F = torch::nn::functional;
  const int64_t V = logits.size(-1);
  return F::cross_entropy(
      logits.to(torch::kFloat).reshape({-1, V}), targets.reshape({-1}),
      F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex).reduction(torch::kSum));
}

torch::Tensor correct_predictions(const torch::Tensor& logits, const torch::Tensor& targets) {
  return logits.argmax(-1).eq(targets).logical_and(targets.ne(kIgnoreIndex));
}

torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  // Divide by max(count, 1): no targets gives 0, not NaN; no host sync.
  auto count = targets.ne(kIgnoreIndex).sum().clamp_min(1).to(torch::kFloat);
  return lm_loss_sum(logits, targets) / count;
}

}  // namespace ptune
