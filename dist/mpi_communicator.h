// MPI backend of Communicator on host buffers, and MpiRuntime, the RAII owner of MPI_Init_thread /
// MPI_Finalize. Every MPI return code goes through DQT_MPI_CHECK into an absl::Status.
#pragma once

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dist/communicator.h"

namespace dqt {

// The MPI error `code` of `call` (its source text and position) as a Status: argument errors
// (buffer, count, type, root, rank, op, comm, arg) are InvalidArgument, the rest Internal.
absl::Status MpiError(int code, const char* call, const char* file, int line);

}  // namespace dqt

// Returns the error of `call` (an MPI function) from the enclosing Status-returning function.
// Errors only come back as codes on communicators with MPI_ERRORS_RETURN, which all of ours set.
#define DQT_MPI_CHECK(call)                                             \
  do {                                                                  \
    const int dqt_mpi_code_ = (call);                                   \
    if (dqt_mpi_code_ != MPI_SUCCESS) {                                 \
      return ::dqt::MpiError(dqt_mpi_code_, #call, __FILE__, __LINE__); \
    }                                                                   \
  } while (0)

namespace dqt {

struct MpiOptions {
  // MPI counts are ints: a collective over more elements (bytes for all-gather and broadcast)
  // than this is split into several MPI calls. In [1, INT_MAX]; tests lower it to run the split
  // paths on small buffers.
  size_t max_count_per_call = INT_MAX;
  // Seconds one MPI collective may wait before the watchdog (dist/mpi_watchdog.h) names the
  // silent rank(s) and aborts the job; 0 waits forever. Needs MpiRuntime (its watchdog
  // communicator) to name ranks; without it the abort says they are unknown.
  double collective_timeout_s = 0;
};

// Owns one MPI_Comm (freed on destruction). Calls must come from one thread at a time
// (MPI_THREAD_SERIALIZED). When a process dies, mpirun tears the whole job down: OpenMPI has
// no way to report a failed peer to the survivors. A peer that stops without dying (SIGSTOP, a
// hang) is caught by the watchdog: collectives are issued nonblocking and waited for under
// options.collective_timeout_s (Split is not; it runs at setup).
class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm` (not a predefined communicator) and sets MPI_ERRORS_RETURN on it.
  // On error `comm` is freed.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Adopt(
      MPI_Comm comm, MpiOptions options = {});
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // The handle, for bootstrapping other libraries (NCCL ids); still owned by this object.
  MPI_Comm comm() const { return comm_; }

 protected:
  absl::Status DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) override;
  absl::Status DoReduceScatter(const float* send, float* recv,
                               absl::Span<const size_t> recv_counts) override;
  absl::Status DoAllGather(const void* send, void* recv,
                           absl::Span<const size_t> send_bytes) override;
  absl::Status DoBroadcast(void* data, size_t bytes, int root) override;
  absl::Status DoBarrier() override;
  absl::StatusOr<std::unique_ptr<Communicator>> DoSplit(int color, int key) override;

 private:
  MpiCommunicator(MPI_Comm comm, int rank, int size, MpiOptions options)
      : comm_(comm), rank_(rank), size_(size), options_(options) {}

  // Waits for the nonblocking collective `request` (`name` of `bytes`) under the watchdog.
  absl::Status Await(MPI_Request* request, const char* name, size_t bytes);

  // Calls piece(offset, n) over [0, count) in pieces of at most max_count_per_call elements.
  template <typename Piece>
  absl::Status InPieces(size_t count, Piece piece) const;

  MPI_Comm comm_;
  int rank_;
  int size_;
  MpiOptions options_;
  int64_t collectives_ = 0;  // MPI collectives issued, numbered for the watchdog's report
};

// MPI for the life of this object: MPI_Init_thread (MPI_THREAD_SERIALIZED) and the watchdog's
// communicator on creation (collective over MPI_COMM_WORLD), MPI_Finalize on destruction.
// Communicators must be destroyed before their runtime.
class MpiRuntime {
 public:
  // Initializes MPI, or attaches to an MPI someone else initialized (and then leaves finalizing
  // to them). FailedPrecondition when the library cannot serve MPI_THREAD_SERIALIZED.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MpiRuntime>> Init(int* argc, char*** argv);
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  ~MpiRuntime();

  // A new communicator over every process (a duplicate of MPI_COMM_WORLD).
  [[nodiscard]] absl::StatusOr<std::unique_ptr<MpiCommunicator>> World(
      MpiOptions options = {}) const;

 private:
  explicit MpiRuntime(bool owns_mpi) : owns_mpi_(owns_mpi) {}

  bool owns_mpi_;
};

}  // namespace dqt
