// LR schedule (lib/ptune/train/lr_schedule.h): warmup, then cosine / linear / constant, as
// closed-form values at named steps.
#include <gtest/gtest.h>

#include <cmath>

#include "ptune/train/lr_schedule.h"

using namespace ptune;

namespace {

ScheduleConfig schedule(ScheduleKind kind, int64_t warmup, double min_ratio) {
  ScheduleConfig s;
  s.kind = kind;
  s.warmup_steps = warmup;
  s.min_lr_ratio = min_ratio;
  return s;
}

}  // namespace

TEST(LrSchedule, WarmupRisesLinearlyToTheBaseRate) {
  const ScheduleConfig s = schedule(ScheduleKind::kCosine, 4, 0.1);
  // step + 1 of warmup + 1: 0.2, 0.4, 0.6, 0.8 of the base rate, then the base rate.
  for (int64_t step = 0; step < 4; ++step)
    EXPECT_DOUBLE_EQ(lr_at(s, 1.0, step, 100), 0.2 * (step + 1)) << step;
  EXPECT_DOUBLE_EQ(lr_at(s, 1.0, 4, 100), 1.0);
}

TEST(LrSchedule, CosineDecaysToTheFloorAtTheLastStep) {
  const ScheduleConfig s = schedule(ScheduleKind::kCosine, 2, 0.1);
  const int64_t total = 12;  // decay over steps 2..11 (progress 0..1 in 9 steps)
  EXPECT_DOUBLE_EQ(lr_at(s, 2.0, 2, total), 2.0);
  const double mid = 0.2 + (2.0 - 0.2) * 0.5 * (1.0 + std::cos(M_PI * 4.0 / 9.0));
  EXPECT_DOUBLE_EQ(lr_at(s, 2.0, 6, total), mid);
  EXPECT_DOUBLE_EQ(lr_at(s, 2.0, 11, total), 0.2);
  EXPECT_DOUBLE_EQ(lr_at(s, 2.0, 50, total), 0.2);  // past the end: stays at the floor
}

TEST(LrSchedule, LinearAndConstant) {
  const ScheduleConfig lin = schedule(ScheduleKind::kLinear, 0, 0.0);
  EXPECT_DOUBLE_EQ(lr_at(lin, 1.0, 0, 11), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(lin, 1.0, 5, 11), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(lin, 1.0, 10, 11), 0.0);
  const ScheduleConfig flat = schedule(ScheduleKind::kConstant, 1, 0.5);
  EXPECT_DOUBLE_EQ(lr_at(flat, 3.0, 0, 10), 1.5);  // warmup still applies
  EXPECT_DOUBLE_EQ(lr_at(flat, 3.0, 9, 10), 3.0);
}
