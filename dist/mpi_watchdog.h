// The MPI watchdog: waits for a nonblocking collective with a deadline and, when it passes (a
// peer stopped, hung, or died without its process exiting), finds the silent rank(s), names them
// on every live rank and aborts the job, instead of leaving every rank waiting forever.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace dqt {

// Process-wide watchdog state: a duplicate of MPI_COMM_WORLD that carries only "alive" messages,
// and every rank's host and pid (exchanged once, so a stopped rank can still be named). Start is
// collective over MPI_COMM_WORLD (MpiRuntime::Init calls it); Stop frees the communicator and
// must run before MPI_Finalize (MpiRuntime's destructor calls it).
[[nodiscard]] absl::Status StartMpiWatchdog();
void StopMpiWatchdog();

// One collective as the watchdog reports it.
struct CollectiveWait {
  const char* name = "";  // "allreduce", "broadcast", ...
  size_t bytes = 0;       // this rank's payload of the MPI call
  int64_t index = 0;      // 1-based number of the MPI collective on its communicator
  double timeout_s = 0;   // 0: wait forever
};

// Waits until `request` (a nonblocking collective) completes: tests it in a short spin (the
// common case: the peers are already there), then yields, then sleeps in growing steps of at most
// 200 us so that a rank waiting for a slow peer leaves its core free.
//
// Does not return when the wait exceeds wait.timeout_s, or when another rank announces that its
// own wait did: then this rank sends "alive" to every rank over the watchdog communicator and
// collects the others' announcements for a grace period (the timeout, clamped to [1, 30] s); the
// ranks that sent nothing are the silent ones. It prints one line naming them (world rank, host,
// pid) and calls MPI_Abort, which makes the launcher stop every rank, stopped ones included.
// Errors of MPI_Test come back as a Status.
[[nodiscard]] absl::Status AwaitCollective(MPI_Request* request, const CollectiveWait& wait);

}  // namespace dqt
