// Manifest text format, one item per line, fields separated by single spaces; strings (meta keys
// and values, tensor and field names) are C-escaped with spaces written as \040, so a line never
// holds a raw space, newline or non-printable byte of a string:
//
//   dqt_sharded_checkpoint 1
//   step <step>
//   world_size <ranks>
//   meta <key> <value>                                          (in the writer's order)
//   shard <rank> <file> <bytes> <xxh64, 16 hex digits>          (one per rank, rank order)
//   record <tensor> <field> <type> <global_begin> <count> <shard rank> <offset> <bytes>
//   manifest_xxh64 <16 hex digits>
//
// The last line is XXH64 (seed 0) of every byte before it; every line ends with '\n'.
#include "core/train/shard_manifest.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <numeric>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "core/base/packed_ternary.h"
#include "core/base/status.h"

namespace dqt {
namespace {

constexpr absl::string_view kHeader = "dqt_sharded_checkpoint 1";
constexpr absl::string_view kChecksumKeyword = "manifest_xxh64";

constexpr StoredType kAllTypes[] = {StoredType::kFloat32, StoredType::kUint16, StoredType::kInt8,
                                    StoredType::kUint8, StoredType::kTernary2};

std::string EscapeToken(absl::string_view s) {
  return absl::StrReplaceAll(absl::CEscape(s), {{" ", "\\040"}});
}

std::string HashHex(uint64_t hash) { return absl::StrFormat("%016x", hash); }

// Parses one line's tokens; errors name the source and line.
class LineParser {
 public:
  LineParser(absl::string_view source, int line_number, absl::string_view line)
      : source_(source), line_number_(line_number), tokens_(absl::StrSplit(line, ' ')) {}

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, " line ", line_number_, ": ", what));
  }
  absl::Status ExpectTokens(size_t n) const {
    if (tokens_.size() == n) return absl::OkStatus();
    return Error(
        absl::StrCat("'", tokens_[0], "' needs ", n - 1, " fields, got ", tokens_.size() - 1));
  }
  absl::string_view keyword() const { return tokens_[0]; }

  absl::StatusOr<std::string> String(size_t i) const {
    std::string out;
    std::string error;
    if (!absl::CUnescape(tokens_[i], &out, &error)) {
      return Error(absl::StrCat("bad escape in field ", i, ": ", error));
    }
    return out;
  }
  template <typename Int>
  absl::StatusOr<Int> Integer(size_t i, int base = 10) const {
    Int value{};
    const absl::string_view token = tokens_[i];
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value, base);
    if (token.empty() || ec != std::errc() || end != token.data() + token.size()) {
      return Error(absl::StrCat("field ", i, " '", token, "' is not an integer"));
    }
    return value;
  }
  absl::StatusOr<StoredType> Type(size_t i) const {
    for (StoredType type : kAllTypes) {
      if (tokens_[i] == StoredTypeName(type)) return type;
    }
    return Error(absl::StrCat("unknown stored type '", tokens_[i], "'"));
  }

 private:
  absl::string_view source_;
  int line_number_;
  std::vector<absl::string_view> tokens_;
};

absl::StatusOr<RecordInfo> ParseRecord(const LineParser& line) {
  DQT_RETURN_IF_ERROR(line.ExpectTokens(9));
  RecordInfo record;
  DQT_ASSIGN_OR_RETURN(record.key.tensor, line.String(1));
  DQT_ASSIGN_OR_RETURN(record.key.field, line.String(2));
  DQT_ASSIGN_OR_RETURN(record.type, line.Type(3));
  DQT_ASSIGN_OR_RETURN(record.global_begin, line.Integer<uint64_t>(4));
  DQT_ASSIGN_OR_RETURN(record.count, line.Integer<int64_t>(5));
  DQT_ASSIGN_OR_RETURN(record.shard, line.Integer<int>(6));
  DQT_ASSIGN_OR_RETURN(record.offset, line.Integer<uint64_t>(7));
  DQT_ASSIGN_OR_RETURN(record.bytes, line.Integer<uint64_t>(8));
  return record;
}

