// Op: OFF, the outlier-friendly feature distillation loss of TernaryLLM (ALGORITHMS.md 5). For
// each token (row) r of a student feature s and a frozen teacher feature t, both (n, d):
//   l_r = 1 - cos(s_r, t_r),  cos = <s, t> / (|s| |t|),  |v| = sqrt(<v, v> + kFeatureDistillEps).
// The cosine ignores each token's scale, so a few outlier channels of large magnitude cannot
// dominate it the way they dominate an L2 feature loss. The eps keeps a zero row finite (loss 1,
// gradient 0). Forward: the sum of l_r over rows; backward: dl_r/ds_r =
// (cos / |s|^2) s - t / (|s| |t|) scaled and added to the student's gradient. Dot products
// accumulate in f64.
#pragma once

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

inline constexpr double kFeatureDistillEps = 1e-12;

struct FeatureDistillForwardArgs {
  TensorRef student;  // (n, d) activations: f32 / f64 on the CPU, f32 or bf16 on CUDA
  TensorRef teacher;  // (n, d) student's dtype
  TensorRef loss;     // (1) f64: sum_r l_r ADDED
};
struct FeatureDistillBackwardArgs {
  TensorRef student, teacher;  // as in the forward
  float scale = 1.0f;          // the gradient of scale * sum_r l_r
  TensorRef dstudent;          // (n, d) student's dtype: ADDED
};

void FeatureDistillForwardRef(const FeatureDistillForwardArgs& a);
void FeatureDistillBackwardRef(const FeatureDistillBackwardArgs& a);
#ifdef DQT_HAVE_CUDA
void FeatureDistillForwardCuda(const FeatureDistillForwardArgs& a, CUstream_st* stream);
void FeatureDistillBackwardCuda(const FeatureDistillBackwardArgs& a, CUstream_st* stream);
#endif

inline void FeatureDistillForward(const ExecContext& ctx, const FeatureDistillForwardArgs& a) {
  CheckOnDevice(ctx, "FeatureDistillForward",
                {{"student", a.student}, {"teacher", a.teacher}, {"loss", a.loss}});
  CheckDType("FeatureDistillForward", "loss", a.loss, {DType::kF64});
  DQT_CHECK(a.student.rank == 2 && a.teacher.rank == 2 && a.student.dim(0) == a.teacher.dim(0) &&
            a.student.dim(1) == a.teacher.dim(1) && a.student.dtype == a.teacher.dtype &&
            a.loss.numel() == 1)
      << "FeatureDistillForward: student " << a.student.ShapeString() << " teacher "
      << a.teacher.ShapeString();
  DQT_DISPATCH(ctx, FeatureDistillForwardRef(a), FeatureDistillForwardCuda(a, ctx.stream()));
}
inline void FeatureDistillBackward(const ExecContext& ctx, const FeatureDistillBackwardArgs& a) {
  CheckOnDevice(ctx, "FeatureDistillBackward",
                {{"student", a.student}, {"teacher", a.teacher}, {"dstudent", a.dstudent}});
  DQT_CHECK(a.student.rank == 2 && a.teacher.rank == 2 && a.student.dim(0) == a.teacher.dim(0) &&
            a.student.dim(1) == a.teacher.dim(1) && a.student.dtype == a.teacher.dtype &&
            a.dstudent.numel() == a.student.numel() && a.dstudent.dtype == a.student.dtype)
      << "FeatureDistillBackward: student " << a.student.ShapeString() << " teacher "
      << a.teacher.ShapeString() << " dstudent " << a.dstudent.ShapeString();
  DQT_DISPATCH(ctx, FeatureDistillBackwardRef(a), FeatureDistillBackwardCuda(a, ctx.stream()));
}

}  // namespace dqt
