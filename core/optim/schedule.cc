// Schedule curves; pure functions of the step.
#include "core/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace dqt {
namespace {

int Stage2Step(const ScheduleConfig& s) {
  return static_cast<int>(std::lround(static_cast<double>(s.total_steps) * s.stage2_start));
}

}  // namespace

float LearningRateAt(const ScheduleConfig& s, int step) {
  const double peak = s.peak_lr;
  const double final_lr = peak * s.final_lr_fraction;
  double lr;
  if (step < s.warmup_steps) {
    lr = peak * (step + 1) / s.warmup_steps;
  } else {
    const int span = std::max(1, s.total_steps - 1 - s.warmup_steps);
    const double p = std::clamp(static_cast<double>(step - s.warmup_steps) / span, 0.0, 1.0);
    if (s.kind == ScheduleKind::kWarmupCosine) {
      lr = final_lr + (peak - final_lr) * 0.5 * (1.0 + std::cos(M_PI * p));
    } else {
      lr = peak + (final_lr - peak) * p;
    }
  }
  if (s.stage2_start > 0 && step >= Stage2Step(s)) lr *= s.stage2_peak_lr / peak;
  return static_cast<float>(lr);
}

float WeightDecayAt(const ScheduleConfig& s, float base, int step) {
  if (s.stage2_start > 0 && step >= Stage2Step(s)) return s.stage2_weight_decay;
  return base;
}

}  // namespace dqt
