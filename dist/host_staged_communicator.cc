// Device -> host copy, inner host collective, host -> device copy; one staging area per
// communicator, grown as needed.
#include "dist/host_staged_communicator.h"

#include <cuda_runtime.h>

#include <utility>

#include "core/base/check.h"
#include "core/base/cuda_status.h"
#include "core/base/status.h"

namespace dqt {
namespace {

absl::Status ToHost(void* host, const void* device, size_t bytes) {
  if (bytes > 0) DQT_CUDA_CHECK(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost));
  return absl::OkStatus();
}

// A copy from pageable memory may return before the device holds the data: wait for it.
absl::Status ToDevice(void* device, const void* host, size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  DQT_CUDA_CHECK(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice));
  DQT_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
  return absl::OkStatus();
}

}  // namespace

HostStagedCommunicator::HostStagedCommunicator(std::unique_ptr<Communicator> inner)
    : inner_(std::move(inner)) {
  DQT_CHECK(inner_ != nullptr) << "HostStagedCommunicator needs an inner communicator";
}

char* HostStagedCommunicator::Staging(size_t bytes) {
  const size_t doubles = (bytes + sizeof(double) - 1) / sizeof(double);
  if (staging_.size() < doubles) staging_.resize(doubles);
  return reinterpret_cast<char*>(staging_.data());
}

absl::Status HostStagedCommunicator::DoAllReduce(void* data, size_t count, ReduceType type,
                                                 ReduceOp op) {
  const size_t bytes = count * (type == ReduceType::kFloat32 ? sizeof(float) : sizeof(double));
  char* host = Staging(bytes);
  DQT_RETURN_IF_ERROR(ToHost(host, data, bytes));
  if (type == ReduceType::kFloat32) {
    DQT_RETURN_IF_ERROR(inner_->AllReduce(reinterpret_cast<float*>(host), count, op));
  } else {
    DQT_RETURN_IF_ERROR(inner_->AllReduce(reinterpret_cast<double*>(host), count, op));
  }
  return ToDevice(data, host, bytes);
}

absl::Status HostStagedCommunicator::DoReduceScatter(const float* send, float* recv,
                                                     absl::Span<const size_t> recv_counts) {
  size_t total = 0;
  for (size_t c : recv_counts) total += c;
  const size_t mine = recv_counts[rank()];
  float* host_send = reinterpret_cast<float*>(Staging((total + mine) * sizeof(float)));
  float* host_recv = host_send + total;
  DQT_RETURN_IF_ERROR(ToHost(host_send, send, total * sizeof(float)));
  DQT_RETURN_IF_ERROR(inner_->ReduceScatter(host_send, host_recv, recv_counts));
  return ToDevice(recv, host_recv, mine * sizeof(float));
}

absl::Status HostStagedCommunicator::DoAllGather(const void* send, void* recv,
                                                 absl::Span<const size_t> send_bytes) {
  size_t total = 0, offset = 0;
  for (int r = 0; r < size(); ++r) {
    if (r < rank()) offset += send_bytes[r];
    total += send_bytes[r];
  }
  // In place on the host whether or not it was on the device.
  char* host = Staging(total);
  DQT_RETURN_IF_ERROR(ToHost(host + offset, send, send_bytes[rank()]));
  DQT_RETURN_IF_ERROR(inner_->AllGather(host + offset, host, send_bytes));
  return ToDevice(recv, host, total);
}

absl::Status HostStagedCommunicator::DoBroadcast(void* data, size_t bytes, int root) {
  char* host = Staging(bytes);
  if (rank() == root) DQT_RETURN_IF_ERROR(ToHost(host, data, bytes));
  DQT_RETURN_IF_ERROR(inner_->Broadcast(host, bytes, root));
  if (rank() == root) return absl::OkStatus();
  return ToDevice(data, host, bytes);
}

absl::Status HostStagedCommunicator::DoBarrier() { return inner_->Barrier(); }

absl::StatusOr<std::unique_ptr<Communicator>> HostStagedCommunicator::DoSplit(int color, int key) {
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> group, inner_->Split(color, key));
  return std::unique_ptr<Communicator>(new HostStagedCommunicator(std::move(group)));
}

}  // namespace dqt
