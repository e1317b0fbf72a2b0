// CUDA twin of the embedding op: the forward gathers rows of the f32 table into f32 / bf16
// activations; the backward scatter-adds activation gradients into the f32 table gradient with
// atomicAdd, so rows hit by several tokens sum in an unspecified (run to run varying) order.
#include "kernels/cuda/launch.h"
#include "kernels/embedding.h"

namespace dqt {
namespace {

// Grid-stride over tokens (blocks), threads over the row. An id outside [0, vocab) is a caller
// bug (undefined on the CPU); here it yields a NaN row so the loss shows it.
template <typename T>
__global__ void EmbeddingForwardKernel(const int32_t* ids, int64_t n, const float* table,
                                       int64_t vocab, int64_t d, T* out) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t id = ids[i];
    const bool valid = id >= 0 && id < vocab;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      cuda::StoreF(out, i * d + j, valid ? table[id * d + j] : __int_as_float(0x7FC00000));
    }
  }
}

// Out-of-range ids are skipped.
template <typename T>
__global__ void EmbeddingBackwardKernel(const int32_t* ids, int64_t n, const T* dout, int64_t vocab,
                                        int64_t d, float* dtable) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t id = ids[i];
    if (id < 0 || id >= vocab) continue;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      atomicAdd(dtable + id * d + j, cuda::LoadF(dout, i * d + j));
    }
  }
}

unsigned RowBlocks(int64_t n) { return static_cast<unsigned>(n < 1 ? 1 : (n < 65535 ? n : 65535)); }
int RowThreads(int64_t d) { return d <= 128 ? 128 : 256; }

}  // namespace

void EmbeddingForwardCuda(const EmbeddingForwardArgs& a, CUstream_st* stream) {
  CheckDType("EmbeddingForward", "ids", a.ids, {DType::kI32});
  CheckDType("EmbeddingForward", "table", a.table, {DType::kF32});
  const int64_t n = a.ids.numel(), d = a.table.dim(-1), vocab = a.table.numel() / d;
  if (n == 0 || d == 0) return;
  cuda::WithActivationType(a.out.dtype, "EmbeddingForward", [&](auto t) {
    using T = decltype(t);
    EmbeddingForwardKernel<T><<<RowBlocks(n), RowThreads(d), 0, stream>>>(
        a.ids.as<int32_t>(), n, a.table.as<float>(), vocab, d, static_cast<T*>(a.out.data));
  });
  DQT_CUDA_LAUNCH_CHECK();
}

void EmbeddingBackwardCuda(const EmbeddingBackwardArgs& a, CUstream_st* stream) {
  CheckDType("EmbeddingBackward", "ids", a.ids, {DType::kI32});
  CheckDType("EmbeddingBackward", "dtable", a.dtable, {DType::kF32});
  const int64_t n = a.ids.numel(), d = a.dtable.dim(-1), vocab = a.dtable.numel() / d;
  if (n == 0 || d == 0) return;
  cuda::WithActivationType(a.dout.dtype, "EmbeddingBackward", [&](auto t) {
    using T = decltype(t);
    EmbeddingBackwardKernel<T><<<RowBlocks(n), RowThreads(d), 0, stream>>>(
        a.ids.as<int32_t>(), n, static_cast<const T*>(a.dout.data), vocab, d, a.dtable.as<float>());
  });
  DQT_CUDA_LAUNCH_CHECK();
}

}  // namespace dqt
