// CUDA twins of the reductions and scaling. Sums accumulate in f64 per thread, then per block in
// a fixed tree, then across blocks with atomicAdd on f64: the blocks' order varies, so a sum may
// differ from the CPU's index-order sum (and between runs) in its last bits (~1e-15 relative).
// Maxima are exact. The f64 outputs are zeroed on the stream first (they are overwritten).
#include "kernels/cuda/launch.h"
#include "kernels/moments.h"  // RnMul
#include "kernels/reduce.h"

namespace dqt {
namespace {

constexpr int kGroupThreads = 256;

#define DQT_GRID_STRIDE(i, n)                                                            \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void SumSquaresKernel(const float* x, int64_t n, double* out) {
  double sum = 0.0;
  DQT_GRID_STRIDE(i, n) {
    const double v = x[i];
    sum += v * v;
  }
  sum = cuda::BlockReduce(sum, cuda::SumOp{});
  if (threadIdx.x == 0) atomicAdd(out, sum);
}

__global__ void ScaleKernel(float* x, int64_t n, float factor) {
  DQT_GRID_STRIDE(i, n) { x[i] = RnMul(x[i], factor); }
}

__global__ void AbsSumKernel(const float* x, int64_t n, double* out) {
  double sum = 0.0;
  DQT_GRID_STRIDE(i, n) { sum += fabs(static_cast<double>(x[i])); }
  sum = cuda::BlockReduce(sum, cuda::SumOp{});
  if (threadIdx.x == 0) atomicAdd(out, sum);
}

__global__ void DivideKernel(double* out, double n) { out[0] /= n; }

// Max |x| over the grid. fmax drops NaN, like the CPU's std::max(r, NaN) == r. Non-negative
// doubles order as their bit patterns, so the cross-block max is an integer atomicMax on the bits
// of a zero-initialized output.
__global__ void AbsMaxKernel(const float* x, int64_t n, double* out) {
  double r = 0.0;
  DQT_GRID_STRIDE(i, n) { r = fmax(r, fabs(static_cast<double>(x[i]))); }
  r = cuda::BlockReduce(r, cuda::MaxOp{});
  if (threadIdx.x == 0) {
    atomicMax(reinterpret_cast<unsigned long long*>(out),
              static_cast<unsigned long long>(__double_as_longlong(r)));
  }
}

// One block per group (grid-stride over groups).
__global__ void __launch_bounds__(kGroupThreads)
    GroupMaxKernel(const int8_t* codes, int64_t group, int64_t groups, float* out) {
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    const int8_t* c = codes + g * group;
    int r = -128;
    for (int64_t j = threadIdx.x; j < group; j += blockDim.x) r = r > c[j] ? r : c[j];
    r = cuda::BlockReduce(r, cuda::MaxOp{});
    if (threadIdx.x == 0) out[g] = static_cast<float>(r);
  }
}

#undef DQT_GRID_STRIDE

}  // namespace

void SumSquaresCuda(const SumSquaresArgs& a, CUstream_st* stream) {
  CheckDType("SumSquares", "out", a.out, {DType::kF64});
  double* out = a.out.as<double>();
  DQT_CUDA_CALL_CHECK(cudaMemsetAsync(out, 0, sizeof(double), stream));
  const int64_t n = a.x.numel();
  if (n == 0) return;
  SumSquaresKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(a.x.as<float>(), n,
                                                                             out);
  DQT_CUDA_LAUNCH_CHECK();
}

void ScaleCuda(const ScaleArgs& a, CUstream_st* stream) {
  const int64_t n = a.x.numel();
  if (n == 0) return;
  ScaleKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(a.x.as<float>(), n,
                                                                        a.factor);
  DQT_CUDA_LAUNCH_CHECK();
}

void AbsStatCuda(const AbsStatArgs& a, CUstream_st* stream) {
  CheckDType("AbsStat", "out", a.out, {DType::kF64});
  double* out = a.out.as<double>();
  const int64_t n = a.x.numel();
  const unsigned blocks = cuda::GridStrideBlocks(n);
  DQT_CUDA_CALL_CHECK(cudaMemsetAsync(out, 0, sizeof(double), stream));
  if (a.stat == AbsStat::kMean) {
    AbsSumKernel<<<blocks, cuda::kThreads, 0, stream>>>(a.x.as<float>(), n, out);
    DQT_CUDA_LAUNCH_CHECK();
    DivideKernel<<<1, 1, 0, stream>>>(out, static_cast<double>(n));
  } else {
    AbsMaxKernel<<<blocks, cuda::kThreads, 0, stream>>>(a.x.as<float>(), n, out);
  }
  DQT_CUDA_LAUNCH_CHECK();
}

void GroupMaxCuda(const GroupMaxArgs& a, CUstream_st* stream) {
  const int64_t groups = a.out.numel();
  if (groups == 0) return;
  const unsigned blocks = static_cast<unsigned>(groups < 65535 ? groups : 65535);
  GroupMaxKernel<<<blocks, kGroupThreads, 0, stream>>>(a.codes.as<int8_t>(), a.group, groups,
                                                       a.out.as<float>());
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
