// The run config of the single-process training tests: launch/configs/tiny.pbtxt with overrides.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/status.h"
#include "core/train/trainer.h"
#include "launch/config.h"

namespace dqt::testing {

// launch/configs/tiny.pbtxt (under DQT_SOURCE_DIR, else the working directory) with `overrides`.
inline absl::StatusOr<proto::RunProto> TinyRunProto(const std::vector<std::string>& overrides) {
  const char* src = std::getenv("DQT_SOURCE_DIR");
  return LoadRunProto(std::string(src ? src : ".") + "/launch/configs/tiny.pbtxt", overrides);
}

// The same, validated, as the trainer of one process.
inline absl::StatusOr<std::unique_ptr<Trainer>> TinyTrainer(
    const std::vector<std::string>& overrides) {
  DQT_ASSIGN_OR_RETURN(const proto::RunProto run, TinyRunProto(overrides));
  DQT_RETURN_IF_ERROR(ValidateRunProto(run));
  return Trainer::Create(ToRunConfig(run));
}

}  // namespace dqt::testing
