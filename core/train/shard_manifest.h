// The manifest of a sharded checkpoint: what it records (meta strings, one file per rank, one
// line per record), its text format with a trailing xxHash64 of itself, and the consistency
// rules both the writer (before publishing) and the reader (before trusting) apply.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dqt {

// How a record's elements are stored. In memory: float, uint16_t, int8_t, uint8_t, and int8_t in
// {-1, 0, +1} for kTernary2, which the shard file packs 2 bits per element (packed_ternary.h),
// starting at the record's first element.
enum class StoredType : uint8_t { kFloat32, kUint16, kInt8, kUint8, kTernary2 };

// Bytes of one element in memory (1 for kTernary2: an int8 code).
int64_t MemoryBytesPerElement(StoredType type);
// Bytes `count` elements take in a shard file.
int64_t StoredBytes(StoredType type, int64_t count);
// "f32", "u16", "i8", "u8", "ternary2": the manifest's spelling.
absl::string_view StoredTypeName(StoredType type);

// What a record holds: one field of one named tensor.
struct RecordKey {
  std::string tensor;  // e.g. "model.layers.0.mlp.up_proj.weight"
  std::string field;   // e.g. "codes", "values", "scales", "m", "v", "m_absmax", "v_max"
  auto operator<=>(const RecordKey&) const = default;
};

// Ordered (key, value) strings saved with a checkpoint; any bytes, newlines included.
using CheckpointMeta = std::vector<std::pair<std::string, std::string>>;

struct ShardFileInfo {
  std::string file;    // name inside the checkpoint directory, "shard_00003.bin"
  uint64_t bytes = 0;  // file size
  uint64_t xxh64 = 0;  // XXH64 (seed 0) of the whole file
};

// Elements [global_begin, global_begin + count) of `key`, stored at [offset, offset + bytes) of
// shard file `shard` (the writing rank).
struct RecordInfo {
  RecordKey key;
  StoredType type = StoredType::kFloat32;
  uint64_t global_begin = 0;
  int64_t count = 0;
  int shard = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

struct Manifest {
  int64_t step = 0;
  CheckpointMeta meta;
  std::vector<ShardFileInfo> shards;  // indexed by rank; size() is the world size
  std::vector<RecordInfo> records;
};

// The manifest's name inside a checkpoint directory.
inline constexpr char kManifestFileName[] = "manifest.txt";

// "shard_00003.bin".
std::string ShardFileName(int rank);

// The manifest text, ending with its checksum line (format in shard_manifest.cc).
std::string FormatManifest(const Manifest& manifest);

// Parses and checks FormatManifest's output: the checksum line first (DataLoss "checksum
// mismatch"), then every line (InvalidArgument naming `source` and the line number), then
// ValidateManifest.
[[nodiscard]] absl::StatusOr<Manifest> ParseManifest(absl::string_view text,
                                                     absl::string_view source);

// Every record: a non-empty key, count >= 1, bytes == StoredBytes(type, count), inside its
// shard's file, no global index overflow; one type per key; records of one key do not overlap
// (InvalidArgument naming the key, both ranges and their shards).
[[nodiscard]] absl::Status ValidateManifest(const Manifest& manifest);

}  // namespace dqt
