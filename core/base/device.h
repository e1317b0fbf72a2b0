// Where an op runs: the device kind and, for CUDA, the device ordinal and the stream its work is
// enqueued on. Ops take an ExecContext and views on its device; nothing else names a device.
#pragma once

#include <cstdint>

struct CUstream_st;  // cudaStream_t, without the CUDA runtime headers

namespace dqt {

enum class Device : uint8_t { kCpu = 0, kCuda = 1 };
inline constexpr int kNumDevices = 2;

inline constexpr const char* DeviceName(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }

class ExecContext {
 public:
  // The host: ops run on the calling thread with the OpenMP team.
  static ExecContext Cpu() { return ExecContext(Device::kCpu, -1, nullptr); }
  // CUDA device `ordinal` (already current on the calling thread); work is enqueued on `stream`
  // (not owned; null is the legacy default stream) and nothing waits for it unless asked.
  static ExecContext Cuda(int ordinal, CUstream_st* stream) {
    return ExecContext(Device::kCuda, ordinal, stream);
  }

  Device device() const { return device_; }
  bool is_cuda() const { return device_ == Device::kCuda; }
  int ordinal() const { return ordinal_; }
  CUstream_st* stream() const { return stream_; }

 private:
  ExecContext(Device device, int ordinal, CUstream_st* stream)
      : device_(device), ordinal_(ordinal), stream_(stream) {}

  Device device_;
  int ordinal_;
  CUstream_st* stream_;
};

}  // namespace dqt
