// Preemption signals: SIGTERM (Slurm's cancel, requeue and time limit, `docker stop`) and SIGUSR1
// (Slurm's `--signal` warning before a time limit) ask a run to stop after the current step.
#pragma once

#include <functional>

namespace dqt {

class Communicator;

// The exit status of a run stopped by a signal after writing its checkpoint: EX_TEMPFAIL, "try
// again", which launch/slurm/dqt.sbatch turns into a requeue.
inline constexpr int kExitStoppedForRequeue = 75;

// Installs handlers that only record the signal (async-signal-safe; a second signal, also during
// the checkpoint, changes nothing). Returns the signal names for messages.
const char* InstallStopSignalHandlers();

// The first stop signal received by this process, 0 if none.
int ReceivedStopSignal();

// A Trainer stop check: true on every rank once any rank of `world` (null: this process alone)
// has received a stop signal. Collective over `world` on each call: one MAX all-reduce of a
// double per step, so every rank ends at the same step.
std::function<bool()> StopCheckFor(Communicator* world);

}  // namespace dqt
