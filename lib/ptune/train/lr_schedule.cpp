// Warmup + cosine / linear / constant schedules.
#include "ptune/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace ptune {

double lr_at(const ScheduleConfig& s, double base_lr, int64_t step, int64_t total_steps) {
  if (step < s.warmup_steps) return base_lr * static_cast<double>(step + 1) / (s.warmup_steps + 1);
  if (s.kind == ScheduleKind::kConstant) return base_lr;
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - s.warmup_steps - 1);
  const double progress =
      std::clamp(static_cast<double>(step - s.warmup_steps) / decay_steps, 0.0, 1.0);
  const double min_lr = base_lr * s.min_lr_ratio;
  const double shape =
      s.kind == ScheduleKind::kLinear ? 1.0 - progress : 0.5 * (1.0 + std::cos(M_PI * progress));
  return min_lr + (base_lr - min_lr) * shape;
}

}  // namespace ptune
