// Communicator: the only way model code talks to peers. Backends: single process (here),
// MPI on host buffers and NCCL on device buffers (issue 4).
#pragma once

#include <cstddef>

#include "absl/status/status.h"

namespace dqt {

enum class ReduceOp { kSum, kMax };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In-place all-reduce of `count` floats.
  [[nodiscard]] virtual absl::Status AllReduce(float* data, size_t count, ReduceOp op) = 0;
  [[nodiscard]] virtual absl::Status Barrier() = 0;
};

// The world of one process: every collective is the identity.
class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  absl::Status AllReduce(float*, size_t, ReduceOp) override { return absl::OkStatus(); }
  absl::Status Barrier() override { return absl::OkStatus(); }
};

}  // namespace dqt
