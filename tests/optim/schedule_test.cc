// Learning-rate schedules: warm-up, cosine and linear decay end points, the two-stage split.
#include "core/optim/schedule.h"

#include <cmath>

#include "gtest/gtest.h"

namespace dqt {
namespace {

ScheduleConfig Base(ScheduleKind kind) {
  ScheduleConfig s;
  s.kind = kind;
  s.peak_lr = 1e-3f;
  s.final_lr_fraction = 0.1f;
  s.warmup_steps = 10;
  s.total_steps = 110;
  return s;
}

TEST(Schedule, WarmupIsLinearToPeak) {
  const ScheduleConfig s = Base(ScheduleKind::kWarmupCosine);
  EXPECT_FLOAT_EQ(LearningRateAt(s, 0), 1e-4f);
  EXPECT_FLOAT_EQ(LearningRateAt(s, 4), 5e-4f);
  EXPECT_FLOAT_EQ(LearningRateAt(s, 9), 1e-3f);
  EXPECT_FLOAT_EQ(LearningRateAt(s, 10), 1e-3f);
}

TEST(Schedule, CosineEndsAtFinalFractionAndPassesMidpoint) {
  const ScheduleConfig s = Base(ScheduleKind::kWarmupCosine);
  EXPECT_FLOAT_EQ(LearningRateAt(s, 109), 1e-4f);
  // Halfway through the decay the cosine is at the mean of peak and final.
  const int mid = 10 + (109 - 10) / 2;
  const double p = double(mid - 10) / (109 - 10);
  EXPECT_NEAR(LearningRateAt(s, mid), 1e-4 + 9e-4 * 0.5 * (1 + std::cos(M_PI * p)), 1e-9);
  for (int step = 11; step < 110; ++step)
    EXPECT_LE(LearningRateAt(s, step), LearningRateAt(s, step - 1));
}

TEST(Schedule, LinearDecay) {
  const ScheduleConfig s = Base(ScheduleKind::kWarmupLinear);
  EXPECT_FLOAT_EQ(LearningRateAt(s, 109), 1e-4f);
  EXPECT_NEAR(LearningRateAt(s, 10 + 33), 1e-3 - 9e-4 * 33.0 / 99.0, 1e-9);
}

TEST(Schedule, TwoStageSplitScalesLrAndSwitchesWeightDecay) {
  ScheduleConfig s = Base(ScheduleKind::kWarmupLinear);
  s.stage2_start = 0.5f;
  s.stage2_peak_lr = 5e-4f;
  s.stage2_weight_decay = 0.0f;
  const ScheduleConfig plain = Base(ScheduleKind::kWarmupLinear);
  EXPECT_FLOAT_EQ(LearningRateAt(s, 54), LearningRateAt(plain, 54));
  EXPECT_FLOAT_EQ(LearningRateAt(s, 55), 0.5f * LearningRateAt(plain, 55));
  EXPECT_FLOAT_EQ(WeightDecayAt(s, 0.1f, 54), 0.1f);
  EXPECT_FLOAT_EQ(WeightDecayAt(s, 0.1f, 55), 0.0f);
  EXPECT_FLOAT_EQ(WeightDecayAt(plain, 0.1f, 100), 0.1f);
}

}  // namespace
}  // namespace dqt
