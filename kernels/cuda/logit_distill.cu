// CUDA twin of the logit distillation term: one block per row reduces the row maxima, the
// log-sum-exps and the KL sum in f64 (a fixed tree per launch shape) and writes the gradient. The
// row losses are added to the total with an f64 atomicAdd, so the order of the row sum (and its
// last bits) varies run to run; the gradient is deterministic.
#include "kernels/cuda/launch.h"
#include "kernels/logit_distill.h"

namespace dqt {
namespace {

constexpr int kRowThreads = 256;

template <typename T>
__device__ double RowLogSumExp(const T* x, int64_t v) {
  double m = -INFINITY;
  for (int64_t i = threadIdx.x; i < v; i += blockDim.x) m = fmax(m, double(cuda::LoadF(x, i)));
  m = cuda::BlockReduce(m, cuda::MaxOp{});
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < v; i += blockDim.x) sum += exp(double(cuda::LoadF(x, i)) - m);
  sum = cuda::BlockReduce(sum, cuda::SumOp{});
  return m + log(sum);
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    LogitDistillKernel(const T* s, const T* t, int64_t v, float scale, double* loss, T* ds) {
  const int64_t r = blockIdx.x;
  const T* sr = s + r * v;
  const T* tr = t + r * v;
  const double ls = RowLogSumExp(sr, v), lt = RowLogSumExp(tr, v);
  double kl = 0.0;
  for (int64_t i = threadIdx.x; i < v; i += blockDim.x) {
    const double log_p = double(cuda::LoadF(tr, i)) - lt, log_q = double(cuda::LoadF(sr, i)) - ls;
    const double p = exp(log_p);
    kl += p * (log_p - log_q);
    if (ds != nullptr) cuda::StoreF(ds, r * v + i, static_cast<float>(scale * (exp(log_q) - p)));
  }
  kl = cuda::BlockReduce(kl, cuda::SumOp{});
  if (threadIdx.x == 0) atomicAdd(loss, kl);
}

}  // namespace

void LogitDistillCuda(const LogitDistillArgs& a, CUstream_st* stream) {
  const int64_t n = a.student.dim(0), v = a.student.dim(1);
  if (n == 0) return;
  cuda::WithActivationType(a.student.dtype, "LogitDistill", [&](auto type) {
    using T = decltype(type);
    LogitDistillKernel<T><<<static_cast<unsigned>(n), kRowThreads, 0, stream>>>(
        static_cast<const T*>(a.student.data), static_cast<const T*>(a.teacher.data), v, a.scale,
        a.loss.as<double>(), a.dstudent.empty() ? nullptr : static_cast<T*>(a.dstudent.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