// Adds line `line`'s item to `manifest` (all but the header and the checksum line).
absl::Status ParseItem(const LineParser& line, Manifest& manifest, int64_t& world_size) {
  const absl::string_view keyword = line.keyword();
  if (keyword == "step") {
    DQT_RETURN_IF_ERROR(line.ExpectTokens(2));
    DQT_ASSIGN_OR_RETURN(manifest.step, line.Integer<int64_t>(1));
  } else if (keyword == "world_size") {
    DQT_RETURN_IF_ERROR(line.ExpectTokens(2));
    DQT_ASSIGN_OR_RETURN(world_size, line.Integer<int64_t>(1));
  } else if (keyword == "meta") {
    DQT_RETURN_IF_ERROR(line.ExpectTokens(3));
    auto& [key, value] = manifest.meta.emplace_back();
    DQT_ASSIGN_OR_RETURN(key, line.String(1));
    DQT_ASSIGN_OR_RETURN(value, line.String(2));
  } else if (keyword == "shard") {
    DQT_RETURN_IF_ERROR(line.ExpectTokens(5));
    DQT_ASSIGN_OR_RETURN(const int rank, line.Integer<int>(1));
    if (rank != static_cast<int>(manifest.shards.size())) {
      return line.Error(absl::StrCat("shard of rank ", rank, " where rank ", manifest.shards.size(),
                                     " was expected"));
    }
    ShardFileInfo& shard = manifest.shards.emplace_back();
    DQT_ASSIGN_OR_RETURN(shard.file, line.String(2));
    DQT_ASSIGN_OR_RETURN(shard.bytes, line.Integer<uint64_t>(3));
    DQT_ASSIGN_OR_RETURN(shard.xxh64, line.Integer<uint64_t>(4, 16));
  } else if (keyword == "record") {
    DQT_ASSIGN_OR_RETURN(RecordInfo record, ParseRecord(line));
    manifest.records.push_back(std::move(record));
  } else {
    return line.Error(absl::StrCat("unknown item '", keyword, "'"));
  }
  return absl::OkStatus();
}

std::string DescribeRecord(const RecordInfo& r) {
  return absl::StrCat("[", r.global_begin, ", ", r.global_begin + r.count, ") from rank ", r.shard);
}

absl::Status ValidateRecord(const Manifest& manifest, const RecordInfo& r) {
  const std::string where = absl::StrCat("record (", r.key.tensor, ", ", r.key.field, ") ");
  if (r.key.tensor.empty() || r.key.field.empty()) {
    return absl::InvalidArgumentError(where + "has an empty tensor or field name");
  }
  if (r.shard < 0 || r.shard >= static_cast<int>(manifest.shards.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "names shard ", r.shard, " of ", manifest.shards.size()));
  }
  if (r.count < 1 || r.count > std::numeric_limits<int64_t>::max() / 4 ||
      r.global_begin > std::numeric_limits<uint64_t>::max() - r.count) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "has a bad range: begin ", r.global_begin, ", count ", r.count));
  }
  if (r.bytes != static_cast<uint64_t>(StoredBytes(r.type, r.count))) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "holds ", r.bytes, " bytes, but ", r.count, " ", StoredTypeName(r.type),
                     " elements take ", StoredBytes(r.type, r.count)));
  }
  const uint64_t file_bytes = manifest.shards[r.shard].bytes;
  if (r.offset > file_bytes || r.bytes > file_bytes - r.offset) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "bytes [", r.offset, ", ", r.offset + r.bytes, ") lie outside ",
                     ShardFileName(r.shard), " (", file_bytes, " bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t MemoryBytesPerElement(StoredType type) {
  switch (type) {
    case StoredType::kFloat32:
      return 4;
    case StoredType::kUint16:
      return 2;
    case StoredType::kInt8:
    case StoredType::kUint8:
    case StoredType::kTernary2:
      return 1;
  }
  return 0;
}

int64_t StoredBytes(StoredType type, int64_t count) {
  return type == StoredType::kTernary2 ? PackedTernaryBytes(count)
                                       : count * MemoryBytesPerElement(type);
}

absl::string_view StoredTypeName(StoredType type) {
  switch (type) {
    case StoredType::kFloat32:
      return "f32";
    case StoredType::kUint16:
      return "u16";
    case StoredType::kInt8:
      return "i8";
    case StoredType::kUint8:
      return "u8";
    case StoredType::kTernary2:
      return "ternary2";
  }
  return "?";
}

std::string ShardFileName(int rank) { return absl::StrFormat("shard_%05d.bin", rank); }

