// CUDA twin of per-token activation quantization: one thread block per row. The row absmax is a
// block max (exact, so independent of the reduction order) and every per-element step uses
// IEEE-rounded intrinsics (__fmul_rn, __fdiv_rn, rintf), so for f32 activations every output
// (fake-quantized values, codes, scales, absmax) is bit-identical to the CPU twin. bf16
// activations are widened exactly, computed in fp32 the same way, and rounded to nearest even.
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <type_traits>

#include "kernels/act_quant.h"
#include "kernels/cuda/cublaslt_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/fp8.h"
#include "kernels/moments.h"  // FloatToBf16, Bf16ToFloat

namespace dqt {
namespace {

constexpr int kThreads = 256;

__device__ inline float Load(const float* p, int64_t i) { return p[i]; }
__device__ inline float Load(const uint16_t* p, int64_t i) { return Bf16ToFloat(p[i]); }
__device__ inline void Store(float* p, int64_t i, float v) { p[i] = v; }
__device__ inline void Store(uint16_t* p, int64_t i, float v) { p[i] = FloatToBf16(v); }

template <typename T>
__device__ float RowAbsMaxOf(const T* row, int64_t cols) {
  float m = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) m = fmaxf(m, fabsf(Load(row, j)));
  return cuda::BlockReduce(m, cuda::MaxOp{});
}

// qmax / max(absmax, 1e-5) exactly as the CPU twin computes it (std::max keeps a NaN absmax).
__device__ inline float ScaleFor(float qmax, float absmax) {
  return __fdiv_rn(qmax, absmax < 1e-5f ? 1e-5f : absmax);
}

// clamp(nearbyint(x * s), -128, 127) in the order std::clamp evaluates it (a NaN passes through).
__device__ inline float Int8Level(float x, float s) {
  const float q = rintf(__fmul_rn(x, s));
  const float lo = q < -128.0f ? -128.0f : q;
  return 127.0f < lo ? 127.0f : lo;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    RowAbsMaxKernel(const T* x, int64_t cols, float* absmax) {
  const float m = RowAbsMaxOf(x + blockIdx.x * cols, cols);
  if (threadIdx.x == 0) absmax[blockIdx.x] = m;
}

// absmax null: the row's own absmax.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    ActQuantKernel(T* x, int64_t cols, const float* absmax, bool fp16_scale) {
  T* row = x + blockIdx.x * cols;
  const float amax = absmax != nullptr ? absmax[blockIdx.x] : RowAbsMaxOf(row, cols);
  const float s = ScaleFor(127.0f, amax);
  const float d = fp16_scale ? Fp16Round(__fdiv_rn(amax, 127.0f)) : 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
    const float code = Int8Level(Load(row, j), s);
    Store(row, j, fp16_scale ? __fmul_rn(code, d) : __fdiv_rn(code, s));
  }
}

template <typename T, typename Code>
__global__ void __launch_bounds__(kThreads)
    ActQuantCodesKernel(const T* x, int64_t cols, const float* absmax, Code* codes, float* scale) {
  constexpr bool kInt8 = std::is_same<Code, int8_t>::value;
  const T* row = x + blockIdx.x * cols;
  Code* out = codes + blockIdx.x * cols;
  const float amax = absmax != nullptr ? absmax[blockIdx.x] : RowAbsMaxOf(row, cols);
  const float s = ScaleFor(kInt8 ? 127.0f : kE4m3Max, amax);
  if (threadIdx.x == 0) scale[blockIdx.x] = s;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
    if constexpr (kInt8) {
      out[j] = static_cast<int8_t>(Int8Level(Load(row, j), s));
    } else {
      out[j] = FloatToE4m3(__fmul_rn(Load(row, j), s));
    }
  }
}

// Calls f(pointer) with the activations as float* or uint16_t* (bf16 bits).
template <typename F>
void WithActivations(const char* op, const TensorRef& x, F&& f) {
  CheckDType(op, "x", x, {DType::kF32, DType::kBF16});
  if (x.dtype == DType::kF32) {
    f(static_cast<float*>(x.data));
  } else {
    f(static_cast<uint16_t*>(x.data));
  }
}

// One block per row: the grid's x dimension holds up to 2^31 - 1 rows.
unsigned RowBlocks(const char* op, int64_t rows) {
  DQT_CHECK(rows <= INT_MAX) << op << ": " << rows << " rows exceed one grid";
  return static_cast<unsigned>(rows);
}

}  // namespace

void RowAbsMaxCuda(const RowAbsMaxArgs& a, CUstream_st* stream) {
  const int64_t rows = a.x.dim(0), cols = a.x.dim(1);
  float* absmax = a.absmax.as<float>();
  if (rows == 0) return;
  WithActivations("RowAbsMax", a.x, [&](auto* x) {
    RowAbsMaxKernel<<<RowBlocks("RowAbsMax", rows), kThreads, 0, stream>>>(x, cols, absmax);
  });
  DQT_CUDA_CHECK_FATAL(cudaGetLastError());
}

void ActQuantCuda(const ActQuantArgs& a, CUstream_st* stream) {
  const int64_t rows = a.x.dim(0), cols = a.x.dim(1);
  const float* absmax = a.absmax.empty() ? nullptr : a.absmax.as<float>();
  if (rows == 0) return;
  WithActivations("ActQuant", a.x, [&](auto* x) {
    ActQuantKernel<<<RowBlocks("ActQuant", rows), kThreads, 0, stream>>>(x, cols, absmax,
                                                                         a.fp16_scale);
  });
  DQT_CUDA_CHECK_FATAL(cudaGetLastError());
}

void ActQuantCodesCuda(const ActQuantCodesArgs& a, CUstream_st* stream) {
  const int64_t rows = a.x.dim(0), cols = a.x.dim(1);
  const float* absmax = a.absmax.empty() ? nullptr : a.absmax.as<float>();
  float* scale = a.scale.as<float>();
  if (rows == 0) return;
  const unsigned blocks = RowBlocks("ActQuantCodes", rows);
  WithActivations("ActQuantCodes", a.x, [&](auto* x) {
    if (a.codes.dtype == DType::kI8) {
      ActQuantCodesKernel<<<blocks, kThreads, 0, stream>>>(x, cols, absmax, a.codes.as<int8_t>(),
                                                           scale);
    } else {
      ActQuantCodesKernel<<<blocks, kThreads, 0, stream>>>(x, cols, absmax, a.codes.as<Fp8E4M3>(),
                                                           scale);
    }
  });
  DQT_CUDA_CHECK_FATAL(cudaGetLastError());
}

}  // namespace dqt
