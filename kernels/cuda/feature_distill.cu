// CUDA twins of the OFF feature-distillation loss: one block per row reduces the three dot
// products in f64 (a fixed tree per launch shape). The forward adds each row's loss to the total
// with an f64 atomicAdd, so the order of the row sum (and its last bits) varies run to run; the
// backward is deterministic.
#include "kernels/cuda/launch.h"
#include "kernels/feature_distill.h"

namespace dqt {
namespace {

constexpr int kRowThreads = 256;

struct Dots {
  double ss, tt, st;
};

template <typename T>
__device__ Dots RowDots(const T* s, const T* t, int64_t d) {
  double ss = 0.0, tt = 0.0, st = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const double si = cuda::LoadF(s, i), ti = cuda::LoadF(t, i);
    ss += si * si;
    tt += ti * ti;
    st += si * ti;
  }
  ss = cuda::BlockReduce(ss, cuda::SumOp{});
  tt = cuda::BlockReduce(tt, cuda::SumOp{});
  st = cuda::BlockReduce(st, cuda::SumOp{});
  return {ss, tt, st};
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    ForwardKernel(const T* s, const T* t, int64_t d, double* loss) {
  const int64_t r = blockIdx.x;
  const Dots dots = RowDots(s + r * d, t + r * d, d);
  if (threadIdx.x == 0) {
    const double l =
        1.0 - dots.st / (sqrt(dots.ss + kFeatureDistillEps) * sqrt(dots.tt + kFeatureDistillEps));
    atomicAdd(loss, l);
  }
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    BackwardKernel(const T* s, const T* t, int64_t d, float scale, T* ds) {
  const int64_t r = blockIdx.x;
  const Dots dots = RowDots(s + r * d, t + r * d, d);
  const double ns = sqrt(dots.ss + kFeatureDistillEps), nt = sqrt(dots.tt + kFeatureDistillEps);
  const double cs = scale * (dots.st / (ns * nt)) / (ns * ns), ct = scale / (ns * nt);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const int64_t k = r * d + i;
    const double g = cs * cuda::LoadF(s, k) - ct * cuda::LoadF(t, k);
    cuda::StoreF(ds, k, static_cast<float>(cuda::LoadF(ds, k) + g));
  }
}

}  // namespace

void FeatureDistillForwardCuda(const FeatureDistillForwardArgs& a, CUstream_st* stream) {
  const int64_t n = a.student.dim(0), d = a.student.dim(1);
  if (n == 0) return;
  cuda::WithActivationType(a.student.dtype, "FeatureDistillForward", [&](auto type) {
    using T = decltype(type);
    ForwardKernel<T><<<static_cast<unsigned>(n), kRowThreads, 0, stream>>>(
        static_cast<const T*>(a.student.data), static_cast<const T*>(a.teacher.data), d,
        a.loss.as<double>());
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void FeatureDistillBackwardCuda(const FeatureDistillBackwardArgs& a, CUstream_st* stream) {
  const int64_t n = a.student.dim(0), d = a.student.dim(1);
  if (n == 0) return;
  cuda::WithActivationType(a.student.dtype, "FeatureDistillBackward", [&](auto type) {
    using T = decltype(type);
    BackwardKernel<T><<<static_cast<unsigned>(n), kRowThreads, 0, stream>>>(
        static_cast<const T*>(a.student.data), static_cast<const T*>(a.teacher.data), d, a.scale,
        static_cast<T*>(a.dstudent.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
