#include "ptune/train/fused_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <sstream>
#include <type_traits>

#include "ptune/core/error.h"

namespace ptune {

namespace {

// One element-wise pass: the same operations, in the same order and precision (float), as
// torch::optim::AdamW::step's tensor ops: decay, exp_avg = b1 m + (1 - b1) g,
// exp_avg_sq = b2 v + (1 - b2) g g, denom = sqrt(v) / sqrt(bc2) + eps, p -= lr / bc1 * m / denom.
void adamw_pass(float* p, const float* g, float* m, float* v, int64_t n, float grad_mult,
                float decay, float beta1, float beta2, float bc2_sqrt, float eps, float step_size) {
  const float one_minus_b1 = 1.0f - beta1, one_minus_b2 = 1.0f - beta2;
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i] * grad_mult;
      const float mi = m[i] * beta1 + gi * one_minus_b1;
      const float vi = v[i] * beta2 + gi * gi * one_minus_b2;
      m[i] = mi;
      v[i] = vi;
      const float denom = std::sqrt(vi) / bc2_sqrt + eps;
      p[i] = p[i] * decay - step_size * (mi / denom);
    }
  });
}

// The key of a parameter's entry in Optimizer::state_: the TensorImpl's address, as LibTorch
// itself keys it. A hex string ("0x...") up to LibTorch 2.1; the pointer itself from 2.2 on.
template <class Key>
Key state_key(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << static_cast<const void*>(impl);
    return s.str();
  } else {
    return static_cast<Key>(impl);
  }
}

bool fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.is_contiguous() &&
         !t.is_sparse();
}

}  // namespace

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  const double mult = grad_multiplier_;
  grad_multiplier_ = 1.0;
  for (auto& group : param_groups_) {
    auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
    PTUNE_CHECK(!o.amsgrad(), "FusedAdamW: amsgrad is not supported");
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const torch::Tensor& grad = p.grad();
      const auto key = state_key<std::decay_t<decltype(state_)>::key_type>(p.unsafeGetTensorImpl());
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(s)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      const double bc1 = 1 - std::pow(beta1, s.step());
      const double bc2 = 1 - std::pow(beta2, s.step());
      const double step_size = o.lr() / bc1;
      const double decay = 1 - o.lr() * o.weight_decay();
      torch::Tensor& m = s.exp_avg();
      torch::Tensor& v = s.exp_avg_sq();
      if (fusable(p) && fusable(grad) && fusable(m) && fusable(v) && grad.numel() == p.numel()) {
        adamw_pass(p.data_ptr<float>(), grad.data_ptr<float>(), m.data_ptr<float>(),
                   v.data_ptr<float>(), p.numel(), static_cast<float>(mult),
                   static_cast<float>(decay), static_cast<float>(beta1), static_cast<float>(beta2),
                   static_cast<float>(std::sqrt(bc2)), static_cast<float>(o.eps()),
                   static_cast<float>(step_size));
        continue;
      }
      // Tensor ops (CUDA, other layouts): LibTorch's AdamW step with the multiplier.
      const torch::Tensor g = mult == 1.0 ? grad : grad * mult;
      if (o.weight_decay() != 0) p.mul_(decay);
      m.mul_(beta1).add_(g, 1 - beta1);
      v.mul_(beta2).addcmul_(g, g, 1 - beta2);
      p.addcdiv_(m, (v.sqrt() / std::sqrt(bc2)).add_(o.eps()), -step_size);
    }
  }
  return loss;
}

double FusedAdamW::clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().norm(2));
  const double norm = norms.empty() ? 0.0 : torch::stack(norms).norm(2).item<double>();
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1) grad_multiplier_ = coef;
  return norm;
}

}  // namespace ptune
