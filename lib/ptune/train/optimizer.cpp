// AdamW with decay / no-decay parameter groups.
#include "ptune/train/optimizer.h"

#include "ptune/core/error.h"

namespace ptune {

std::unique_ptr<FusedAdamW> make_adamw(const OptimConfig& o, const NamedTensors& params) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& [name, p] : params) {
    const bool is_embedding = name.find("embed_tokens") != std::string::npos;
    const bool decays = p.dim() >= 2 && (!is_embedding || o.decay_norms_and_embeddings);
    (decays || o.decay_norms_and_embeddings ? decay : no_decay).push_back(p);
  }
  PTUNE_CHECK(!decay.empty() || !no_decay.empty(), "no trainable parameters");
  auto opts = torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  // Groups are always both present (possibly empty) so saved state lines up on resume.
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(opts).weight_decay(o.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(opts).weight_decay(0.0)));
  return std::make_unique<FusedAdamW>(groups, opts);
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

StepOutcome clip_and_step(FusedAdamW& opt, const std::vector<torch::Tensor>& params,
                          double grad_clip, LossScaler* scaler) {
  StepOutcome out;
  out.skipped = scaler && scaler->unscale_and_check(params);
  if (!out.skipped) {
    out.grad_norm = opt.clip_grad_norm(params, grad_clip > 0 ? grad_clip : 1e30);
    opt.step();
  }
  if (scaler) scaler->update(out.skipped);
  return out;
}

}  // namespace ptune
