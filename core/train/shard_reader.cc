// ShardReader: the manifest index, lazy whole-file verification of shard files, and range reads
// assembled from the records that cover them (ternary sub-ranges unpacked from any offset).
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/packed_ternary.h"
#include "core/base/status.h"
#include "core/train/shard_store.h"

namespace dqt {
namespace {

constexpr size_t kHashBlockBytes = size_t{4} << 20;

std::string KeyName(absl::string_view tensor, absl::string_view field) {
  return absl::StrCat("(", tensor, ", ", field, ")");
}

uint64_t RecordEnd(const RecordInfo& r) { return r.global_begin + static_cast<uint64_t>(r.count); }

// Part [begin, end) (global indices) of one record.
struct Piece {
  const RecordInfo* record;
  uint64_t begin;
  uint64_t end;
};

}  // namespace

absl::StatusOr<ShardReader> ShardReader::Open(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kManifestFileName);
  DQT_ASSIGN_OR_RETURN(const std::string text, ReadWholeFileAt(path));
  ShardReader reader;
  reader.dir_ = dir;
  DQT_ASSIGN_OR_RETURN(reader.manifest_, ParseManifest(text, path));
  for (int i = 0; i < static_cast<int>(reader.manifest_.records.size()); ++i) {
    reader.index_[reader.manifest_.records[i].key].push_back(i);
  }
  for (auto& [key, indices] : reader.index_) {
    std::sort(indices.begin(), indices.end(), [&](int a, int b) {
      return reader.manifest_.records[a].global_begin < reader.manifest_.records[b].global_begin;
    });
  }
  reader.shards_.resize(reader.manifest_.shards.size());
  return reader;
}

absl::StatusOr<std::string> ShardReader::Meta(absl::string_view key) const {
  for (const auto& [k, value] : manifest_.meta) {
    if (k == key) return value;
  }
  return absl::NotFoundError(absl::StrCat("no meta '", key, "' in ", dir_));
}

const std::vector<int>* ShardReader::RecordsOf(absl::string_view tensor,
                                               absl::string_view field) const {
  const auto it = index_.find(RecordKey{std::string(tensor), std::string(field)});
  return it == index_.end() ? nullptr : &it->second;
}

bool ShardReader::Has(absl::string_view tensor, absl::string_view field) const {
  return RecordsOf(tensor, field) != nullptr;
}

std::vector<std::string> ShardReader::Tensors() const {
  std::vector<std::string> names;
  for (const auto& [key, indices] : index_) {
    if (names.empty() || names.back() != key.tensor) names.push_back(key.tensor);
  }
  return names;
}

std::vector<std::string> ShardReader::Fields(absl::string_view tensor) const {
  std::vector<std::string> fields;
  for (auto it = index_.lower_bound(RecordKey{std::string(tensor), ""});
       it != index_.end() && it->first.tensor == tensor; ++it) {
    fields.push_back(it->first.field);
  }
  return fields;
}

absl::StatusOr<StoredType> ShardReader::TypeOf(absl::string_view tensor,
                                               absl::string_view field) const {
  const std::vector<int>* records = RecordsOf(tensor, field);
  if (records == nullptr) {
    return absl::NotFoundError(absl::StrCat("no records of ", KeyName(tensor, field)));
  }
  return manifest_.records[records->front()].type;
}

absl::StatusOr<uint64_t> ShardReader::ElementEnd(absl::string_view tensor,
                                                 absl::string_view field) const {
  const std::vector<int>* records = RecordsOf(tensor, field);
  if (records == nullptr) {
    return absl::NotFoundError(absl::StrCat("no records of ", KeyName(tensor, field)));
  }
  return RecordEnd(manifest_.records[records->back()]);
}

absl::Status ShardReader::VerifyShard(int shard) {
  if (shards_[shard].fd.valid()) return absl::OkStatus();
  const ShardFileInfo& info = manifest_.shards[shard];
  const std::string path = absl::StrCat(dir_, "/", info.file);
  DQT_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size != info.bytes) {
    return absl::DataLossError(absl::StrCat(path, size < info.bytes ? " truncated" : " too long",
                                            ": ", size, " bytes, the manifest says ", info.bytes));
  }
  Xxh64Hasher hash;
  std::vector<char> block(std::min<uint64_t>(kHashBlockBytes, size));
  for (uint64_t done = 0; done < size; done += block.size()) {
    const size_t n = std::min<uint64_t>(block.size(), size - done);
    DQT_RETURN_IF_ERROR(PreadAll(fd, block.data(), n, done, path));
    hash.Update(block.data(), n);
  }
  if (hash.Digest() != info.xxh64) {
    return absl::DataLossError(
        absl::StrFormat("%s checksum mismatch: xxh64 %016x, the manifest "
                        "says %016x",
                        path, hash.Digest(), info.xxh64));
  }
  shards_[shard].fd = std::move(fd);
  return absl::OkStatus();
}

