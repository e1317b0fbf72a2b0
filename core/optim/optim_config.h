// Optimizer and learning-rate schedule settings (plain structs, validated at launch).
#pragma once

namespace dqt {

enum class ScheduleKind { kWarmupCosine, kWarmupLinear };

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::kWarmupCosine;
  float peak_lr = 3e-4f;
  float final_lr_fraction = 0.1f;  // lr at the last step = peak_lr * final_lr_fraction
  int warmup_steps = 100;
  int total_steps = 1000;
  // Two-stage split (BitNet b1.58): from step floor(total_steps * stage2_start) on, the lr drops
  // to stage2_peak_lr and decays from there (same kind) to stage2_peak_lr * final_lr_fraction at
  // the last step, and weight decay becomes stage2_weight_decay. 0 disables the split. The
  // formula: schedule.h.
  float stage2_start = 0.0f;
  float stage2_peak_lr = 0.0f;
  float stage2_weight_decay = 0.0f;
};

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // decoupled; applied to matrices only (not norms)
  float grad_clip = 1.0f;     // global L2 norm; 0 disables clipping
  // Clip by the previous step's global norm (the fused update knows the norm only after the step).
  bool clip_by_previous_norm = false;
};

}  // namespace dqt
