// HostStagedCommunicator: collectives on DEVICE buffers run by a host communicator (MPI). Each
// call copies the device data to host staging memory, runs the inner collective there and copies
// the result back: how several ranks share one GPU, which NCCL refuses.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dist/communicator.h"

namespace dqt {

// Same collectives, argument rules and ranks as the inner host communicator, with every buffer
// in device memory of the current CUDA device. Copies run on the legacy default stream (after
// work queued there) and the call returns once the results are in device memory; work the
// caller queued on other streams must be complete before the call. Costs a device-host round
// trip per call through pageable staging memory kept between calls: for tests and single-GPU
// multi-rank runs, not for speed.
class HostStagedCommunicator final : public Communicator {
 public:
  explicit HostStagedCommunicator(std::unique_ptr<Communicator> inner);

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }

 protected:
  absl::Status DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) override;
  absl::Status DoReduceScatter(const float* send, float* recv,
                               absl::Span<const size_t> recv_counts) override;
  absl::Status DoAllGather(const void* send, void* recv,
                           absl::Span<const size_t> send_bytes) override;
  absl::Status DoBroadcast(void* data, size_t bytes, int root) override;
  absl::Status DoBarrier() override;
  // The inner communicator's split, staged the same way.
  absl::StatusOr<std::unique_ptr<Communicator>> DoSplit(int color, int key) override;

 private:
  // Host staging of at least `bytes` (aligned for double), reused by the next call.
  char* Staging(size_t bytes);

  std::unique_ptr<Communicator> inner_;
  std::vector<double> staging_;
};

}  // namespace dqt
