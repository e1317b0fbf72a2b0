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

// The BitNet b1.58 split (ALGORITHMS.md 3, "peak LR 1.5e-3 -> 1e-3 and weight decay 0.1 -> 0 at
// the midpoint"): from step floor(T * stage2_start) the lr is stage2_peak_lr and decays from there
// to stage2_peak_lr * final_lr_fraction at the last step; stage 1 is the plain schedule. The
// expected values are written out by hand for T = 110, warm-up 10, S = floor(110 * 0.505) = 55
// (lround would give 56), stage-2 span 109 - 55 = 54 steps.
TEST(Schedule, TwoStageSplitDropsToTheSecondPeakAndDecaysFromIt) {
  for (const ScheduleKind kind : {ScheduleKind::kWarmupLinear, ScheduleKind::kWarmupCosine}) {
    ScheduleConfig s = Base(kind);
    s.stage2_start = 0.505f;
    s.stage2_peak_lr = 5e-4f;
    s.stage2_weight_decay = 0.0f;
    const ScheduleConfig plain = Base(kind);
    EXPECT_EQ(Stage2Step(s), 55);
    EXPECT_EQ(Stage2Step(plain), -1);
    for (int step = 0; step < 55; ++step)
      ASSERT_EQ(LearningRateAt(s, step), LearningRateAt(plain, step)) << step;
    EXPECT_FLOAT_EQ(LearningRateAt(s, 54),
                    kind == ScheduleKind::kWarmupLinear
                        ? 1e-3 - 9e-4 * 44.0 / 99.0
                        : 1e-4 + 9e-4 * 0.5 * (1 + std::cos(M_PI * 44 / 99)));
    EXPECT_FLOAT_EQ(LearningRateAt(s, 55), 5e-4f);   // the second peak, exactly at the split
    EXPECT_FLOAT_EQ(LearningRateAt(s, 109), 5e-5f);  // 5e-4 * final_lr_fraction at the end
    // A third of the way through stage 2 (step 55 + 18).
    EXPECT_FLOAT_EQ(LearningRateAt(s, 73), kind == ScheduleKind::kWarmupLinear
                                               ? 5e-4 - 4.5e-4 / 3
                                               : 5e-5 + 4.5e-4 * 0.5 * (1 + std::cos(M_PI / 3)));
    EXPECT_FLOAT_EQ(WeightDecayAt(s, 0.1f, 54), 0.1f);
    EXPECT_FLOAT_EQ(WeightDecayAt(s, 0.1f, 55), 0.0f);
    EXPECT_FLOAT_EQ(WeightDecayAt(s, 0.1f, 109), 0.0f);
    EXPECT_FLOAT_EQ(WeightDecayAt(plain, 0.1f, 100), 0.1f);
  }
}

}  // namespace
}  // namespace dqt
