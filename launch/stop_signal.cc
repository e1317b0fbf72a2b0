// Signal handlers recording a stop request, and the rank-agreeing stop check (see stop_signal.h).
#include "launch/stop_signal.h"

#include <csignal>
#include <cstdio>

#include "dist/communicator.h"

namespace dqt {
namespace {

volatile std::sig_atomic_t received_signal = 0;

void RecordSignal(int sig) {
  if (received_signal == 0) received_signal = sig;
}

}  // namespace

const char* InstallStopSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = RecordSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // file writes of a checkpoint in progress carry on
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
  return "SIGTERM, SIGUSR1";
}

int ReceivedStopSignal() { return received_signal; }

std::function<bool()> StopCheckFor(Communicator* world) {
  return [world]() {
    double stop = received_signal != 0 ? 1.0 : 0.0;
    if (world != nullptr && world->size() > 1) {
      const absl::Status s = world->AllReduce(&stop, 1, ReduceOp::kMax);
      if (!s.ok()) {
        // A failed peer ends the job anyway; stopping here writes what this rank can.
        std::fprintf(stderr, "dqt_worker: stop check: %s\n", std::string(s.message()).c_str());
        return true;
      }
    }
    return stop != 0.0;
  };
}

}  // namespace dqt
