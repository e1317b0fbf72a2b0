// Learning-rate and weight-decay schedules: warm-up + cosine or warm-up + linear decay, with an
// optional BitNet-style two-stage split.
#pragma once

#include "core/optim/optim_config.h"

namespace dqt {

// Learning rate of optimizer step `step` (0-based).
// Stage 1: linear warm-up to peak_lr over warmup_steps, then cosine or linear decay to
// peak_lr * final_lr_fraction at the last step. With a two-stage split, from step
// round(total_steps * stage2_start) on the same curve is scaled by stage2_peak_lr / peak_lr.
float LearningRateAt(const ScheduleConfig& s, int step);

// Weight decay of step `step`: `base` before the two-stage split, stage2_weight_decay after.
float WeightDecayAt(const ScheduleConfig& s, float base, int step);

}  // namespace dqt
