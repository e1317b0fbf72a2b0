// CUDA twins of the mask ops. TopKMask finds the k-th largest key by a four-pass radix select
// (8 bits per pass: a 256-bin histogram of the keys that share the digits chosen so far, then one
// thread picks the bin holding the k-th key), all on the stream with no host round trip; the
// result is the same exact key as the CPU's nth_element, so the masks are bit-equal. Counts are
// exact integer sums; the element-wise ops use the shared per-element helpers.
#include "kernels/cuda/launch.h"
#include "kernels/mask.h"

namespace dqt {
namespace {

#define DQT_GRID_STRIDE(i, n)                                                            \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Scratch layout (u32): [0, 256) histogram, [256] the key prefix chosen so far, [257] the rank
// (1-based, from the largest) of the wanted key among the keys with that prefix.
constexpr int kBins = 256;
constexpr int kPrefix = 256, kRank = 257;

__global__ void RadixInitKernel(uint32_t* state, uint32_t k) {
  state[kPrefix] = 0;
  state[kRank] = k;
}

// Histogram of digit (key >> shift) & 255 over the keys whose higher digits equal the prefix's.
__global__ void RadixHistogramKernel(const float* scores, int64_t n, ScoreKey key, int shift,
                                     uint32_t* state) {
  __shared__ uint32_t hist[kBins];
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) hist[b] = 0;
  __syncthreads();
  const uint32_t prefix = state[kPrefix];
  const int high = shift + 8;
  DQT_GRID_STRIDE(i, n) {
    const uint32_t k = OrderedKey(scores[i], key);
    if (high >= 32 || (k >> high) == (prefix >> high)) atomicAdd(&hist[(k >> shift) & 0xFFu], 1u);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    if (hist[b]) atomicAdd(&state[b], hist[b]);
  }
}

__global__ void RadixPickKernel(uint32_t* state, int shift) {
  uint32_t rank = state[kRank];
  for (int b = kBins - 1; b >= 0; --b) {
    if (rank <= state[b]) {
      state[kPrefix] |= static_cast<uint32_t>(b) << shift;
      break;
    }
    rank -= state[b];
  }
  state[kRank] = rank;
}

__global__ void ThresholdKernel(const float* scores, int64_t n, ScoreKey key, const uint32_t* state,
                                uint8_t* mask) {
  const uint32_t threshold = state[kPrefix];
  DQT_GRID_STRIDE(i, n) { mask[i] = OrderedKey(scores[i], key) >= threshold ? 1 : 0; }
}

template <typename T>
__global__ void ApplyMaskKernel(const T* src, const uint8_t* mask, T* dst, int64_t n) {
  DQT_GRID_STRIDE(i, n) { dst[i] = mask[i] ? src[i] : T(0); }
}

__global__ void MaskUnionKernel(const uint8_t* mask, uint8_t* acc, int64_t n) {
  DQT_GRID_STRIDE(i, n) { acc[i] = (acc[i] || mask[i]) ? 1 : 0; }
}

__global__ void MaskCountKernel(const uint8_t* mask, int64_t n, unsigned long long* out) {
  unsigned long long count = 0;
  DQT_GRID_STRIDE(i, n) { count += mask[i] != 0; }
  count = cuda::BlockReduce(count, cuda::SumOp{});
  if (threadIdx.x == 0 && count) atomicAdd(out, count);
}

__global__ void MaskAccumulateKernel(const uint8_t* mask, float* acc, int64_t n, float weight) {
  DQT_GRID_STRIDE(i, n) {
    if (mask[i]) acc[i] = __fadd_rn(acc[i], weight);
  }
}

__global__ void ScoreAdamKernel(ScoreAdamArgs a, float* s, float* m, float* v, const float* g,
                                const float* w, const float* shared, int64_t n) {
  DQT_GRID_STRIDE(i, n) {
    ScoreAdamElement(a, g[i], w[i], shared ? shared[i] : 0.0f, &s[i], &m[i], &v[i]);
  }
}

#undef DQT_GRID_STRIDE

}  // namespace

