// CUDA twin of RMSNorm: one thread block per row, statistics in fp32 (per-thread sums, then a
// fixed block tree), f32 or bf16 activations, f32 gain / rstd / dgain. dgain is reduced over rows
// by a column kernel that adds one partial per (column, chunk of rows) with atomicAdd: the
// chunks' order, and so the last bits of dgain, vary from run to run.
#include "kernels/cuda/launch.h"
#include "kernels/rmsnorm.h"

namespace dqt {
namespace {

constexpr int kRowThreads = 256;
constexpr int kGainRowsPerChunk = 64;

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    RmsNormForwardKernel(const T* x, const float* gain, int64_t d, float eps, T* y, float* rstd) {
  const int64_t row = blockIdx.x;
  const T* xr = x + row * d;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    const float v = cuda::LoadF(xr, j);
    ss += v * v;
  }
  ss = cuda::BlockReduce(ss, cuda::SumOp{});
  const float s = 1.0f / sqrtf(ss / static_cast<float>(d) + eps);
  if (threadIdx.x == 0) rstd[row] = s;
  T* yr = y + row * d;
  // (x * s) * gain, each product rounded, as the CPU twin.
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    cuda::StoreF(yr, j, __fmul_rn(__fmul_rn(cuda::LoadF(xr, j), s), gain[j]));
  }
}

// dx = s * dy * g - (s^3 / d) * sum(dy * g * x) * x.
template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    RmsNormBackwardKernel(const T* x, const float* gain, const float* rstd, const T* dy, int64_t d,
                          T* dx) {
  const int64_t row = blockIdx.x;
  const T* xr = x + row * d;
  const T* dyr = dy + row * d;
  float dot = 0.0f;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    dot += cuda::LoadF(dyr, j) * gain[j] * cuda::LoadF(xr, j);
  }
  dot = cuda::BlockReduce(dot, cuda::SumOp{});
  const float s = rstd[row];
  const float c = s * s * s * dot / static_cast<float>(d);
  T* dxr = dx + row * d;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    const float v = __fsub_rn(__fmul_rn(__fmul_rn(s, cuda::LoadF(dyr, j)), gain[j]),
                              __fmul_rn(c, cuda::LoadF(xr, j)));
    cuda::StoreF(dxr, j, v);
  }
}

// dgain[j] += sum over rows of dy * x * rstd: thread per column (coalesced across a row), grid.y
// over chunks of kGainRowsPerChunk rows, one atomicAdd per (column, chunk).
template <typename T>
__global__ void RmsNormGainKernel(const T* x, const float* rstd, const T* dy, int64_t rows,
                                  int64_t d, float* dgain) {
  const int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (j >= d) return;
  for (int64_t r0 = blockIdx.y * int64_t{kGainRowsPerChunk}; r0 < rows;
       r0 += gridDim.y * int64_t{kGainRowsPerChunk}) {
    const int64_t r1 = r0 + kGainRowsPerChunk < rows ? r0 + kGainRowsPerChunk : rows;
    float acc = 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
      acc += cuda::LoadF(dy, r * d + j) * cuda::LoadF(x, r * d + j) * rstd[r];
    }
    atomicAdd(dgain + j, acc);
  }
}

}  // namespace

void RmsNormForwardCuda(const RmsNormForwardArgs& a, CUstream_st* stream) {
  CheckDType("RmsNormForward", "gain", a.gain, {DType::kF32});
  CheckDType("RmsNormForward", "rstd", a.rstd, {DType::kF32});
  DQT_CHECK(a.y.dtype == a.x.dtype) << "RmsNormForward: y and x dtypes differ";
  const int64_t d = a.x.dim(-1), rows = d ? a.x.numel() / d : 0;
  if (rows == 0) return;
  DQT_CHECK(rows <= 0x7FFFFFFF) << "RmsNormForward: " << rows << " rows";
  cuda::WithActivationType(a.x.dtype, "RmsNormForward", [&](auto t) {
    using T = decltype(t);
    RmsNormForwardKernel<T><<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(
        static_cast<const T*>(a.x.data), a.gain.as<float>(), d, a.eps, static_cast<T*>(a.y.data),
        a.rstd.as<float>());
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void RmsNormBackwardCuda(const RmsNormBackwardArgs& a, CUstream_st* stream) {
  CheckDType("RmsNormBackward", "gain", a.gain, {DType::kF32});
  CheckDType("RmsNormBackward", "rstd", a.rstd, {DType::kF32});
  CheckDType("RmsNormBackward", "dgain", a.dgain, {DType::kF32});
  DQT_CHECK(a.dy.dtype == a.x.dtype && a.dx.dtype == a.x.dtype)
      << "RmsNormBackward: x, dy and dx dtypes differ";
  const int64_t d = a.x.dim(-1), rows = d ? a.x.numel() / d : 0;
  if (rows == 0) return;
  DQT_CHECK(rows <= 0x7FFFFFFF) << "RmsNormBackward: " << rows << " rows";
  const unsigned col_blocks = static_cast<unsigned>((d + cuda::kThreads - 1) / cuda::kThreads);
  const int64_t chunks = (rows + kGainRowsPerChunk - 1) / kGainRowsPerChunk;
  const dim3 gain_grid(col_blocks, static_cast<unsigned>(chunks < 1024 ? chunks : 1024));
  cuda::WithActivationType(a.x.dtype, "RmsNormBackward", [&](auto t) {
    using T = decltype(t);
    const T* x = static_cast<const T*>(a.x.data);
    const T* dy = static_cast<const T*>(a.dy.data);
    RmsNormBackwardKernel<T><<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(
        x, a.gain.as<float>(), a.rstd.as<float>(), dy, d, static_cast<T*>(a.dx.data));
    DQT_CUDA_LAUNCH_CHECK();
    RmsNormGainKernel<T><<<gain_grid, cuda::kThreads, 0, stream>>>(x, a.rstd.as<float>(), dy, rows,
                                                                   d, a.dgain.as<float>());
    DQT_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace dqt
