// Host allocation always; CUDA allocation and copies when the build has the CUDA runtime.
#include "core/base/device_memory.h"

#include <cstdlib>
#include <cstring>

#include "core/base/check.h"

#ifdef DQT_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace dqt {
namespace {

#ifdef DQT_HAVE_CUDA
void CheckCuda(cudaError_t code, const char* what, size_t bytes) {
  DQT_CHECK(code == cudaSuccess) << what << " (" << bytes
                                 << " bytes) failed: " << cudaGetErrorName(code) << ": "
                                 << cudaGetErrorString(code);
}
#endif

}  // namespace

bool BuiltWithCuda() {
#ifdef DQT_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

void* AllocateOn(Device device, size_t bytes) {
  if (device == Device::kCpu) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    DQT_CHECK(p != nullptr) << "out of host memory allocating " << bytes << " bytes";
    return p;
  }
#ifdef DQT_HAVE_CUDA
  void* p = nullptr;
  CheckCuda(cudaMalloc(&p, bytes), "cudaMalloc", bytes);
  return p;
#else
  DQT_CHECK(false) << "a CUDA buffer of " << bytes << " bytes in a build without CUDA";
  return nullptr;
#endif
}

void FreeOn(Device device, void* p) {
  if (p == nullptr) return;
  if (device == Device::kCpu) {
    std::free(p);
    return;
  }
#ifdef DQT_HAVE_CUDA
  CheckCuda(cudaFree(p), "cudaFree", 0);
#endif
}

void ZeroOn(Device device, void* p, size_t bytes, CUstream_st* stream) {
  if (bytes == 0) return;
  if (device == Device::kCpu) {
    std::memset(p, 0, bytes);
    return;
  }
#ifdef DQT_HAVE_CUDA
  CheckCuda(cudaMemsetAsync(p, 0, bytes, stream), "cudaMemsetAsync", bytes);
#else
  (void)stream;
  DQT_CHECK(false) << "zeroing CUDA memory in a build without CUDA";
#endif
}

void CopyBytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
               CUstream_st* stream) {
  if (bytes == 0) return;
  if (dst_device == Device::kCpu && src_device == Device::kCpu) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef DQT_HAVE_CUDA
  CheckCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream), "cudaMemcpyAsync", bytes);
  CheckCuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize after a copy", bytes);
#else
  (void)stream;
  DQT_CHECK(false) << "a copy involving CUDA memory in a build without CUDA";
#endif
}

void Synchronize(const ExecContext& ctx) {
  if (!ctx.is_cuda()) return;
#ifdef DQT_HAVE_CUDA
  CheckCuda(cudaStreamSynchronize(ctx.stream()), "cudaStreamSynchronize", 0);
#endif
}

}  // namespace dqt