void TopKMaskCuda(const TopKMaskArgs& a, CUstream_st* stream) {
  const int64_t n = a.scores.numel();
  const float* scores = a.scores.as<float>();
  uint32_t* state = reinterpret_cast<uint32_t*>(a.scratch.as<int32_t>());
  const unsigned blocks = cuda::GridStrideBlocks(n);
  RadixInitKernel<<<1, 1, 0, stream>>>(state, static_cast<uint32_t>(a.k));
  DQT_CUDA_LAUNCH_CHECK();
  for (int shift = 24; shift >= 0; shift -= 8) {
    DQT_CUDA_CALL_CHECK(cudaMemsetAsync(state, 0, kBins * sizeof(uint32_t), stream));
    RadixHistogramKernel<<<blocks, cuda::kThreads, 0, stream>>>(scores, n, a.key, shift, state);
    DQT_CUDA_LAUNCH_CHECK();
    RadixPickKernel<<<1, 1, 0, stream>>>(state, shift);
    DQT_CUDA_LAUNCH_CHECK();
  }
  ThresholdKernel<<<blocks, cuda::kThreads, 0, stream>>>(scores, n, a.key, state,
                                                         a.mask.as<uint8_t>());
  DQT_CUDA_LAUNCH_CHECK();
}

void ApplyMaskCuda(const ApplyMaskArgs& a, CUstream_st* stream) {
  const int64_t n = a.src.numel();
  if (n == 0) return;
  const unsigned blocks = cuda::GridStrideBlocks(n);
  const uint8_t* mask = a.mask.as<uint8_t>();
  if (a.src.dtype == DType::kI8) {
    ApplyMaskKernel<<<blocks, cuda::kThreads, 0, stream>>>(a.src.as<int8_t>(), mask,
                                                           a.dst.as<int8_t>(), n);
  } else {
    ApplyMaskKernel<<<blocks, cuda::kThreads, 0, stream>>>(a.src.as<float>(), mask,
                                                           a.dst.as<float>(), n);
  }
  DQT_CUDA_LAUNCH_CHECK();
}

void MaskUnionCuda(const MaskUnionArgs& a, CUstream_st* stream) {
  const int64_t n = a.acc.numel();
  if (n == 0) return;
  MaskUnionKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(a.mask.as<uint8_t>(),
                                                                            a.acc.as<uint8_t>(), n);
  DQT_CUDA_LAUNCH_CHECK();
}

void MaskCountCuda(const MaskCountArgs& a, CUstream_st* stream) {
  auto* out = reinterpret_cast<unsigned long long*>(a.out.as<int64_t>());
  DQT_CUDA_CALL_CHECK(cudaMemsetAsync(out, 0, sizeof(int64_t), stream));
  const int64_t n = a.mask.numel();
  if (n == 0) return;
  MaskCountKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(a.mask.as<uint8_t>(), n,
                                                                            out);
  DQT_CUDA_LAUNCH_CHECK();
}

void MaskAccumulateCuda(const MaskAccumulateArgs& a, CUstream_st* stream) {
  const int64_t n = a.acc.numel();
  if (n == 0) return;
  MaskAccumulateKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
      a.mask.as<uint8_t>(), a.acc.as<float>(), n, a.weight);
  DQT_CUDA_LAUNCH_CHECK();
}

void ScoreAdamCuda(const ScoreAdamArgs& a, CUstream_st* stream) {
  const int64_t n = a.scores.numel();
  if (n == 0) return;
  ScoreAdamKernel<<<cuda::GridStrideBlocks(n), cuda::kThreads, 0, stream>>>(
      a, a.scores.as<float>(), a.m.as<float>(), a.v.as<float>(), a.grad.as<float>(),
      a.weights.as<float>(), a.shared.empty() ? nullptr : a.shared.as<float>(), n);
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
