// Learning-rate schedules as pure functions of the step: linear warmup, then cosine,
// linear or constant decay to min_lr_ratio * lr (as torchtune/HF get_cosine_schedule).
#pragma once

#include <cstdint>

#include "ptune/config/recipe.h"

namespace ptune {

// LR for optimizer step `step` (0-based) of `total_steps`.
double lr_at(const ScheduleConfig& s, double base_lr, int64_t step, int64_t total_steps);

}  // namespace ptune
