// Twin tests: run an op on the CPU and on CUDA over the same inputs and compare. Tests whose suite
// name ends in "Twin" run as the ctest entry gpu/<file> (label gpu), which ctest reports as
// skipped, never passed, when DQT_REQUIRE_CUDA() skips them (no device, or a CPU-only build).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/base/buffer.h"
#include "core/base/device.h"
#include "core/base/tensor_ref.h"
#include "gtest/gtest.h"
#include "kernels/device.h"
#include "kernels/moments.h"  // FloatToBf16, Bf16ToFloat

namespace dqt::testing {

// Skips the test (reported as skipped by ctest) without a usable CUDA device.
#define DQT_REQUIRE_CUDA()                                                           \
  do {                                                                               \
    if (::dqt::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device (twin test)"; \
  } while (0)

inline ExecContext CpuContext() { return ExecContext::Cpu(); }
// Device 0 on the legacy default stream (the copies below synchronize it).
inline ExecContext CudaContext() { return ExecContext::Cuda(0, nullptr); }

// A tensor held on both devices: host values set by the test, uploaded with ToDevice(), read back
// with FromDevice(). dtype kF32 / kBF16 activations are stored as float on the host and
// converted (round to nearest even) when uploaded as bf16.
class TwinTensor {
 public:
  TwinTensor(std::initializer_list<int64_t> shape, DType dtype = DType::kF32)
      : shape_(shape), dtype_(dtype) {
    int64_t n = 1;
    for (int64_t d : shape_) n *= d;
    host_.assign(static_cast<size_t>(n) * DTypeSize(dtype), 0);
    device_ = Buffer<uint8_t>(host_.size(), MemoryKind::kOther, Device::kCuda);
  }

  int64_t numel() const { return static_cast<int64_t>(host_.size() / DTypeSize(dtype_)); }
  DType dtype() const { return dtype_; }
  // Host bytes as T (T must be the storage type: float for f32, Bf16 for bf16, int8_t, ...).
  template <typename T>
  T* host() {
    return reinterpret_cast<T*>(host_.data());
  }
  // Sets element i from a float (rounded to nearest even for bf16).
  void SetFloat(int64_t i, float x) {
    if (dtype_ == DType::kBF16) {
      host<Bf16>()[i] = Bf16{FloatToBf16(x)};
    } else {
      host<float>()[i] = x;
    }
  }
  float GetFloat(int64_t i) const {
    if (dtype_ == DType::kBF16)
      return Bf16ToFloat(reinterpret_cast<const Bf16*>(host_.data())[i].bits);
    return reinterpret_cast<const float*>(host_.data())[i];
  }
  std::vector<float> Floats() const {
    std::vector<float> out(static_cast<size_t>(numel()));
    for (int64_t i = 0; i < numel(); ++i) out[i] = GetFloat(i);
    return out;
  }

  void ToDevice() {
    CopyBytes(device_.data(), Device::kCuda, host_.data(), Device::kCpu, host_.size());
  }
  void FromDevice() {
    CopyBytes(host_.data(), Device::kCpu, device_.data(), Device::kCuda, host_.size());
  }
  TensorRef HostRef() { return Make(host_.data(), Device::kCpu); }
  TensorRef DeviceRef() { return Make(device_.data(), Device::kCuda); }

 private:
  TensorRef Make(void* data, Device device) {
    TensorRef r;
    r.data = data;
    r.dtype = dtype_;
    r.device = device;
    r.rank = static_cast<int>(shape_.size());
    for (int i = 0; i < r.rank; ++i) r.shape[i] = shape_[i];
    return r;
  }

  std::vector<int64_t> shape_;
  DType dtype_;
  std::vector<uint8_t> host_;
  Buffer<uint8_t> device_;
};

// Expects |got - want| <= abs_tol + rel_tol * |want| element by element; on failure prints the
// first mismatching index, both values and the largest absolute and relative errors.
inline void ExpectAllNear(const std::vector<float>& want, const std::vector<float>& got,
                          double rel_tol, double abs_tol, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  int64_t first = -1, bad = 0;
  double max_abs = 0, max_rel = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double w = want[i], g = got[i], err = std::fabs(w - g);
    const bool ok = (std::isnan(w) && std::isnan(g)) || err <= abs_tol + rel_tol * std::fabs(w);
    max_abs = std::max(max_abs, err);
    if (std::fabs(w) > 0) max_rel = std::max(max_rel, err / std::fabs(w));
    if (!ok) {
      ++bad;
      if (first < 0) first = static_cast<int64_t>(i);
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << want.size()
                    << " outside tolerance; first at " << first << " (cpu "
                    << (first >= 0 ? want[first] : 0) << ", cuda " << (first >= 0 ? got[first] : 0)
                    << "); max abs err " << max_abs << ", max rel err " << max_rel;
}

// Bit equality of two byte arrays (integer outputs, codes), naming the first difference.
inline void ExpectBytesEqual(const void* want, const void* got, size_t bytes,
                             const std::string& what) {
  const auto* a = static_cast<const uint8_t*>(want);
  const auto* b = static_cast<const uint8_t*>(got);
  for (size_t i = 0; i < bytes; ++i) {
    if (a[i] != b[i]) {
      ADD_FAILURE() << what << ": first differing byte " << i << " (cpu " << int(a[i]) << ", cuda "
                    << int(b[i]) << ") of " << bytes;
      return;
    }
  }
}

}  // namespace dqt::testing
