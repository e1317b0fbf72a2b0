// NCCL backend of Communicator on DEVICE buffers, created from an ncclUniqueId broadcast over a
// bootstrap (MPI) communicator. Every NCCL return code goes through DQT_NCCL_CHECK.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dist/communicator.h"

namespace dqt {

// The NCCL error `code` of `call` (its source text and position) as a Status, with NCCL's last
// error text: ncclInvalidArgument is InvalidArgument, ncclInvalidUsage (e.g. two ranks on one
// GPU) FailedPrecondition, ncclRemoteError (a peer failed) Unavailable, the rest Internal.
absl::Status NcclError(ncclResult_t code, const char* call, const char* file, int line);

}  // namespace dqt

// Returns the error of `call` (an NCCL function) from the enclosing Status-returning function.
#define DQT_NCCL_CHECK(call)                                              \
  do {                                                                    \
    const ncclResult_t dqt_nccl_code_ = (call);                           \
    if (dqt_nccl_code_ != ncclSuccess) {                                  \
      return ::dqt::NcclError(dqt_nccl_code_, #call, __FILE__, __LINE__); \
    }                                                                     \
  } while (0)

namespace dqt {

struct NcclOptions {
  // Run the uneven-count algorithms (per-root reduce / broadcast) even when every rank's count
  // is equal; tests set it to cover those paths on any number of ranks.
  bool always_per_root = false;
};

// The collectives and argument rules of Communicator, with every buffer in device memory of
// the communicator's device (the CUDA device current when it was created; call it from a thread
// with that device current). Each call first waits, on the host, for the work already queued on
// the legacy default stream (copies into the buffers, say), then enqueues the NCCL work on the
// communicator's own stream and returns when it has completed, so results are in place on
// return. Work the caller queued on other streams must be complete before the call. (An event
// wait on our stream instead was seen to let calls return before that work had finished, e.g.
// for one rank in place, where NCCL enqueues nothing.)
//
// Uneven shards, which NCCL's ReduceScatter/AllGather do not take (they need equal counts), run
// as one NCCL group of per-root calls: ncclReduce of each rank's chunk to that rank, and
// ncclBroadcast of each rank's block from that rank. That moves the same bytes as the equal-count
// collectives and needs no padded scratch copy; equal counts use the native collectives.
//
// A peer failure reported by NCCL while waiting (ncclCommGetAsyncError) aborts the communicator
// and comes back as an error; later calls fail with FailedPrecondition. NCCL refuses two ranks
// on one GPU ("Duplicate GPU detected"): for that, HostStagedCommunicator.
class NcclCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap` (every rank calls it): rank 0 creates the ncclUniqueId and
  // broadcasts it, every rank prepares its current device and they agree it worked, then every
  // rank joins the NCCL communicator as its bootstrap rank. A local failure before joining is
  // reported on every rank (no rank is left waiting in NCCL's initialization).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(
      Communicator& bootstrap, NcclOptions options = {});
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const { return device_; }

 protected:
  absl::Status DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) override;
  absl::Status DoReduceScatter(const float* send, float* recv,
                               absl::Span<const size_t> recv_counts) override;
  absl::Status DoAllGather(const void* send, void* recv,
                           absl::Span<const size_t> send_bytes) override;
  absl::Status DoBroadcast(void* data, size_t bytes, int root) override;
  // A one-element all-reduce on device scratch, waited for.
  absl::Status DoBarrier() override;
  // ncclCommSplit: the group is a new NCCL communicator with its own stream.
  absl::StatusOr<std::unique_ptr<Communicator>> DoSplit(int color, int key) override;

 private:
  explicit NcclCommunicator(NcclOptions options) : options_(options) {}

  // Records the current device; creates the stream and the barrier scratch on it.
  absl::Status PrepareDevice();
  // Waits for the work queued so far on the legacy default stream.
  absl::Status AfterLegacyStream();
  // OK while the NCCL communicator is usable (not aborted after an error).
  absl::Status Usable() const;
  // Waits for the work enqueued on stream_, watching for NCCL's asynchronous errors.
  absl::Status Wait();
  // ncclCommAbort: local, does not wait for peers. Idempotent.
  void Abort();
  // enqueue() (NCCL calls) inside ncclGroupStart / ncclGroupEnd, then Wait().
  template <typename Enqueue>
  absl::Status Grouped(Enqueue enqueue);
  bool UsePerRoot(absl::Span<const size_t> counts) const;

  NcclOptions options_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;     // non-blocking: ordered by AfterLegacyStream alone
  float* barrier_scratch_ = nullptr;  // (1) device float, the barrier's all-reduce operand
  int rank_ = 0;
  int size_ = 1;
  int device_ = -1;
};

}  // namespace dqt