absl::Status ShardReader::Read(absl::string_view tensor, absl::string_view field,
                               uint64_t global_begin, int64_t count, void* out) {
  const std::vector<int>* records = RecordsOf(tensor, field);
  if (records == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no records of ", KeyName(tensor, field), " in ", dir_));
  }
  if (count < 0 || (count > 0 && out == nullptr) ||
      global_begin > std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(count)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Read ", KeyName(tensor, field), ": begin ", global_begin, ", count ", count));
  }
  const uint64_t end = global_begin + static_cast<uint64_t>(count);
  // Plan every piece, and check coverage and shards, before copying a byte.
  std::vector<Piece> pieces;
  uint64_t pos = global_begin;
  auto it = std::partition_point(records->begin(), records->end(),
                                 [&](int i) { return RecordEnd(manifest_.records[i]) <= pos; });
  for (; pos < end; ++it) {
    const RecordInfo* r = it == records->end() ? nullptr : &manifest_.records[*it];
    if (r == nullptr || r->global_begin > pos) {
      const uint64_t gap_end = r == nullptr ? end : std::min(end, r->global_begin);
      return absl::OutOfRangeError(absl::StrCat(KeyName(tensor, field), " elements [", pos, ", ",
                                                gap_end, ") are not in ", dir_));
    }
    const uint64_t piece_end = std::min(end, RecordEnd(*r));
    pieces.push_back({r, pos, piece_end});
    pos = piece_end;
  }
  for (const Piece& piece : pieces) DQT_RETURN_IF_ERROR(VerifyShard(piece.record->shard));
  const int64_t elem_bytes = MemoryBytesPerElement(manifest_.records[records->front()].type);
  for (const Piece& piece : pieces) {
    char* dst = static_cast<char*>(out) + (piece.begin - global_begin) * elem_bytes;
    DQT_RETURN_IF_ERROR(CopyRecordPart(*piece.record, piece.begin, piece.end, dst));
  }
  return absl::OkStatus();
}

absl::Status ShardReader::CopyRecordPart(const RecordInfo& record, uint64_t begin, uint64_t end,
                                         char* out) {
  const ScopedFd& fd = shards_[record.shard].fd;
  const std::string path = absl::StrCat(dir_, "/", manifest_.shards[record.shard].file);
  const uint64_t first = begin - record.global_begin;  // element index within the record
  const uint64_t last = end - record.global_begin;
  if (record.type != StoredType::kTernary2) {
    const uint64_t elem_bytes = MemoryBytesPerElement(record.type);
    return PreadAll(fd, out, (last - first) * elem_bytes, record.offset + first * elem_bytes, path);
  }
  // Codes are packed from the record's first element: read whole bytes from the one holding
  // code `first`, unpack through the code `last - 1`, drop the leading `first % 4` codes.
  const uint64_t first_byte = first / kTernaryCodesPerByte;
  const int64_t codes = static_cast<int64_t>(last - first_byte * kTernaryCodesPerByte);
  std::vector<uint8_t> packed(PackedTernaryBytes(codes));
  DQT_RETURN_IF_ERROR(PreadAll(fd, packed.data(), packed.size(), record.offset + first_byte, path));
  const uint64_t skip = first % kTernaryCodesPerByte;
  // The shard's checksum matched, so this is what was written: a writer bug or a crafted file,
  // reported rather than left to UnpackTernary's check (which ends the process).
  // Every code of the bytes read is checked, the `skip` codes before the range too: UnpackTernary
  // below unpacks whole bytes.
  if (const int64_t bad = FindInvalidTernary(packed.data(), 0, codes); bad >= 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": record ", record.key.tensor, ".", record.key.field,
        " holds the invalid ternary bit pattern 0b10 at element ",
        record.global_begin + first_byte * kTernaryCodesPerByte + bad, " (corrupted shard)"));
  }
  if (skip == 0) {
    UnpackTernary(packed.data(), codes, reinterpret_cast<int8_t*>(out));
    return absl::OkStatus();
  }
  std::vector<int8_t> unpacked(codes);
  UnpackTernary(packed.data(), codes, unpacked.data());
  std::memcpy(out, unpacked.data() + skip, last - first);
  return absl::OkStatus();
}

}  // namespace dqt
