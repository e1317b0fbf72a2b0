// CUDA twins of the weight ops. Elementwise results equal the CPU twin's bit for bit: the same
// correctly rounded fp32 operations, rintf for std::nearbyint (round half to even), the CPU's
// clamp written out, and the shared FloatToBf16 / FloatToE4m3 conversions. Ternarize's mean |w|
// is reduced in f64 by a single block in a fixed order (deterministic; it differs from the CPU's
// index-order sum only in the last bits of the f64 sum).
#include "kernels/cuda/launch.h"
#include "kernels/fp8.h"
#include "kernels/moments.h"  // FloatToBf16, RnDiv, RnMul
#include "kernels/weights.h"

namespace dqt {
namespace {

constexpr int kReduceThreads = 1024;

__device__ __forceinline__ void StoreWeight(float* out, int64_t i, float x) { out[i] = x; }
__device__ __forceinline__ void StoreWeight(uint16_t* out, int64_t i, float x) {
  out[i] = FloatToBf16(x);
}
// std::clamp(v, lo, hi) exactly as the CPU evaluates it (a NaN v passes through).
__device__ __forceinline__ float ClampLikeStd(float v, float lo, float hi) {
  return v < lo ? lo : (hi < v ? hi : v);
}

#define DQT_GRID_STRIDE(i, n)                                                            \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// n outputs; `width` columns [col0, col0 + width) of rows of `len` codes (width == len: all).
template <typename O>
__global__ void DequantizeKernel(const int8_t* codes, const float* scales, int64_t group, int64_t n,
                                 int64_t len, int64_t col0, int64_t width, O* out) {
  DQT_GRID_STRIDE(i, n) {
    const int64_t src = width == len ? i : i / width * len + col0 + i % width;
    StoreWeight(out, i, RnDiv(static_cast<float>(codes[src]), scales[src / group]));
  }
}

// absmean[0] = max(sum |w| / n, 1e-5) rounded to f32; one block of kReduceThreads.
__global__ void __launch_bounds__(kReduceThreads)
    AbsMeanKernel(const float* w, int64_t n, float* absmean) {
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += fabs(static_cast<double>(w[i]));
  sum = cuda::BlockReduce(sum, cuda::SumOp{});
  if (threadIdx.x == 0) absmean[0] = static_cast<float>(fmax(sum / static_cast<double>(n), 1e-5));
}

// out may alias w: each thread reads its element before writing it.
template <typename O>
__global__ void TernarizeKernel(const float* w, int64_t n, const float* absmean, O* out) {
  const float m = *absmean;
  DQT_GRID_STRIDE(i, n) {
    StoreWeight(out, i, RnMul(ClampLikeStd(rintf(RnDiv(w[i], m)), -1.0f, 1.0f), m));
  }
}

__global__ void QuantizeToGridKernel(const float* w, const float* scales, int64_t group, int64_t n,
                                     float qmin, float qmax, int8_t* codes) {
  DQT_GRID_STRIDE(i, n) {
    codes[i] = static_cast<int8_t>(ClampLikeStd(rintf(RnMul(w[i], scales[i / group])), qmin, qmax));
  }
}

__global__ void F32ToBf16Kernel(const float* src, int64_t n, uint16_t* dst) {
  DQT_GRID_STRIDE(i, n) { dst[i] = FloatToBf16(src[i]); }
}
__global__ void Bf16ToF32Kernel(const uint16_t* src, int64_t n, float* dst) {
  DQT_GRID_STRIDE(i, n) { dst[i] = Bf16ToFloat(src[i]); }
}
__global__ void I8ToE4m3Kernel(const int8_t* src, int64_t n, uint8_t* dst) {
  DQT_GRID_STRIDE(i, n) { dst[i] = FloatToE4m3(static_cast<float>(src[i])).bits; }
}

#undef DQT_GRID_STRIDE

// Calls f(O{}) with O = float for an f32 output and uint16_t (bf16 bits) for bf16.
template <typename F>
void WithWeightOutput(const TensorRef& out, const char* op, F&& f) {
  if (out.dtype == DType::kF32) {
    f(float{});
  } else {
    DQT_CHECK(out.dtype == DType::kBF16) << op << ": out must be f32 or bf16";
    f(uint16_t{});
  }
}

}  // namespace

void DequantizeCuda(const DequantizeArgs& a, CUstream_st* stream) {
  const int64_t n = a.out.numel();
  if (n == 0) return;
  const int64_t len = a.row_len > 0 ? a.row_len : a.codes.numel();
  const int64_t width = a.row_len > 0 ? n / (a.codes.numel() / len) : len;
  WithWeightOutput(a.out, "Dequantize", [&](auto t) {
    using O = decltype(t);
    DequantizeKernel<O><<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
        a.codes.as<int8_t>(), a.scales.as<float>(), a.group, n, len, a.col0, width,
        static_cast<O*>(a.out.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void TernarizeCuda(const TernarizeArgs& a, CUstream_st* stream) {
  const int64_t n = a.w.numel();
  float* absmean = a.absmean.as<float>();
  AbsMeanKernel<<<1, kReduceThreads, 0, stream>>>(a.w.as<float>(), n, absmean);
  DQT_CUDA_LAUNCH_CHECK();
  WithWeightOutput(a.out, "Ternarize", [&](auto t) {
    using O = decltype(t);
    TernarizeKernel<O><<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
        static_cast<const float*>(a.w.data), n, absmean, static_cast<O*>(a.out.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void QuantizeToGridCuda(const QuantizeToGridArgs& a, CUstream_st* stream) {
  const int64_t n = a.w.numel();
  if (n == 0) return;
  QuantizeToGridKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
      a.w.as<float>(), a.scales.as<float>(), a.group, n, static_cast<float>(a.grid.qmin()),
      static_cast<float>(a.grid.qmax()), a.codes.as<int8_t>());
  DQT_CUDA_LAUNCH_CHECK();
}

void ConvertCuda(const ConvertArgs& a, CUstream_st* stream) {
  const int64_t n = a.src.numel();
  if (n == 0) return;
  const unsigned blocks = cuda::GridStrideBlocks(n);
  const DType s = a.src.dtype, d = a.dst.dtype;
  if (s == DType::kF32 && d == DType::kF32) {
    DQT_CUDA_CALL_CHECK(
        cudaMemcpyAsync(a.dst.data, a.src.data, a.src.bytes(), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  if (s == DType::kF32 && d == DType::kBF16) {
    F32ToBf16Kernel<<<blocks, cuda::kThreads, 0, stream>>>(a.src.as<float>(), n,
                                                           static_cast<uint16_t*>(a.dst.data));
  } else if (s == DType::kBF16 && d == DType::kF32) {
    Bf16ToF32Kernel<<<blocks, cuda::kThreads, 0, stream>>>(static_cast<const uint16_t*>(a.src.data),
                                                           n, a.dst.as<float>());
  } else if (s == DType::kI8 && d == DType::kF8E4M3) {
    I8ToE4m3Kernel<<<blocks, cuda::kThreads, 0, stream>>>(a.src.as<int8_t>(), n,
                                                          static_cast<uint8_t*>(a.dst.data));
  } else {
    DQT_CHECK(false) << "Convert: " << DTypeName(s) << " -> " << DTypeName(d)
                     << " is not supported";
  }
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
