// ShardWriter's commit protocol. Begin: rank 0 makes the temporary directory and broadcasts its
// name. Add: each rank streams to its shard
// file, hashing as it writes. Commit: every rank fsyncs its file and all-gathers a report (its
// outcome, size, xxh64, record table); rank 0 decides, publishes, and broadcasts the outcome.
#include "core/train/shard_store.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/packed_ternary.h"
#include "core/base/status.h"

namespace dqt {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kTernaryChunk = int64_t{1} << 20;  // codes packed per write; a multiple of 4

absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// Little-endian byte encoding of the per-rank commit report (same program on every rank).
class ReportWriter {
 public:
  template <typename T>
  void Put(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(value));
  }
  void PutString(absl::string_view s) {
    Put<uint64_t>(s.size());
    bytes_.append(s.data(), s.size());
  }
  std::string Take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class ReportReader {
 public:
  explicit ReportReader(absl::string_view bytes) : rest_(bytes) {}
  template <typename T>
  bool Get(T& value) {
    if (rest_.size() < sizeof(T)) return false;
    std::memcpy(&value, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return true;
  }
  bool GetString(std::string& s) {
    uint64_t size = 0;
    if (!Get(size) || rest_.size() < size) return false;
    s.assign(rest_.data(), size);
    rest_.remove_prefix(size);
    return true;
  }
  bool done() const { return rest_.empty(); }

 private:
  absl::string_view rest_;
};

struct RankReport {
  absl::Status status;
  ShardFileInfo shard;
  std::vector<RecordInfo> records;
};

std::string EncodeReport(const absl::Status& status, uint64_t bytes, uint64_t xxh64,
                         const std::vector<RecordInfo>& records) {
  ReportWriter w;
  w.Put<int32_t>(static_cast<int32_t>(status.code()));
  w.PutString(status.message());
  w.Put(bytes);
  w.Put(xxh64);
  w.Put<uint64_t>(records.size());
  for (const RecordInfo& r : records) {
    w.PutString(r.key.tensor);
    w.PutString(r.key.field);
    w.Put(r.type);
    w.Put(r.global_begin);
    w.Put(r.count);
    w.Put(r.offset);
    w.Put(r.bytes);
  }
  return w.Take();
}

absl::StatusOr<RankReport> DecodeReport(absl::string_view bytes, int rank) {
  ReportReader in(bytes);
  RankReport report;
  int32_t code = 0;
  std::string message;
  uint64_t n = 0;
  bool ok = in.Get(code) && in.GetString(message) && in.Get(report.shard.bytes) &&
            in.Get(report.shard.xxh64) && in.Get(n);
  report.status = absl::Status(static_cast<absl::StatusCode>(code), message);
  report.shard.file = ShardFileName(rank);
  for (uint64_t i = 0; ok && i < n; ++i) {
    RecordInfo& r = report.records.emplace_back();
    r.shard = rank;
    ok = in.GetString(r.key.tensor) && in.GetString(r.key.field) && in.Get(r.type) &&
         in.Get(r.global_begin) && in.Get(r.count) && in.Get(r.offset) && in.Get(r.bytes);
  }
  if (!ok || !in.done()) {
    return absl::InternalError(absl::StrCat("malformed commit report from rank ", rank));
  }
  return report;
}

// Every rank's `mine`, indexed by rank.
absl::StatusOr<std::vector<std::string>> AllGatherStrings(Communicator& comm,
                                                          const std::string& mine) {
  std::vector<uint64_t> sizes(comm.size());
  const uint64_t my_size = mine.size();
  DQT_RETURN_IF_ERROR(comm.AllGather(&my_size, sizes.data(), sizeof(uint64_t)));
  const std::vector<size_t> send_bytes(sizes.begin(), sizes.end());
  std::string all(std::accumulate(sizes.begin(), sizes.end(), uint64_t{0}), '\0');
  DQT_RETURN_IF_ERROR(comm.AllGather(mine.data(), all.data(), send_bytes));
  std::vector<std::string> out;
  size_t offset = 0;
  for (uint64_t size : sizes) {
    out.push_back(all.substr(offset, size));
    offset += size;
  }
  return out;
}

// Collective: afterwards `status` and `text` on every rank equal rank 0's. The returned Status
// is the collective's own (not `status`).
absl::Status ShareRootOutcome(Communicator& comm, absl::Status& status, std::string& text) {
  std::string bytes;
  if (comm.rank() == 0) {
    ReportWriter w;
    w.Put<int32_t>(static_cast<int32_t>(status.code()));
    w.PutString(status.message());
    w.PutString(text);
    bytes = w.Take();
  }
  uint64_t size = bytes.size();
  DQT_RETURN_IF_ERROR(comm.Broadcast(&size, sizeof(size), 0));
  bytes.resize(size);
  DQT_RETURN_IF_ERROR(comm.Broadcast(bytes.data(), size, 0));
  ReportReader in(bytes);
  int32_t code = 0;
  std::string message;
  if (!in.Get(code) || !in.GetString(message) || !in.GetString(text) || !in.done()) {
    return absl::InternalError("malformed outcome broadcast by rank 0");
  }
  status = absl::Status(static_cast<absl::StatusCode>(code), message);
  return absl::OkStatus();
}

void RemoveTreeBestEffort(const std::string& path) {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

// rename(2) that never replaces `to` where the file system supports RENAME_NOREPLACE.
absl::Status RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return absl::OkStatus();
  }
  const int error = errno;
  const std::string what = absl::StrCat("rename ", from, " to ", to);
  if (error == EEXIST) return absl::AlreadyExistsError(absl::StrCat(to, " already exists"));
  if (error != EINVAL && error != ENOSYS) return absl::ErrnoToStatus(error, what);
  std::error_code ec;  // no RENAME_NOREPLACE here: check, then rename (racy, but one writer)
  if (fs::exists(to, ec)) return absl::AlreadyExistsError(absl::StrCat(to, " already exists"));
  if (std::rename(from.c_str(), to.c_str()) != 0) return absl::ErrnoToStatus(errno, what);
  return absl::OkStatus();
}

// Rank 0 in Begin: parent_dir exists, step_N does not, a fresh temporary directory. Its path.
absl::StatusOr<std::string> MakeTempDir(const std::string& parent_dir, int64_t step) {
  std::error_code ec;
  fs::create_directories(parent_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", parent_dir, ": ", ec.message()));
  const std::string final_dir = CheckpointDir(parent_dir, step);
  if (fs::exists(final_dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(final_dir, " already exists"));
  }
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const std::string temp_dir =
      absl::StrFormat("%s/.%s.tmp.%d.%x", parent_dir, CheckpointDirName(step), ::getpid(),
                      std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
  if (::mkdir(temp_dir.c_str(), 0755) != 0) return ErrnoError("mkdir", temp_dir);
  return temp_dir;
}

}  // namespace

absl::Status ShardWriter::Begin(Communicator& comm, const std::string& parent_dir, int64_t step) {
  if (comm_ != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("ShardWriter::Begin while ", temp_dir_, " is not committed"));
  }
  if (step < 0) return absl::InvalidArgumentError(absl::StrCat("negative step ", step));
  absl::Status outcome;
  std::string temp_dir;
  if (comm.rank() == 0) {
    absl::StatusOr<std::string> made = MakeTempDir(parent_dir, step);
    outcome = made.status();
    if (made.ok()) temp_dir = *made;
  }
  const absl::Status shared = ShareRootOutcome(comm, outcome, temp_dir);
  if (!shared.ok() || !outcome.ok()) {
    if (comm.rank() == 0 && !temp_dir.empty()) RemoveTreeBestEffort(temp_dir);
    return Annotate(shared.ok() ? outcome : shared,
                    absl::StrCat("checkpoint ", CheckpointDirName(step), ": "));
  }
  comm_ = &comm;
  parent_dir_ = parent_dir;
  step_ = step;
  temp_dir_ = temp_dir;
  shard_path_ = absl::StrCat(temp_dir, "/", ShardFileName(comm.rank()));
  shard_hash_ = std::make_unique<Xxh64Hasher>();
  return absl::OkStatus();
}

absl::Status ShardWriter::Add(absl::string_view tensor, absl::string_view field, StoredType type,
                              uint64_t global_begin, int64_t count, const void* data) {
  if (comm_ == nullptr) return absl::FailedPreconditionError("ShardWriter::Add before Begin");
  if (local_status_.ok()) {
    local_status_ = AddRecord(tensor, field, type, global_begin, count, data);
  }
  return local_status_;
}

absl::Status ShardWriter::AddRecord(absl::string_view tensor, absl::string_view field,
                                    StoredType type, uint64_t global_begin, int64_t count,
                                    const void* data) {
  const std::string what =
      absl::StrCat("Add(", tensor, ", ", field, ", begin ", global_begin, ", count ", count, "): ");
  if (tensor.empty() || field.empty()) {
    return absl::InvalidArgumentError(what + "empty tensor or field name");
  }
  if (count < 0 ||
      global_begin > std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(count)) {
    return absl::InvalidArgumentError(what + "bad range");
  }
  if (count == 0) return absl::OkStatus();
  if (data == nullptr) return absl::InvalidArgumentError(what + "null data");
  RecordInfo record{.key = {std::string(tensor), std::string(field)},
                    .type = type,
                    .global_begin = global_begin,
                    .count = count,
                    .shard = comm_->rank(),
                    .offset = shard_bytes_,
                    .bytes = static_cast<uint64_t>(StoredBytes(type, count))};
  if (type == StoredType::kTernary2) {
    const int8_t* codes = static_cast<const int8_t*>(data);
    for (int64_t i = 0; i < count; ++i) {
      if (codes[i] < -1 || codes[i] > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "ternary code ", codes[i], " at element ", global_begin + i));
      }
    }
    DQT_RETURN_IF_ERROR(AppendTernary(codes, count));
  } else {
    DQT_RETURN_IF_ERROR(AppendBytes(data, record.bytes));
  }
  records_.push_back(std::move(record));
  return absl::OkStatus();
}

