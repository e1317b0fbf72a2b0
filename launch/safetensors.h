// The safetensors file format (Hugging Face): u64 little-endian header length N, N bytes of JSON
// header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then
// the tensor bytes, contiguous, offsets relative to the end of the header. F32 writer, reader.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dqt {

// One tensor to write: row-major fp32 values (not owned; numel(shape) of them).
struct SafetensorsTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::span<const float> values;
};

// Writes `path` atomically (path.tmp, fsync, rename): header with "__metadata__" first, then the
// tensors in the given order. The header is padded with spaces to a multiple of 8 bytes so every
// tensor starts 8-byte aligned, as the reference writer does. Names must be unique and
// non-empty, and not "__metadata__"; values must match the shape.
[[nodiscard]] absl::Status WriteSafetensors(
    const std::string& path, std::span<const SafetensorsTensor> tensors,
    const std::vector<std::pair<std::string, std::string>>& metadata);

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "I8", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range in SafetensorsFile::data
};

struct SafetensorsFile {
  uint64_t header_bytes = 0;  // N, the JSON header's length
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<SafetensorsEntry> tensors;  // in header order
  std::string data;                       // every byte after the header

  const SafetensorsEntry* Find(std::string_view name) const;
  // The values of an F32 tensor; NotFound / InvalidArgument for a missing or non-F32 one.
  absl::StatusOr<std::vector<float>> Float32(std::string_view name) const;
};

// Reads and validates `path` as the reference loader does: header length within the file, a JSON
// object, known dtypes, byte ranges equal to numel * dtype size, and ranges that tile the data
// buffer exactly (sorted by offset, no gap, no overlap, nothing left over).
[[nodiscard]] absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path);

// ReadSafetensors on the file's bytes; `path` names it in errors.
[[nodiscard]] absl::StatusOr<SafetensorsFile> ParseSafetensors(std::string bytes,
                                                               const std::string& path);

}  // namespace dqt
