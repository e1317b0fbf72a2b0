// Op: the logit distillation term of TernaryLLM (ALGORITHMS.md 5), beside OFF. For each token
// (row) r of student logits s and a frozen teacher's logits t, both (n, vocab), at temperature 1:
//   p = softmax(t_r), q = softmax(s_r),  l_r = KL(p || q) = sum_i p_i (log p_i - log q_i).
// Forward: the sum of l_r over rows ADDED to `loss`; with `dstudent` set, it is WRITTEN with
// dl/ds = scale * (q - p) (the caller adds it to the cross-entropy gradient). Row maxima, the
// log-sum-exps and the KL sum are computed in f64.
#pragma once

#include "core/base/tensor_ref.h"
#include "kernels/dispatch.h"

namespace dqt {

struct LogitDistillArgs {
  TensorRef student;   // (n, vocab) logits: f32 / f64 on the CPU, f32 or bf16 on CUDA
  TensorRef teacher;   // (n, vocab) student's dtype
  TensorRef loss;      // (1) f64: sum_r l_r ADDED
  float scale = 1.0f;  // the gradient written is that of scale * sum_r l_r
  TensorRef dstudent;  // (n, vocab) student's dtype, WRITTEN; empty: forward only
};

void LogitDistillRef(const LogitDistillArgs& a);
#ifdef DQT_HAVE_CUDA
void LogitDistillCuda(const LogitDistillArgs& a, CUstream_st* stream);
#endif

inline void LogitDistill(const ExecContext& ctx, const LogitDistillArgs& a) {
  CheckOnDevice(ctx, "LogitDistill",
                {{"student", a.student}, {"teacher", a.teacher}, {"loss", a.loss}});
  CheckDType("LogitDistill", "loss", a.loss, {DType::kF64});
  DQT_CHECK(a.student.rank == 2 && a.teacher.rank == 2 && a.student.dim(0) == a.teacher.dim(0) &&
            a.student.dim(1) == a.teacher.dim(1) && a.student.dtype == a.teacher.dtype &&
            a.loss.numel() == 1 &&
            (a.dstudent.empty() ||
             (a.dstudent.numel() == a.student.numel() && a.dstudent.dtype == a.student.dtype)))
      << "LogitDistill: student " << a.student.ShapeString() << " teacher "
      << a.teacher.ShapeString() << " dstudent " << a.dstudent.ShapeString();
  if (!a.dstudent.empty()) CheckOnDevice(ctx, "LogitDistill", {{"dstudent", a.dstudent}});
  DQT_DISPATCH(ctx, LogitDistillRef(a), LogitDistillCuda(a, ctx.stream()));
}

}  // namespace dqt