absl::Status ShardWriter::EnsureShardOpen() {
  if (shard_fd_.valid()) return absl::OkStatus();
  DQT_ASSIGN_OR_RETURN(shard_fd_, OpenFile(shard_path_, O_WRONLY | O_CREAT | O_EXCL));
  return absl::OkStatus();
}

absl::Status ShardWriter::AppendBytes(const void* data, size_t bytes) {
  DQT_RETURN_IF_ERROR(EnsureShardOpen());
  DQT_RETURN_IF_ERROR(WriteAll(shard_fd_, data, bytes, shard_path_));
  shard_hash_->Update(data, bytes);
  shard_bytes_ += bytes;
  return absl::OkStatus();
}

absl::Status ShardWriter::AppendTernary(const int8_t* codes, int64_t count) {
  std::vector<uint8_t> packed(PackedTernaryBytes(std::min(count, kTernaryChunk)));
  for (int64_t done = 0; done < count; done += kTernaryChunk) {
    const int64_t n = std::min(kTernaryChunk, count - done);
    PackTernary(codes + done, n, packed.data());
    DQT_RETURN_IF_ERROR(AppendBytes(packed.data(), PackedTernaryBytes(n)));
  }
  return absl::OkStatus();
}

absl::Status ShardWriter::Commit(const CheckpointMeta& meta) {
  if (comm_ == nullptr) return absl::FailedPreconditionError("ShardWriter::Commit before Begin");
  Communicator& comm = *comm_;
  const std::string prefix = absl::StrCat("checkpoint ", CheckpointDirName(step_), ": ");
  if (local_status_.ok()) local_status_ = EnsureShardOpen();  // a rank without records too
  if (local_status_.ok() && ::fsync(shard_fd_.get()) != 0) {
    local_status_ = ErrnoError("fsync", shard_path_);
  }
  const absl::Status closed = shard_fd_.Close(shard_path_);
  if (local_status_.ok()) local_status_ = closed;

  absl::StatusOr<std::vector<std::string>> reports = AllGatherStrings(
      comm, EncodeReport(local_status_, shard_bytes_, shard_hash_->Digest(), records_));
  if (!reports.ok()) {
    if (comm.rank() == 0) RemoveTreeBestEffort(temp_dir_);
    Reset();
    return Annotate(reports.status(), prefix);
  }
  absl::Status outcome;
  if (comm.rank() == 0) outcome = PublishOnRoot(*reports, meta);
  std::string unused;
  const absl::Status shared = ShareRootOutcome(comm, outcome, unused);
  if (!shared.ok() && comm.rank() == 0) {
    // The peers cannot learn that step_N was published: take it back so that every rank's
    // error means the same thing.
    RemoveTreeBestEffort(temp_dir_);
    if (outcome.ok()) RemoveTreeBestEffort(CheckpointDir(parent_dir_, step_));
  }
  Reset();
  return shared.ok() ? outcome : Annotate(shared, prefix);
}

