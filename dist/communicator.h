// Communicator: the only way model code talks to peers. Backends: single process (here), MPI on
// host buffers (mpi_communicator.h), an in-process fake for tests (fake_communicator.h); in CUDA
// builds, on device buffers: NCCL (nccl_communicator.h) and MPI through host staging
// (host_staged_communicator.h).
#pragma once

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace dqt {

enum class ReduceOp { kSum, kMax };
enum class ReduceType { kFloat32, kFloat64 };

// Collectives are blocking and must be called by every rank of the communicator in the same
// order with matching arguments (same counts, root, op). A failed peer or transport is an error
// Status, never a silent wrong result; backends avoid hanging where they can (the MPI backend
// relies on mpirun tearing the job down when a process dies).
//
// The public calls validate arguments once here (non-virtual) and prefix backend errors with the
// collective and the rank; backends implement the Do* hooks. Buffers are host memory (device
// memory for the device backends, which say so). Results are identical on every rank. MAX with
// NaN inputs is unspecified.
class Communicator {
 public:
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In place: data (count) becomes the element-wise op over all ranks.
  [[nodiscard]] absl::Status AllReduce(float* data, size_t count, ReduceOp op);
  [[nodiscard]] absl::Status AllReduce(double* data, size_t count, ReduceOp op);

  // Sum reduce-scatter. send (sum(recv_counts)) holds one chunk per rank, rank 0's first;
  // recv (recv_counts[rank()]) gets the sum over ranks of this rank's chunk. recv_counts has
  // size() entries (uneven shards allowed, zeros too). send and recv must not overlap.
  [[nodiscard]] absl::Status ReduceScatter(const float* send, float* recv,
                                           absl::Span<const size_t> recv_counts);
  // Equal chunks: send (size() * recv_count), recv (recv_count).
  [[nodiscard]] absl::Status ReduceScatter(const float* send, float* recv, size_t recv_count);

  // Byte all-gather (int8 codes, packed ternary). send (send_bytes[rank()]) lands in
  // recv (sum(send_bytes)) at offset sum(send_bytes[0..rank())), rank 0's block first.
  // In place when send == recv + that offset; any other overlap is rejected.
  [[nodiscard]] absl::Status AllGather(const void* send, void* recv,
                                       absl::Span<const size_t> send_bytes);
  // Equal blocks: send (bytes_per_rank), recv (size() * bytes_per_rank).
  [[nodiscard]] absl::Status AllGather(const void* send, void* recv, size_t bytes_per_rank);

  // data (bytes) on every rank becomes root's data.
  [[nodiscard]] absl::Status Broadcast(void* data, size_t bytes, int root);

  [[nodiscard]] absl::Status Barrier();

  // Collective: ranks passing the same color (>= 0) form a new communicator, ranked by
  // (key, rank in this communicator). The result is independent of this one's lifetime.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key);

 protected:
  // Arguments arrive validated: counts have size() entries, root is in range, buffers of
  // non-zero size are non-null, and an overlapping all-gather is exactly in place.
  virtual absl::Status DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) = 0;
  virtual absl::Status DoReduceScatter(const float* send, float* recv,
                                       absl::Span<const size_t> recv_counts) = 0;
  virtual absl::Status DoAllGather(const void* send, void* recv,
                                   absl::Span<const size_t> send_bytes) = 0;
  virtual absl::Status DoBroadcast(void* data, size_t bytes, int root) = 0;
  virtual absl::Status DoBarrier() = 0;
  virtual absl::StatusOr<std::unique_ptr<Communicator>> DoSplit(int color, int key) = 0;
};

// The world of one process: every collective is the identity.
class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }

 protected:
  absl::Status DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) override;
  absl::Status DoReduceScatter(const float* send, float* recv,
                               absl::Span<const size_t> recv_counts) override;
  absl::Status DoAllGather(const void* send, void* recv,
                           absl::Span<const size_t> send_bytes) override;
  absl::Status DoBroadcast(void* data, size_t bytes, int root) override;
  absl::Status DoBarrier() override;
  absl::StatusOr<std::unique_ptr<Communicator>> DoSplit(int color, int key) override;
};

}  // namespace dqt
