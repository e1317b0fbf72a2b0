// CUDA twin of the fused softmax cross-entropy: one thread block per row, three passes over the
// vocabulary (max; sum of exp; gradient written in place), fp32 max and sum (per-thread sums of
// ~100 terms, then a fixed block tree). The token-loss sum is one block in f64: deterministic.
#include "kernels/cross_entropy.h"
#include "kernels/cuda/launch.h"

namespace dqt {
namespace {

constexpr int kRowThreads = 512;
constexpr int kSumThreads = 1024;

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    CrossEntropyKernel(T* logits, const int32_t* targets, int64_t vocab, float grad_scale,
                       float* losses) {
  const int64_t row = blockIdx.x;
  T* x = logits + row * vocab;
  const int32_t target = targets[row];
  if (target < 0) {  // the whole block takes this branch
    if (threadIdx.x == 0) losses[row] = 0.0f;
    if (grad_scale != 0.0f) {
      for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) cuda::StoreF(x, j, 0.0f);
    }
    return;
  }
  const float target_logit = cuda::LoadF(x, target);  // read before any thread overwrites it
  float max = -INFINITY;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) max = fmaxf(max, cuda::LoadF(x, j));
  max = cuda::BlockReduce(max, cuda::MaxOp{});
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) sum += expf(cuda::LoadF(x, j) - max);
  sum = cuda::BlockReduce(sum, cuda::SumOp{});  // also orders every read before the writes
  if (threadIdx.x == 0) losses[row] = logf(sum) - (target_logit - max);
  if (grad_scale != 0.0f) {
    const float factor = grad_scale / sum;
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
      const float p = expf(cuda::LoadF(x, j) - max) * factor;
      cuda::StoreF(x, j, j == target ? p - grad_scale : p);
    }
  }
}

// One block: per-thread f64 partials in a fixed stride, then the block tree, so the result does
// not vary between runs.
__global__ void __launch_bounds__(kSumThreads)
    TokenLossSumKernel(const float* losses, const int32_t* targets, int64_t n, double* totals) {
  double sum = 0.0, count = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    if (targets[i] < 0) continue;
    sum += losses[i];
    count += 1.0;
  }
  sum = cuda::BlockReduce(sum, cuda::SumOp{});
  count = cuda::BlockReduce(count, cuda::SumOp{});
  if (threadIdx.x == 0) {
    totals[0] += sum;
    totals[1] += count;
  }
}

}  // namespace

void CrossEntropyCuda(const CrossEntropyArgs& a, CUstream_st* stream) {
  CheckDType("CrossEntropy", "targets", a.targets, {DType::kI32});
  CheckDType("CrossEntropy", "losses", a.losses, {DType::kF32});
  const int64_t rows = a.logits.dim(0), vocab = a.logits.dim(1);
  if (rows == 0) return;
  DQT_CHECK(vocab > 0 && rows <= 0x7FFFFFFF) << "CrossEntropy: " << a.logits.ShapeString();
  cuda::WithActivationType(a.logits.dtype, "CrossEntropy", [&](auto t) {
    using T = decltype(t);
    CrossEntropyKernel<T><<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(
        static_cast<T*>(a.logits.data), a.targets.as<int32_t>(), vocab, a.grad_scale,
        a.losses.as<float>());
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void TokenLossSumCuda(const TokenLossSumArgs& a, CUstream_st* stream) {
  CheckDType("TokenLossSum", "losses", a.losses, {DType::kF32});
  CheckDType("TokenLossSum", "targets", a.targets, {DType::kI32});
  CheckDType("TokenLossSum", "totals", a.totals, {DType::kF64});
  const int64_t n = a.losses.numel();
  if (n == 0) return;
  TokenLossSumKernel<<<1, kSumThreads, 0, stream>>>(a.losses.as<float>(), a.targets.as<int32_t>(),
                                                    n, a.totals.as<double>());
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
