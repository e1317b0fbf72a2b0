// Readers for GPT-2's tokenizer files: the sha256 pin check, encoder.json (a flat JSON object
// of string -> id, read by a small parser of our own) and vocab.bpe (the ranked merges).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace dqt {

// The whole file. NotFound when it cannot be opened, InvalidArgument for a directory.
[[nodiscard]] absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// DataLoss naming `path`, the hash got and `expected_hex` when sha256(contents) differs.
[[nodiscard]] absl::Status CheckSha256(const std::string& path, std::string_view contents,
                                       std::string_view expected_hex);

// encoder.json's (key, id) entries in file order: keys with every JSON escape decoded
// (\uXXXX surrogate pairs included) to UTF-8, ids non-negative 32-bit integers. Anything
// else is InvalidArgument with `path`, the byte offset and the line.
[[nodiscard]] absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ParseEncoderJson(
    const std::string& path, std::string_view text);

// vocab.bpe's merges, best (rank 0) first: an optional "#version" first line, then one
// "left right" pair per line. A malformed line is InvalidArgument with `path` and the line.
[[nodiscard]] absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseBpeMerges(
    const std::string& path, std::string_view text);

}  // namespace dqt
