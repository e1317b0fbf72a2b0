// What a run directory records about each launch of its run: the resolved config
// (config.pbtxt) and one JSON line per start (launches.jsonl: git revision, command line, hosts,
// ranks, devices, library versions, where the training log is), read back by dqt_report.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "launch/process_env.h"
#include "proto/dqt.pb.h"

namespace dqt {

class Communicator;

// The source revision this binary was built from (`git rev-parse HEAD`, "-dirty" when tracked
// files differed from it), "unknown" outside a git checkout. Generated at build time.
const char* GitRevision();

// The run directory of `run`: checkpoint.dir, else the folder of log.jsonl_path, else "" (none).
std::string RunDirectory(const proto::RunProto& run);

// Creates checkpoint.dir and the folder of log.jsonl_path when missing (before the trainer
// opens its log there).
[[nodiscard]] absl::Status CreateRunDirectories(const proto::RunProto& run);

// Collective over `world` (null: one process): gathers every rank's host and device; world rank 0
// writes config.pbtxt and a launches.jsonl line (a fresh run
// starts the file, a resumed one appends). A no-op, apart from the gather, without a run
// directory.
[[nodiscard]] absl::Status RecordLaunch(const proto::RunProto& run,
                                        const std::vector<std::string>& command_line,
                                        const ProcessEnv& env, Communicator* world);

}  // namespace dqt
