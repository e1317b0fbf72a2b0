// Schedule curves; pure functions of the step.
#include "core/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace dqt {
namespace {

// The value at progress p in [0, 1] of a decay from `from` to `to`.
double Decay(ScheduleKind kind, double from, double to, double p) {
  if (kind == ScheduleKind::kWarmupCosine)
    return to + (from - to) * 0.5 * (1.0 + std::cos(M_PI * p));
  return from + (to - from) * p;
}

// Progress of `step` through the decay that starts at `first` and ends at the last step.
double Progress(const ScheduleConfig& s, int first, int step) {
  const int span = std::max(1, s.total_steps - 1 - first);
  return std::clamp(static_cast<double>(step - first) / span, 0.0, 1.0);
}

}  // namespace

int Stage2Step(const ScheduleConfig& s) {
  if (s.stage2_start <= 0) return -1;
  return static_cast<int>(std::floor(static_cast<double>(s.total_steps) * s.stage2_start));
}

float LearningRateAt(const ScheduleConfig& s, int step) {
  const int split = Stage2Step(s);
  if (split >= 0 && step >= split) {
    const double peak2 = s.stage2_peak_lr;
    return static_cast<float>(
        Decay(s.kind, peak2, peak2 * s.final_lr_fraction, Progress(s, split, step)));
  }
  const double peak = s.peak_lr;
  if (step < s.warmup_steps) return static_cast<float>(peak * (step + 1) / s.warmup_steps);
  return static_cast<float>(
      Decay(s.kind, peak, peak * s.final_lr_fraction, Progress(s, s.warmup_steps, step)));
}

float WeightDecayAt(const ScheduleConfig& s, float base, int step) {
  const int split = Stage2Step(s);
  return split >= 0 && step >= split ? s.stage2_weight_decay : base;
}

}  // namespace dqt
