// The run config at the launch layer: defaults, loading from protobuf text format, command-line
// overrides, validation of every field, and conversion to the plain structs the trainer reads.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/train/train_config.h"
#include "proto/dqt.pb.h"

namespace dqt {

// Every field of a RunProto set to its default: the plain structs' member defaults for the
// fields they mirror, the single-process fp32 settings for quant and parallel. This is the one
// place defaults come from.
dqt::proto::RunProto DefaultRunProto();

// Reads the text-format file at `path`, fills every field it leaves unset from
// DefaultRunProto(), then applies `overrides` in order (see ApplyOverride). Errors:
// NotFound for a missing or unreadable file; InvalidArgument for a directory, a parse error
// ("path:line:column: message", unknown field names included), a field given twice, or a bad
// override. Does not validate: call ValidateRunProto next.
[[nodiscard]] absl::StatusOr<dqt::proto::RunProto> LoadRunProto(
    const std::string& path, const std::vector<std::string>& overrides);

// LoadRunProto on `text` already read; `name` prefixes parse errors.
[[nodiscard]] absl::StatusOr<dqt::proto::RunProto> ParseRunProto(
    const std::string& text, const std::string& name, const std::vector<std::string>& overrides);

// Sets one scalar field from `override` = "path.to.field=value", e.g. "optimizer.lr=3e-4",
// "optimizer.schedule=warmup_linear" (enum names in any case), "train.progress=false",
// "checkpoint.dir=runs/x". InvalidArgument naming the override for an unknown path, a
// message-valued target or a value that does not parse as the field's type.
[[nodiscard]] absl::Status ApplyOverride(const std::string& override, dqt::proto::RunProto* run);

// Checks every field and the rules between fields (shapes, schedule, data, parallel layout,
// features not supported yet). Returns OK, or InvalidArgument with every violation, one per
// line, each naming the field path, its value and what is allowed, e.g.
// "optimizer.lr = -0.001: must be in (0, 1]".
[[nodiscard]] absl::Status ValidateRunProto(const dqt::proto::RunProto& run);

// A comma-separated list of block indices ("1,3"; "" is empty), e.g. distill.off_layers.
absl::StatusOr<std::vector<int>> ParseLayerList(const std::string& text);

// The plain structs below the launch layer. Call only on a config ValidateRunProto accepted.
RunConfig ToRunConfig(const dqt::proto::RunProto& run);

// Text format of `run` (for logs and checkpoint manifests); LoadRunProto reads it back.
std::string RunProtoToText(const dqt::proto::RunProto& run);

}  // namespace dqt
