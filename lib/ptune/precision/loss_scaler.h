// Dynamic loss scaling for fp16 training (Micikevicius et al. 2018): PyTorch GradScaler's
// state machine (torch/amp/grad_scaler.py, _amp_update_scale_) with Megatron's hysteresis
// (DynamicGradScaler) and min/max bounds. LibTorch 1.13 has no GradScaler and no CPU
// kernels for the _amp_* ops, so this uses ordinary tensor ops. The scale is kept in double.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ptune/config/recipe.h"

namespace ptune {

class LossScaler {
 public:
  // c.dynamic = false: a constant scale c.init (overflowing steps are still skipped).
  explicit LossScaler(const LossScaleConfig& c);

  // loss * S, for backward().
  torch::Tensor scale(const torch::Tensor& loss) const;
  // Multiplies every defined gradient of `params` in place by 1/S (reciprocal computed in
  // double, applied in the gradient's dtype) and checks all of them for inf/NaN with one
  // host sync. Returns true when any is non-finite: the caller must skip optimizer.step().
  // Call once per optimizer step, after all grad_accum micro-batches.
  bool unscale_and_check(const std::vector<torch::Tensor>& params);
  // Records the step's outcome (skipped when found_inf) and updates scale and trackers:
  //   found_inf: growth_tracker = 0; hysteresis_tracker -= 1;
  //              if hysteresis_tracker <= 0: S = max(S * backoff, min_scale)
  //   clean:     growth_tracker += 1; if growth_tracker == growth_interval:
  //              growth_tracker = 0; hysteresis_tracker = hysteresis;
  //              S = min(S * growth, max_scale) unless that is not finite in fp32
  // With hysteresis 1 this is exactly GradScaler's update (plus the bounds).
  void update(bool found_inf);

  double loss_scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }
  int64_t hysteresis_tracker() const { return hysteresis_tracker_; }
  int64_t skipped_steps() const { return skipped_steps_; }

  // For TrainState::extra: {version, scale, growth_tracker, hysteresis_tracker, skipped_steps}.
  std::vector<double> state() const;
  // Restores state(); `where` names the checkpoint for the error message.
  void load_state(const std::vector<double>& s, const std::string& where);

 private:
  LossScaleConfig cfg_;
  double scale_;
  int64_t growth_tracker_ = 0;
  int64_t hysteresis_tracker_;
  int64_t skipped_steps_ = 0;
  bool unscaled_ = false;  // unscale_and_check() done, update() pending
};

}  // namespace ptune
