// The watchdog's wait loop and its "who is silent" protocol: every rank whose wait ran out (or
// that heard of one that did) sends a small alive message to every rank on a communicator of its
// own, so a stopped rank, which sends nothing, is the one missing from what arrives.
#include "dist/mpi_watchdog.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dist/mpi_communicator.h"

namespace dqt {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr int kAliveTag = 1;
// Wait phases: pure MPI_Test, then sched_yield between tests, then sleeps doubling up to kMaxSleep.
// The sleep cap bounds the latency a sleeping rank adds to each round of a collective.
constexpr auto kSpin = std::chrono::microseconds(50);
constexpr auto kYield = std::chrono::milliseconds(10);
constexpr auto kMaxSleep = std::chrono::microseconds(200);
// While sleeping, look for a peer's announcement this often (one MPI_Iprobe).
constexpr auto kProbeEvery = std::chrono::milliseconds(5);
// A gap this long between two turns of the wait loop (which sleeps at most kMaxSleep) means the
// process was not running; the report says so.
constexpr double kStalled = 1.0;

struct Peer {
  int32_t pid = 0;
  char host[60] = {};
};
static_assert(sizeof(Peer) == 64);

// Set by StartMpiWatchdog, cleared by StopMpiWatchdog. MPI is per process, so is this.
struct WatchdogState {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  std::vector<Peer> peers;  // by world rank
};
WatchdogState& State() {
  static WatchdogState state;
  return state;
}

// Whether another rank has announced a timeout; its world rank in *from.
bool PeerAnnounced(int* from) {
  const WatchdogState& s = State();
  if (s.comm == MPI_COMM_NULL) return false;
  int flag = 0;
  MPI_Status status;
  if (MPI_Iprobe(MPI_ANY_SOURCE, kAliveTag, s.comm, &flag, &status) != MPI_SUCCESS) return false;
  if (flag) *from = status.MPI_SOURCE;
  return flag != 0;
}

// "2 (host h, pid p)" for the ranks nothing came from, then the late ones. waited[r]: how long
// rank r had waited when it announced, < 0 when nothing came from it. A rank that announced
// after a wait under half the longest reached the collective late (a rank computing longer than
// the others, or a stopped rank resumed by the abort): the others were waiting for it.
std::string SilentRanks(const std::vector<double>& waited) {
  const WatchdogState& s = State();
  const double longest = *std::max_element(waited.begin(), waited.end());
  std::vector<std::string> silent, late;
  for (size_t r = 0; r < waited.size(); ++r) {
    const std::string who =
        absl::StrFormat("%d (host %s, pid %d", r, s.peers[r].host, s.peers[r].pid);
    if (waited[r] < 0) {
      silent.push_back(absl::StrCat(who, ")"));
    } else if (waited[r] < longest / 2) {
      late.push_back(absl::StrFormat("%s; reached the collective %.1f s after another rank)", who,
                                     longest - waited[r]));
    }
  }
  if (silent.empty() && late.empty()) {
    return "none: every rank answered (ranks called collectives in different orders, or one "
           "computed for longer than the timeout)";
  }
  std::string text = silent.empty() ? "none" : absl::StrJoin(silent, ", ");
  if (!late.empty()) absl::StrAppend(&text, "; late rank(s): ", absl::StrJoin(late, ", "));
  return text;
}

// The protocol of AwaitCollective's comment; `first` is the world rank whose announcement made
// this rank join, or -1 when its own wait ran out. `waited_s`: this rank's wait while running;
// `stalled_s`: the longest time its wait loop did not run (long when the rank itself was
// stopped, then resumed by the launcher's abort).
[[noreturn]] void NameSilentRanksAndAbort(const CollectiveWait& wait, double waited_s,
                                          double stalled_s, int first) {
  const WatchdogState& s = State();
  std::string silent = "unknown (no watchdog communicator: MPI was not started by MpiRuntime)";
  int rank = -1;
  if (s.comm != MPI_COMM_NULL) {
    const int size = static_cast<int>(s.peers.size());
    rank = s.rank;
    // "Alive, and waiting for this long". Sent eagerly (a few bytes): completes locally even
    // towards a stopped rank; never waited for, since the job ends below.
    const double token = waited_s;
    std::vector<MPI_Request> sends(size, MPI_REQUEST_NULL);
    for (int r = 0; r < size; ++r) {
      if (r != s.rank) MPI_Isend(&token, 1, MPI_DOUBLE, r, kAliveTag, s.comm, &sends[r]);
    }
    std::vector<double> waited(size, -1);
    waited[s.rank] = waited_s;
    int missing = size - 1;
    const double grace_s = std::clamp(wait.timeout_s, 1.0, 30.0);
    const Clock::time_point end =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(grace_s));
    while (missing > 0 && Clock::now() < end) {
      int from = -1;
      if (!PeerAnnounced(&from)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      double their_wait = 0;
      MPI_Recv(&their_wait, 1, MPI_DOUBLE, from, kAliveTag, s.comm, MPI_STATUS_IGNORE);
      if (waited[from] < 0) --missing;
      waited[from] = std::max(their_wait, 0.0);
    }
    silent = SilentRanks(waited);
  }
  std::string note;
  if (first >= 0) note = absl::StrFormat(" (rank %d's watchdog fired first)", first);
  if (stalled_s >= kStalled) {
    note += absl::StrFormat(" (this rank itself did not run for %.1f s: stopped or starved)",
                            stalled_s);
  }
  std::fprintf(stderr,
               "dqt: collective #%lld (%s of %zu bytes) timed out after %.1f s on rank %d%s; "
               "silent rank(s): %s; aborting the job\n",
               static_cast<long long>(wait.index), wait.name, wait.bytes, waited_s, rank,
               note.c_str(), silent.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);  // MPI_Abort does not return; this is for the compiler
}

}  // namespace

