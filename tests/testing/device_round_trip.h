// DeviceRoundTrip: a host-buffer Communicator over a device-buffer one (NCCL, host-staged), so
// the shared collective cases (tests/dist/collective_cases.h) run on device backends. CUDA
// builds only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/base/cuda_status.h"
#include "core/base/status.h"
#include "dist/communicator.h"

namespace dqt::testing {

// A device copy of some host bytes, freed on destruction.
class DeviceCopy {
 public:
  DeviceCopy() = default;
  DeviceCopy(const DeviceCopy&) = delete;
  DeviceCopy& operator=(const DeviceCopy&) = delete;
  ~DeviceCopy() {
    if (data_ != nullptr) cudaFree(data_);
  }

  // Allocates `bytes` and copies them from `host` (nothing for zero bytes: data() stays null).
  absl::Status From(const void* host, size_t bytes) {
    if (bytes == 0) return absl::OkStatus();
    DQT_CUDA_CHECK(cudaMalloc(&data_, bytes));
    bytes_ = bytes;
    DQT_CUDA_CHECK(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice));
    return absl::OkStatus();
  }
  absl::Status To(void* host) const {
    if (bytes_ > 0) DQT_CUDA_CHECK(cudaMemcpy(host, data_, bytes_, cudaMemcpyDeviceToHost));
    return absl::OkStatus();
  }
  char* data() const { return static_cast<char*>(data_); }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Each call copies its host buffers (outputs too, so unwritten output keeps the caller's poison)
// to fresh device buffers, calls the device communicator with the same arguments (an in-place
// all-gather stays in place) and copies the outputs back.
class DeviceRoundTrip final : public Communicator {
 public:
  explicit DeviceRoundTrip(std::unique_ptr<Communicator> device) : device_(std::move(device)) {}

  int rank() const override { return device_->rank(); }
  int size() const override { return device_->size(); }
  Communicator& device() { return *device_; }

 protected:
  absl::Status DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) override {
    const size_t bytes = count * (type == ReduceType::kFloat32 ? sizeof(float) : sizeof(double));
    DeviceCopy d;
    DQT_RETURN_IF_ERROR(d.From(data, bytes));
    if (type == ReduceType::kFloat32) {
      DQT_RETURN_IF_ERROR(device_->AllReduce(reinterpret_cast<float*>(d.data()), count, op));
    } else {
      DQT_RETURN_IF_ERROR(device_->AllReduce(reinterpret_cast<double*>(d.data()), count, op));
    }
    return d.To(data);
  }

  absl::Status DoReduceScatter(const float* send, float* recv,
                               absl::Span<const size_t> recv_counts) override {
    size_t total = 0;
    for (size_t c : recv_counts) total += c;
    DeviceCopy d_send, d_recv;
    DQT_RETURN_IF_ERROR(d_send.From(send, total * sizeof(float)));
    DQT_RETURN_IF_ERROR(d_recv.From(recv, recv_counts[rank()] * sizeof(float)));
    DQT_RETURN_IF_ERROR(device_->ReduceScatter(reinterpret_cast<const float*>(d_send.data()),
                                               reinterpret_cast<float*>(d_recv.data()),
                                               recv_counts));
    return d_recv.To(recv);
  }

  absl::Status DoAllGather(const void* send, void* recv,
                           absl::Span<const size_t> send_bytes) override {
    size_t total = 0, offset = 0;
    for (int r = 0; r < size(); ++r) {
      if (r < rank()) offset += send_bytes[r];
      total += send_bytes[r];
    }
    DeviceCopy d_send, d_recv;
    DQT_RETURN_IF_ERROR(d_recv.From(recv, total));
    const char* d_from = d_recv.data() + offset;
    if (send != static_cast<const char*>(recv) + offset) {
      DQT_RETURN_IF_ERROR(d_send.From(send, send_bytes[rank()]));
      d_from = d_send.data();
    }
    DQT_RETURN_IF_ERROR(device_->AllGather(d_from, d_recv.data(), send_bytes));
    return d_recv.To(recv);
  }

  absl::Status DoBroadcast(void* data, size_t bytes, int root) override {
    DeviceCopy d;
    DQT_RETURN_IF_ERROR(d.From(data, bytes));
    DQT_RETURN_IF_ERROR(device_->Broadcast(d.data(), bytes, root));
    return d.To(data);
  }

  absl::Status DoBarrier() override { return device_->Barrier(); }

  absl::StatusOr<std::unique_ptr<Communicator>> DoSplit(int color, int key) override {
    DQT_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> group, device_->Split(color, key));
    return std::unique_ptr<Communicator>(new DeviceRoundTrip(std::move(group)));
  }

 private:
  std::unique_ptr<Communicator> device_;
};

}  // namespace dqt::testing
