// Sharded checkpoint store: each rank of a world writes the records it owns (a range of one field
// of one named tensor, in global element indices) to its own shard file; rank 0 publishes a
// verified manifest by renaming the directory into place. Knows nothing about models.
//
// Layout: <parent>/step_<NNNNNN>/{manifest.txt, shard_<RRRRR>.bin per rank}, written under
// <parent>/.step_<NNNNNN>.tmp.<unique> first. <parent> must be one directory seen by every rank
// (a shared file system across nodes). Manifest format: shard_manifest.cc.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/train/shard_io.h"
#include "core/train/shard_manifest.h"
#include "dist/communicator.h"

namespace dqt {

// "step_000042" and <parent>/step_000042.
std::string CheckpointDirName(int64_t step);
std::string CheckpointDir(const std::string& parent_dir, int64_t step);

// Writes one checkpoint collectively. Begin and Commit are collectives over `comm` (every rank,
// same order, same parent_dir and step); Add is local and streams to this rank's shard file.
//
//   ShardWriter writer;
//   DQT_RETURN_IF_ERROR(writer.Begin(world, dir, step));
//   DQT_RETURN_IF_ERROR(writer.Add("w", "codes", StoredType::kTernary2, begin, n, codes));
//   DQT_RETURN_IF_ERROR(writer.Commit({{"config", text}}));
//
// Outcome: every rank's Commit returns the same Status. On OK, step_<NNNNNN> exists with every
// shard fsynced and the manifest, the directory and the parent fsynced. On error (an I/O error or
// a bad Add on any rank, overlapping records, a failed collective), the error names the failing
// rank(s), nothing exists under step_<NNNNNN>, and rank 0 removes the temporary directory (best
// effort when the communicator itself failed; PruneCheckpoints removes leftovers).
// A writer destroyed between Begin and Commit leaves its temporary directory to PruneCheckpoints.
// An existing step_<NNNNNN> is never replaced: Begin (and the final rename) fail with
// AlreadyExists; delete it first to rewrite a step.
class ShardWriter {
 public:
  ShardWriter() = default;
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Collective. Rank 0 creates parent_dir if needed and the temporary directory, then
  // broadcasts its name; an error there (or an existing step directory) fails Begin on every
  // rank. FailedPrecondition (local) while a previous Begin is not committed.
  [[nodiscard]] absl::Status Begin(Communicator& comm, const std::string& parent_dir, int64_t step);

  // Elements [global_begin, global_begin + count) of (tensor, field), from `data` in memory
  // type (shard_manifest.h). count == 0 adds nothing. A bad argument (empty name, negative count,
  // a kTernary2 code outside {-1, 0, 1}) or a write error is returned here and also makes the
  // coming Commit fail on every rank; later Adds return the same error.
  [[nodiscard]] absl::Status Add(absl::string_view tensor, absl::string_view field, StoredType type,
                                 uint64_t global_begin, int64_t count, const void* data);

  // Collective: publishes the checkpoint (outcome above). `meta` is taken from rank 0 only.
  // Afterwards the writer is idle and may Begin again.
  [[nodiscard]] absl::Status Commit(const CheckpointMeta& meta);

  // The directory being written (empty while idle); tests use it to provoke failures.
  const std::string& temp_dir() const { return temp_dir_; }

 private:
  // Add's work once the writer is known to be active and healthy.
  absl::Status AddRecord(absl::string_view tensor, absl::string_view field, StoredType type,
                         uint64_t global_begin, int64_t count, const void* data);
  // Opens this rank's shard file on first use (each rank writes one, records or not).
  absl::Status EnsureShardOpen();
  // Appends to this rank's shard file and its running hash.
  absl::Status AppendBytes(const void* data, size_t bytes);
  absl::Status AppendTernary(const int8_t* codes, int64_t count);
  // Rank 0, holding every rank's report: checks them, writes the manifest and renames the
  // temporary directory into place, or removes it.
  absl::Status PublishOnRoot(const std::vector<std::string>& reports, const CheckpointMeta& meta);
  void Reset();

