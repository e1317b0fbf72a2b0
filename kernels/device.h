// Which compute devices this build can use, and which one this process takes.
#pragma once

#include <utility>

#include "absl/status/statusor.h"
#include "core/base/device.h"

namespace dqt {

// Number of CUDA devices visible; 0 in a CPU-only build or on a machine without a GPU.
int CudaDeviceCount();

// Makes device local_rank % CudaDeviceCount() current for the calling thread and returns it:
// the ranks of one node spread over its GPUs, round robin when there are more ranks than GPUs.
// InvalidArgument for a negative local rank, FailedPrecondition when no CUDA device is visible
// (CPU-only builds included).
[[nodiscard]] absl::StatusOr<int> SelectCudaDeviceForLocalRank(int local_rank);

// Makes `device` current for the calling thread (FailedPrecondition in a CPU-only build).
[[nodiscard]] absl::Status SetCudaDevice(int device);

// The CUDA device current on the calling thread (FailedPrecondition without CUDA).
[[nodiscard]] absl::StatusOr<int> CurrentCudaDevice();

// Free and total bytes of the CUDA device current on the calling thread (cudaMemGetInfo).
// FailedPrecondition in a CPU-only build.
struct CudaMemory {
  double free = 0, total = 0;
};
[[nodiscard]] absl::StatusOr<CudaMemory> CudaMemoryInfo();

// An owned CUDA stream (non-blocking with respect to the legacy default stream), destroyed with
// the object; null in a default-constructed one.
class CudaStream {
 public:
  CudaStream() = default;
  // FailedPrecondition in a CPU-only build or without a device.
  [[nodiscard]] static absl::StatusOr<CudaStream> Create();
  CudaStream(CudaStream&& o) noexcept : stream_(std::exchange(o.stream_, nullptr)) {}
  CudaStream& operator=(CudaStream&& o) noexcept {
    std::swap(stream_, o.stream_);
    return *this;
  }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  ~CudaStream();

  CUstream_st* get() const { return stream_; }

 private:
  explicit CudaStream(CUstream_st* s) : stream_(s) {}
  CUstream_st* stream_ = nullptr;
};

}  // namespace dqt