absl::Status ShardWriter::PublishOnRoot(const std::vector<std::string>& reports,
                                        const CheckpointMeta& meta) {
  const std::string final_dir = CheckpointDir(parent_dir_, step_);
  Manifest manifest;
  manifest.step = step_;
  manifest.meta = meta;
  std::vector<std::string> failures;
  absl::StatusCode failure_code = absl::StatusCode::kOk;
  for (int rank = 0; rank < static_cast<int>(reports.size()); ++rank) {
    absl::StatusOr<RankReport> report = DecodeReport(reports[rank], rank);
    const absl::Status status = report.ok() ? report->status : report.status();
    if (!status.ok()) {
      if (failures.empty()) failure_code = status.code();
      failures.push_back(absl::StrCat("rank ", rank, " failed: ", status.message()));
      continue;
    }
    manifest.shards.push_back(report->shard);
    for (RecordInfo& r : report->records) manifest.records.push_back(std::move(r));
  }
  absl::Status status = failures.empty()
                            ? ValidateManifest(manifest)
                            : absl::Status(failure_code, absl::StrJoin(failures, "; "));
  const std::string temp_manifest = absl::StrCat(temp_dir_, "/", kManifestFileName);
  if (status.ok()) status = WriteNewFileDurably(temp_manifest, FormatManifest(manifest));
  if (status.ok()) status = FsyncPath(temp_dir_);
  if (status.ok()) status = RenameNoReplace(temp_dir_, final_dir);
  if (status.ok()) {
    status = FsyncPath(parent_dir_);
    if (!status.ok()) RemoveTreeBestEffort(final_dir);  // not durable: not published
  }
  if (!status.ok()) RemoveTreeBestEffort(temp_dir_);
  return Annotate(status, absl::StrCat("checkpoint ", CheckpointDirName(step_), " not written: "));
}

void ShardWriter::Reset() {
  comm_ = nullptr;
  temp_dir_.clear();
  shard_path_.clear();
  shard_fd_ = ScopedFd();
  shard_bytes_ = 0;
  shard_hash_.reset();
  records_.clear();
  local_status_ = absl::OkStatus();
}

}  // namespace dqt