absl::Status StartMpiWatchdog() {
  WatchdogState& s = State();
  if (s.comm != MPI_COMM_NULL) return absl::OkStatus();
  MPI_Comm comm = MPI_COMM_NULL;
  DQT_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  auto exchange = [&]() -> absl::Status {
    DQT_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    int rank = 0, size = 0;
    DQT_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    DQT_MPI_CHECK(MPI_Comm_size(comm, &size));
    Peer me;
    me.pid = static_cast<int32_t>(getpid());
    gethostname(me.host, sizeof(me.host) - 1);
    std::vector<Peer> peers(size);
    DQT_MPI_CHECK(
        MPI_Allgather(&me, sizeof(Peer), MPI_BYTE, peers.data(), sizeof(Peer), MPI_BYTE, comm));
    s.rank = rank;
    s.peers = std::move(peers);
    return absl::OkStatus();
  };
  if (absl::Status status = exchange(); !status.ok()) {
    MPI_Comm_free(&comm);
    return status;
  }
  s.comm = comm;
  return absl::OkStatus();
}

void StopMpiWatchdog() {
  WatchdogState& s = State();
  if (s.comm == MPI_COMM_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&s.comm);
  s = WatchdogState();
}

absl::Status AwaitCollective(MPI_Request* request, const CollectiveWait& wait) {
  const Clock::time_point start = Clock::now();
  const Clock::duration timeout =
      std::chrono::duration_cast<Clock::duration>(Seconds(wait.timeout_s > 0 ? wait.timeout_s : 0));
  Clock::time_point next_probe = start + kYield;
  Clock::duration sleep = std::chrono::microseconds(5);
  Clock::time_point last = start;
  // Gaps of at least kStalled between turns: time this process was not running (stopped). The
  // deadline and the wait announced to the others count running time only, so a stopped rank
  // resumed by the abort neither fires at once nor blames the ranks that waited for it.
  Clock::duration stalled{}, longest_stall{};
  for (;;) {
    int done = 0;
    DQT_MPI_CHECK(MPI_Test(request, &done, MPI_STATUS_IGNORE));
    if (done) return absl::OkStatus();
    const Clock::time_point now = Clock::now();
    const Clock::duration waited = now - start;
    if (now - last >= Seconds(kStalled)) {
      stalled += now - last;
      longest_stall = std::max(longest_stall, now - last);
    }
    last = now;
    if (waited < kSpin) continue;
    if (waited < kYield) {
      sched_yield();
      continue;
    }
    const double running_s = Seconds(waited - stalled).count();
    if (now >= next_probe) {
      int from = -1;
      if (PeerAnnounced(&from)) {
        NameSilentRanksAndAbort(wait, running_s, Seconds(longest_stall).count(), from);
      }
      next_probe = now + kProbeEvery;
    }
    if (timeout.count() > 0 && waited - stalled >= timeout) {
      NameSilentRanksAndAbort(wait, running_s, Seconds(longest_stall).count(), -1);
    }
    std::this_thread::sleep_for(sleep);
    sleep = std::min<Clock::duration>(sleep * 2, kMaxSleep);
  }
}

}  // namespace dqt