std::string FormatManifest(const Manifest& manifest) {
  std::string text = absl::StrCat(kHeader, "\nstep ", manifest.step, "\nworld_size ",
                                  manifest.shards.size(), "\n");
  for (const auto& [key, value] : manifest.meta) {
    absl::StrAppend(&text, "meta ", EscapeToken(key), " ", EscapeToken(value), "\n");
  }
  for (size_t rank = 0; rank < manifest.shards.size(); ++rank) {
    const ShardFileInfo& shard = manifest.shards[rank];
    absl::StrAppend(&text, "shard ", rank, " ", EscapeToken(shard.file), " ", shard.bytes, " ",
                    HashHex(shard.xxh64), "\n");
  }
  for (const RecordInfo& r : manifest.records) {
    absl::StrAppend(&text, "record ", EscapeToken(r.key.tensor), " ", EscapeToken(r.key.field), " ",
                    StoredTypeName(r.type), " ", r.global_begin, " ", r.count, " ", r.shard, " ",
                    r.offset, " ", r.bytes, "\n");
  }
  absl::StrAppend(&text, kChecksumKeyword, " ", HashHex(XXH64(text.data(), text.size(), 0)), "\n");
  return text;
}

absl::StatusOr<Manifest> ParseManifest(absl::string_view text, absl::string_view source) {
  // The checksum line first: a torn or edited manifest is reported as such, not as whatever
  // line the damage happens to make malformed.
  const size_t last_start = text.size() < 2 || text.back() != '\n'
                                ? absl::string_view::npos
                                : text.rfind('\n', text.size() - 2);
  const absl::string_view body = text.substr(0, last_start + 1);
  const std::string expected_line =
      absl::StrCat(kChecksumKeyword, " ", HashHex(XXH64(body.data(), body.size(), 0)), "\n");
  if (last_start == absl::string_view::npos ||
      !absl::StartsWith(text.substr(last_start + 1), kChecksumKeyword)) {
    return absl::DataLossError(
        absl::StrCat(source, ": no ", kChecksumKeyword, " line at the end (truncated?)"));
  }
  if (text.substr(last_start + 1) != expected_line) {
    return absl::DataLossError(absl::StrCat(source, ": checksum mismatch (manifest corrupted)"));
  }

  std::vector<absl::string_view> lines = absl::StrSplit(body, '\n');
  lines.pop_back();  // the empty piece after the final '\n'
  if (lines.empty() || lines[0] != kHeader) {
    return absl::InvalidArgumentError(absl::StrCat(source, " line 1: expected '", kHeader, "'"));
  }
  Manifest manifest;
  int64_t world_size = -1;
  for (size_t i = 1; i < lines.size(); ++i) {
    DQT_RETURN_IF_ERROR(ParseItem(LineParser(source, i + 1, lines[i]), manifest, world_size));
  }
  if (world_size < 1 || world_size != static_cast<int64_t>(manifest.shards.size())) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": world_size ", world_size, " but ",
                                                   manifest.shards.size(), " shard lines"));
  }
  for (size_t rank = 0; rank < manifest.shards.size(); ++rank) {
    if (manifest.shards[rank].file != ShardFileName(rank)) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": shard of rank ", rank, " is named '", manifest.shards[rank].file, "'"));
    }
  }
  DQT_RETURN_IF_ERROR(ValidateManifest(manifest));
  return manifest;
}

absl::Status ValidateManifest(const Manifest& manifest) {
  for (const RecordInfo& r : manifest.records) DQT_RETURN_IF_ERROR(ValidateRecord(manifest, r));
  std::vector<size_t> order(manifest.records.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const RecordInfo& x = manifest.records[a];
    const RecordInfo& y = manifest.records[b];
    return std::tie(x.key, x.global_begin) < std::tie(y.key, y.global_begin);
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const RecordInfo& prev = manifest.records[order[i - 1]];
    const RecordInfo& cur = manifest.records[order[i]];
    if (prev.key != cur.key) continue;
    const std::string key = absl::StrCat("(", cur.key.tensor, ", ", cur.key.field, ")");
    if (prev.type != cur.type) {
      return absl::InvalidArgumentError(absl::StrCat(
          "records of ", key, " disagree on the stored type: ", StoredTypeName(prev.type), " ",
          DescribeRecord(prev), ", ", StoredTypeName(cur.type), " ", DescribeRecord(cur)));
    }
    if (prev.global_begin + prev.count > cur.global_begin) {
      return absl::InvalidArgumentError(absl::StrCat("overlapping records of ", key, ": ",
                                                     DescribeRecord(prev), " and ",
                                                     DescribeRecord(cur)));
    }
  }
  return absl::OkStatus();
}

}  // namespace dqt
