// Whole-file reads and atomic whole-file writes for the tools, with errors that name the file;
// plain stdio underneath, so a directory or an unreadable file is a Status, never an exception.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dqt {

// The whole of file `path`. Errors: NotFoundError "<what> <path> not found" when it cannot be
// opened, InvalidArgumentError for a directory, DataLossError for a failed read.
[[nodiscard]] absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                                        const std::string& what);

// Writes the concatenation of `parts` to `path` atomically: path.tmp, fsync, rename (a reader
// sees the old file or the whole new one, never a torn one).
[[nodiscard]] absl::Status WriteFileAtomically(const std::string& path,
                                               std::span<const std::string_view> parts);

}  // namespace dqt