  Communicator* comm_ = nullptr;  // non-null between Begin and Commit
  std::string parent_dir_;
  int64_t step_ = 0;
  std::string temp_dir_;
  std::string shard_path_;
  ScopedFd shard_fd_;
  uint64_t shard_bytes_ = 0;
  std::unique_ptr<Xxh64Hasher> shard_hash_;  // of the bytes written so far
  std::vector<RecordInfo> records_;          // this rank's, in file order
  absl::Status local_status_;                // first error of this rank (sticky until Commit)
};

// Steps of the complete checkpoints (step_<N> directories holding manifest.txt) under
// parent_dir, ascending. A missing parent_dir has none.
[[nodiscard]] absl::StatusOr<std::vector<int64_t>> ListCheckpoints(const std::string& parent_dir);

// The highest complete step; NotFound when there is none.
[[nodiscard]] absl::StatusOr<int64_t> LatestCheckpoint(const std::string& parent_dir);

// The step_<N> directories under parent_dir that hold no manifest, sorted.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> IncompleteCheckpoints(
    const std::string& parent_dir);

// Deletes every complete checkpoint but the newest keep_last (>= 1) by step, and every
// .step_*.tmp.* directory. Local, not collective: rank 0 calls it after a successful Commit,
// while no other writer uses parent_dir. step_* directories without a manifest are left alone.
[[nodiscard]] absl::Status PruneCheckpoints(const std::string& parent_dir, int keep_last);

// Reads a checkpoint written by ShardWriter, on any world size. Not thread-safe.
class ShardReader {
 public:
  // Reads, verifies (checksum) and parses dir/manifest.txt. Shard files are opened and verified
  // (size, whole-file xxh64) on their first Read, before any byte of them is used.
  [[nodiscard]] static absl::StatusOr<ShardReader> Open(const std::string& dir);

  int64_t step() const { return manifest_.step; }
  int world_size() const { return static_cast<int>(manifest_.shards.size()); }
  const CheckpointMeta& meta() const { return manifest_.meta; }
  // The value of meta key `key` (the first, if repeated); NotFound when absent.
  [[nodiscard]] absl::StatusOr<std::string> Meta(absl::string_view key) const;

  bool Has(absl::string_view tensor, absl::string_view field) const;
  // Sorted distinct names.
  std::vector<std::string> Tensors() const;
  std::vector<std::string> Fields(absl::string_view tensor) const;
  [[nodiscard]] absl::StatusOr<StoredType> TypeOf(absl::string_view tensor,
                                                  absl::string_view field) const;
  // One past the last element stored for (tensor, field).
  [[nodiscard]] absl::StatusOr<uint64_t> ElementEnd(absl::string_view tensor,
                                                    absl::string_view field) const;

  // Fills out (count elements of TypeOf's memory type) with elements
  // [global_begin, global_begin + count), assembled from every record that covers part of it.
  // Errors, before anything is copied: NotFound (no such key), OutOfRange naming the first
  // uncovered range, DataLoss naming a truncated or corrupted shard file. On an I/O error during
  // the copy itself, or packed ternary codes holding the invalid pattern 0b10 under a matching
  // checksum (DataLoss naming the element), out is left partly written.
  [[nodiscard]] absl::Status Read(absl::string_view tensor, absl::string_view field,
                                  uint64_t global_begin, int64_t count, void* out);

 private:
  struct ShardFile {
    ScopedFd fd;  // open once verified
  };

  ShardReader() = default;
  // Opens and checks shard `shard` if not done yet.
  absl::Status VerifyShard(int shard);
  absl::Status CopyRecordPart(const RecordInfo& record, uint64_t begin, uint64_t end, char* out);
  const std::vector<int>* RecordsOf(absl::string_view tensor, absl::string_view field) const;

  std::string dir_;
  Manifest manifest_;
  std::map<RecordKey, std::vector<int>> index_;  // record indices by key, by global_begin
  std::vector<ShardFile> shards_;                // indexed by rank
};

}  // namespace dqt
