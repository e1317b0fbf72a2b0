// Learning-rate and weight-decay schedules: warm-up + cosine or warm-up + linear decay, with an
// optional BitNet-style two-stage split.
#pragma once

#include "core/optim/optim_config.h"

namespace dqt {

// First step of stage 2: floor(total_steps * stage2_start); -1 without a split.
int Stage2Step(const ScheduleConfig& s);

// Learning rate of optimizer step `step` (0-based), T = total_steps, f = final_lr_fraction.
// Stage 1: linear warm-up, lr = peak_lr * (step + 1) / warmup_steps, then a cosine or linear
// decay from peak_lr at step warmup_steps to peak_lr * f at step T - 1.
// Stage 2 (BitNet b1.58, ALGORITHMS.md 3: "peak LR 1.5e-3 -> 1e-3 ... at the midpoint"): from
// step S = Stage2Step(s) on, the lr drops to stage2_peak_lr and a fresh decay of the same kind
// runs from stage2_peak_lr at step S to stage2_peak_lr * f at step T - 1 (the BitNet b1.58
// recipe: an abrupt drop to a lower peak, then decay). Stage 1 is not changed by the split.
float LearningRateAt(const ScheduleConfig& s, int step);

// Weight decay of step `step`: `base` before step Stage2Step(s), stage2_weight_decay from it on.
float WeightDecayAt(const ScheduleConfig& s, float base, int step);

}  // namespace dqt
