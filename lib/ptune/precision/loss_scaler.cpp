// Dynamic loss scaler: GradScaler's rules plus Megatron's hysteresis
// (3.2) and min/max bounds. Unscaling uses the reciprocal 1/S computed in double, as
// GradScaler's _scale.double().reciprocal().float().
#include "ptune/precision/loss_scaler.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ptune/core/error.h"

namespace ptune {

namespace {
constexpr double kStateVersion = 1.0;
}

LossScaler::LossScaler(const LossScaleConfig& c)
    : cfg_(c), scale_(c.init), hysteresis_tracker_(c.hysteresis) {
  PTUNE_CHECK(c.growth_factor > 1.0 && c.backoff_factor > 0.0 && c.backoff_factor < 1.0,
              "growth_factor {} must be > 1 and backoff_factor {} in (0, 1)", c.growth_factor,
              c.backoff_factor);
}

torch::Tensor LossScaler::scale(const torch::Tensor& loss) const {
  return loss * scale_;
}

bool LossScaler::unscale_and_check(const std::vector<torch::Tensor>& params) {
  PTUNE_CHECK(!unscaled_, "unscale_and_check() called twice before update()");
  unscaled_ = true;
  const double inv = 1.0 / scale_;    // in double, then applied in the grad's dtype
  std::vector<torch::Tensor> finite;  // one 0-dim bool per gradient, reduced at the end
  for (const auto& p : params) {
    torch::Tensor g = p.grad();
    if (!g.defined()) continue;
    PTUNE_CHECK(g.scalar_type() != torch::kHalf,
                "attempting to unscale fp16 gradients: trainable parameters must be fp32 masters");
    g.mul_(inv);
    finite.push_back(torch::isfinite(g).all());
  }
  if (finite.empty()) return false;
  return !torch::stack(finite).all().item<bool>();  // the one host sync
}

void LossScaler::update(bool found_inf) {
  unscaled_ = false;
  if (found_inf) ++skipped_steps_;
  if (!cfg_.dynamic) return;
  if (found_inf) {
    growth_tracker_ = 0;
    if (--hysteresis_tracker_ <= 0) scale_ = std::max(scale_ * cfg_.backoff_factor, cfg_.min_scale);
    return;
  }
  if (++growth_tracker_ == cfg_.growth_interval) {
    growth_tracker_ = 0;
    hysteresis_tracker_ = cfg_.hysteresis;
    const double grown = scale_ * cfg_.growth_factor;
    // GradScaler keeps the scale in fp32 and never grows it to inf.
    if (std::isfinite(static_cast<float>(grown))) scale_ = std::min(grown, cfg_.max_scale);
  }
}

std::vector<double> LossScaler::state() const {
  return {kStateVersion, scale_, static_cast<double>(growth_tracker_),
          static_cast<double>(hysteresis_tracker_), static_cast<double>(skipped_steps_)};
}

void LossScaler::load_state(const std::vector<double>& s, const std::string& where) {
  if (s.size() != 5 || s[0] != kStateVersion)
    runtime_error(
        "resume: '{}' holds no loss-scaler state (expected 5 values, version {}; got {} "
        "values); was it saved by a run with precision.dtype fp16?",
        where, kStateVersion, s.size());
  if (!(std::isfinite(s[1]) && s[1] > 0))
    runtime_error("resume: '{}': loss scale must be a positive finite number, got {}", where, s[1]);
  scale_ = s[1];
  growth_tracker_ = static_cast<int64_t>(s[2]);
  hysteresis_tracker_ = static_cast<int64_t>(s[3]);
  skipped_steps_ = static_cast<int64_t>(s[4]);
  unscaled_ = false;
}

}  // namespace ptune
