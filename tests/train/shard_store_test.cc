// Sharded checkpoint store on real files: round trips of every stored type (ternary at odd
// offsets), reads assembled across records and shard files, corruption of shards and manifest
// caught before any data is used, one rank's failure failing every rank's commit, pruning.
#include "core/train/shard_store.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dist/fake_communicator.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

namespace fs = std::filesystem;
using testing::IsOk;
using testing::StatusIs;

// A fresh directory under the test temp dir, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "shard_store_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<float> RandomFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

template <typename T>
std::vector<T> RandomInts(int64_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(dist(rng));
  return v;
}

// Runs one checkpoint write on a fake world of `ranks`: Begin, add(writer, rank), Commit.
// Returns every rank's Commit (or first failing) status.
std::vector<absl::Status> WriteCheckpoint(
    int ranks, const std::string& parent, int64_t step,
    const std::function<void(ShardWriter&, int)>& add, const CheckpointMeta& meta = {},
    const std::function<void(FakeCommunicator&)>& inject = nullptr) {
  auto world = FakeCommunicator::CreateWorld(ranks);
  if (inject) {
    for (auto& comm : world) inject(*comm);
  }
  std::vector<absl::Status> statuses(ranks);
  RunOnRankThreads(world, [&](FakeCommunicator& comm) {
    ShardWriter writer;
    absl::Status status = writer.Begin(comm, parent, step);
    if (status.ok()) {
      add(writer, comm.rank());
      status = writer.Commit(meta);
    }
    statuses[comm.rank()] = status;
  });
  return statuses;
}

// Elements [begin, end) of `all` as a contiguous global range split among ranks: rank r gets the
// pieces whose index i satisfies i % ranks == r (so each rank holds several records).
template <typename T>
void AddInterleaved(ShardWriter& writer, int rank, int ranks, const std::string& tensor,
                    const std::string& field, StoredType type, const std::vector<T>& all,
                    const std::vector<int64_t>& cuts) {
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    if (static_cast<int>(i % ranks) != rank) continue;
    ASSERT_THAT(writer.Add(tensor, field, type, cuts[i], cuts[i + 1] - cuts[i], &all[cuts[i]]),
                IsOk());
  }
}

template <typename T>
void ExpectRangeEquals(ShardReader& reader, const std::string& tensor, const std::string& field,
                       const std::vector<T>& all, int64_t begin, int64_t end) {
  std::vector<T> got(end - begin);
  ASSERT_THAT(reader.Read(tensor, field, begin, end - begin, got.data()), IsOk());
  for (int64_t i = begin; i < end; ++i) {
    ASSERT_EQ(got[i - begin], all[i]) << tensor << "." << field << " element " << i << " of read ["
                                      << begin << ", " << end << ")";
  }
}

void ExpectAllOk(const std::vector<absl::Status>& statuses) {
  for (size_t r = 0; r < statuses.size(); ++r) EXPECT_THAT(statuses[r], IsOk()) << "rank " << r;
}

// Every rank failed with a message containing `substring`, and no checkpoint (nor temporary
// directory) is left under `parent`.
void ExpectFailedEverywhere(const std::vector<absl::Status>& statuses, const std::string& parent,
                            const std::string& substring) {
  for (size_t r = 0; r < statuses.size(); ++r) {
    EXPECT_FALSE(statuses[r].ok()) << "rank " << r;
    EXPECT_NE(std::string(statuses[r].message()).find(substring), std::string::npos)
        << "rank " << r << ": " << statuses[r];
  }
  EXPECT_EQ(Entries(parent), std::vector<std::string>{}) << "left behind under " << parent;
}

TEST(ShardStore, RoundTripOfEveryTypeOnOneRank) {
  ScratchDir dir;
  const auto f32 = RandomFloats(37, 1);
  const auto u16 = RandomInts<uint16_t>(19, 0, 65535, 2);
  const auto i8 = RandomInts<int8_t>(23, -128, 127, 3);
  const auto u8 = RandomInts<uint8_t>(5, 0, 255, 4);
  const auto ternary = RandomInts<int8_t>(1031, -1, 1, 5);
  const CheckpointMeta meta = {{"config", "dim: 64\nlayers: 2\n"},
                               {"odd key with spaces", std::string("\0\xff\" \\x", 6)},
                               {"empty", ""}};
  ExpectAllOk(WriteCheckpoint(
      1, dir.path(), 7,
      [&](ShardWriter& w, int) {
        ASSERT_THAT(w.Add("emb", "values", StoredType::kFloat32, 5, 37, f32.data()), IsOk());
        ASSERT_THAT(w.Add("emb", "m_absmax", StoredType::kUint16, 0, 19, u16.data()), IsOk());
        ASSERT_THAT(w.Add("w", "codes", StoredType::kInt8, 100, 23, i8.data()), IsOk());
        ASSERT_THAT(w.Add("w", "v_max", StoredType::kUint8, 3, 5, u8.data()), IsOk());
        // Ternary records starting and ending off a byte boundary, back to back.
        ASSERT_THAT(w.Add("t", "codes", StoredType::kTernary2, 3, 1, &ternary[3]), IsOk());
        ASSERT_THAT(w.Add("t", "codes", StoredType::kTernary2, 4, 29, &ternary[4]), IsOk());
        ASSERT_THAT(w.Add("t", "codes", StoredType::kTernary2, 33, 998, &ternary[33]), IsOk());
      },
      meta));
  ASSERT_EQ(Entries(dir.path()), std::vector<std::string>{"step_000007"});
  absl::StatusOr<ShardReader> reader = ShardReader::Open(CheckpointDir(dir.path(), 7));
  ASSERT_THAT(reader, IsOk());
  EXPECT_EQ(reader->step(), 7);
  EXPECT_EQ(reader->world_size(), 1);
  EXPECT_EQ(reader->meta(), meta);
  EXPECT_EQ(reader->Meta("config").value_or(""), "dim: 64\nlayers: 2\n");
  EXPECT_THAT(reader->Meta("absent"), StatusIs(absl::StatusCode::kNotFound, "absent"));
  EXPECT_EQ(reader->Tensors(), (std::vector<std::string>{"emb", "t", "w"}));
  EXPECT_EQ(reader->Fields("emb"), (std::vector<std::string>{"m_absmax", "values"}));
  EXPECT_TRUE(reader->Has("w", "v_max"));
  EXPECT_FALSE(reader->Has("w", "values"));
  EXPECT_EQ(reader->TypeOf("t", "codes").value(), StoredType::kTernary2);
  EXPECT_EQ(reader->TypeOf("emb", "m_absmax").value(), StoredType::kUint16);
  EXPECT_EQ(reader->ElementEnd("t", "codes").value(), 1031u);

  std::vector<float> f32_at(42);  // the record sits at [5, 42)
  std::copy(f32.begin(), f32.end(), f32_at.begin() + 5);
  ExpectRangeEquals(*reader, "emb", "values", f32_at, 5, 42);
  ExpectRangeEquals(*reader, "emb", "m_absmax", u16, 0, 19);
  std::vector<int8_t> i8_at(123);
  std::copy(i8.begin(), i8.end(), i8_at.begin() + 100);
  ExpectRangeEquals(*reader, "w", "codes", i8_at, 100, 123);
  ExpectRangeEquals(*reader, "w", "v_max",
                    std::vector<uint8_t>{0, 0, 0, u8[0], u8[1], u8[2], u8[3], u8[4]}, 3, 8);
  // Every ternary sub-range of the first 64 codes (all alignments, across record boundaries),
  // and long ranges ending near the end.
  for (int64_t begin = 3; begin < 64; ++begin) {
    for (int64_t end = begin; end <= 64; ++end) {
      ExpectRangeEquals(*reader, "t", "codes", ternary, begin, end);
    }
  }
  for (int64_t begin : {3, 4, 5, 6, 33, 34, 500, 1029}) {
    ExpectRangeEquals(*reader, "t", "codes", ternary, begin, 1031);
  }
}

TEST(ShardStore, RecordsLargerThanTheWritersAndReadersBlocks) {
  // Ternary packing goes in chunks of 2^20 codes and shard hashing in 4 MiB blocks: cross both.
  ScratchDir dir;
  const int64_t n = (int64_t{1} << 21) + 7;
  const auto codes = RandomInts<int8_t>(n, -1, 1, 21);
  const auto values = RandomFloats(n / 2, 22);
  ExpectAllOk(WriteCheckpoint(1, dir.path(), 1, [&](ShardWriter& w, int) {
    ASSERT_THAT(w.Add("t", "codes", StoredType::kTernary2, 1, n - 1, &codes[1]), IsOk());
    ASSERT_THAT(w.Add("v", "values", StoredType::kFloat32, 0, n / 2, values.data()), IsOk());
  }));
  absl::StatusOr<ShardReader> reader = ShardReader::Open(CheckpointDir(dir.path(), 1));
  ASSERT_THAT(reader, IsOk());
  ExpectRangeEquals(*reader, "t", "codes", codes, 1, n);
  ExpectRangeEquals(*reader, "t", "codes", codes, (int64_t{1} << 20) - 2, (int64_t{1} << 20) + 5);
  ExpectRangeEquals(*reader, "v", "values", values, 0, n / 2);
}

// Data of one tensor (f32 values, ternary codes) cut into 7 records among 3 ranks.
struct ThreeRankCheckpoint {
  static constexpr int64_t kN = 203;
  std::vector<float> values = RandomFloats(kN, 11);
  std::vector<int8_t> codes = RandomInts<int8_t>(kN, -1, 1, 12);
  std::vector<int64_t> cuts = {0, 1, 30, 61, 62, 125, 150, kN};

  std::vector<absl::Status> Write(const std::string& parent, int64_t step) {
    return WriteCheckpoint(3, parent, step, [&](ShardWriter& w, int rank) {
      AddInterleaved(w, rank, 3, "layer.w", "values", StoredType::kFloat32, values, cuts);
      AddInterleaved(w, rank, 3, "layer.w", "codes", StoredType::kTernary2, codes, cuts);
    });
  }
};

TEST(ShardStore, ReadsAssembleRecordsFromThreeShardFiles) {
  ScratchDir dir;
  ThreeRankCheckpoint ckpt;
  ExpectAllOk(ckpt.Write(dir.path(), 1));
  const std::string step_dir = CheckpointDir(dir.path(), 1);
  EXPECT_EQ(Entries(step_dir), (std::vector<std::string>{"manifest.txt", "shard_00000.bin",
                                                         "shard_00001.bin", "shard_00002.bin"}));
  absl::StatusOr<ShardReader> reader = ShardReader::Open(step_dir);
  ASSERT_THAT(reader, IsOk());
  EXPECT_EQ(reader->world_size(), 3);
  // The whole tensor, then the layout of a 4-rank world (cuts unrelated to the writer's), then
  // every range starting or ending at a record boundary +-1.
  ExpectRangeEquals(*reader, "layer.w", "values", ckpt.values, 0, ckpt.kN);
  ExpectRangeEquals(*reader, "layer.w", "codes", ckpt.codes, 0, ckpt.kN);
  for (int64_t begin = 0; begin < ckpt.kN; begin += 51) {
    const int64_t end = std::min(begin + 51, ckpt.kN);
    ExpectRangeEquals(*reader, "layer.w", "values", ckpt.values, begin, end);
    ExpectRangeEquals(*reader, "layer.w", "codes", ckpt.codes, begin, end);
  }
  for (int64_t a : ckpt.cuts) {
    for (int64_t b : ckpt.cuts) {
      for (int64_t da : {-1, 0, 1}) {
        for (int64_t db : {-1, 0, 1}) {
          const int64_t begin = std::clamp<int64_t>(a + da, 0, ckpt.kN);
          const int64_t end = std::clamp<int64_t>(b + db, begin, ckpt.kN);
          ExpectRangeEquals(*reader, "layer.w", "values", ckpt.values, begin, end);
          ExpectRangeEquals(*reader, "layer.w", "codes", ckpt.codes, begin, end);
        }
      }
    }
  }
}

void RewriteFile(const std::string& path, const std::function<void(std::string&)>& edit) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  edit(bytes);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Reads [0, kN) of values after damaging shard 1: the error, and `out` untouched.
void ExpectDamagedShardRejected(const std::function<void(std::string&)>& damage,
                                const std::string& message) {
  ScratchDir dir;
  ThreeRankCheckpoint ckpt;
  ExpectAllOk(ckpt.Write(dir.path(), 1));
  const std::string step_dir = CheckpointDir(dir.path(), 1);
  RewriteFile(step_dir + "/shard_00001.bin", damage);
  absl::StatusOr<ShardReader> reader = ShardReader::Open(step_dir);
  ASSERT_THAT(reader, IsOk());
  // Records [0, 1) (rank 0) and [1, 30) (rank 1): nothing, not even rank 0's part, is copied.
  std::vector<float> out(ckpt.kN, -7.0f);
  EXPECT_THAT(reader->Read("layer.w", "values", 0, ckpt.kN, out.data()),
              StatusIs(absl::StatusCode::kDataLoss, "shard_00001.bin " + message));
  EXPECT_EQ(out, std::vector<float>(ckpt.kN, -7.0f));
  std::vector<int8_t> codes(29, 5);
  EXPECT_THAT(reader->Read("layer.w", "codes", 1, 29, codes.data()),
              StatusIs(absl::StatusCode::kDataLoss, "shard_00001.bin " + message));
  EXPECT_EQ(codes, std::vector<int8_t>(29, 5));
  // Shard 0 alone is intact and still readable.
  ExpectRangeEquals(*reader, "layer.w", "values", ckpt.values, 0, 1);
}

TEST(ShardStore, TruncatedShardIsRejected) {
  ExpectDamagedShardRejected([](std::string& bytes) { bytes.pop_back(); }, "truncated");
}

TEST(ShardStore, FlippedByteInAShardIsAChecksumMismatch) {
  ExpectDamagedShardRejected([](std::string& bytes) { bytes[bytes.size() / 2] ^= 0x10; },
                             "checksum mismatch");
}

TEST(ShardStore, CorruptedManifestIsRejected) {
  ScratchDir dir;
  ThreeRankCheckpoint ckpt;
  ExpectAllOk(ckpt.Write(dir.path(), 1));
  const std::string manifest = CheckpointDir(dir.path(), 1) + "/manifest.txt";
  std::ifstream in(manifest, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  auto open_with = [&](const std::string& text) {
    std::ofstream(manifest, std::ios::binary | std::ios::trunc) << text;
    return ShardReader::Open(CheckpointDir(dir.path(), 1)).status();
  };
  std::string flipped = original;
  flipped[original.find("record ") + 9] ^= 0x01;
  EXPECT_THAT(open_with(flipped), StatusIs(absl::StatusCode::kDataLoss, "checksum mismatch"));
  EXPECT_THAT(open_with(original.substr(0, original.size() - 30)),
              StatusIs(absl::StatusCode::kDataLoss, "no manifest_xxh64 line"));
  // A malformed line under a valid checksum: reported with its line number.
  std::string body = original.substr(0, original.rfind("manifest_xxh64"));
  const size_t line4 = body.find("shard 0 ");
  body.replace(body.find(' ', line4 + 8), 1, " x");
  char checksum[17];
  std::snprintf(checksum, sizeof(checksum), "%016llx",
                static_cast<unsigned long long>(XXH64(body.data(), body.size(), 0)));
  EXPECT_THAT(open_with(body + "manifest_xxh64 " + checksum + "\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, "manifest.txt line 4: field 3 'x"));
  EXPECT_THAT(open_with(original), IsOk());
}

// Found by tests/fuzz/checkpoint_fuzz.cc (corpus/checkpoint/crash-invalid-ternary): a shard whose
// packed ternary codes hold the pattern 0b10 under a checksum that matches (a writer bug, or a
// crafted file) aborted the process in UnpackTernary; it is a DataLoss error naming the record.
TEST(ShardStoreAdversarial, InvalidTernaryPatternUnderAValidChecksumIsDataLoss) {
  ScratchDir dir;
  const std::vector<int8_t> codes = {1, 0, -1, 1, 0, 0, -1, -1, 1};
  ExpectAllOk(WriteCheckpoint(1, dir.path(), 3, [&](ShardWriter& w, int) {
    ASSERT_THAT(w.Add("w", "codes", StoredType::kTernary2, 0, 9, codes.data()), IsOk());
  }));
  const std::string step_dir = CheckpointDir(dir.path(), 3);
  std::string shard;
  RewriteFile(step_dir + "/shard_00000.bin", [&](std::string& bytes) {
    bytes[1] = static_cast<char>((bytes[1] & ~0x0C) | 0x08);  // code 5 (byte 1, slot 1): 0b10
    shard = bytes;
  });
  RewriteFile(step_dir + "/manifest.txt", [&](std::string& text) {
    absl::StatusOr<Manifest> manifest = ParseManifest(text, "manifest");
    ASSERT_THAT(manifest, IsOk());
    manifest->shards[0].xxh64 = XXH64(shard.data(), shard.size(), 0);
    text = FormatManifest(*manifest);
  });
  absl::StatusOr<ShardReader> reader = ShardReader::Open(step_dir);
  ASSERT_THAT(reader, IsOk());
  std::vector<int8_t> out(9, 7);
  EXPECT_THAT(
      reader->Read("w", "codes", 0, 9, out.data()),
      StatusIs(absl::StatusCode::kDataLoss, "invalid ternary bit pattern 0b10 at element 5"));
  EXPECT_THAT(reader->Read("w", "codes", 3, 4, out.data()),
              StatusIs(absl::StatusCode::kDataLoss, "at element 5"));
  std::vector<int8_t> head(4);  // elements 0..3 lie in the intact first byte
  ASSERT_THAT(reader->Read("w", "codes", 0, 4, head.data()), IsOk());
  EXPECT_EQ(head, std::vector<int8_t>(codes.begin(), codes.begin() + 4));
}

TEST(ShardStore, BadAddOnOneRankFailsEveryRank) {
  ScratchDir dir;
  const std::vector<int8_t> codes = {1, 0, 2, -1};
  ExpectFailedEverywhere(
      WriteCheckpoint(
          3, dir.path(), 4,
          [&](ShardWriter& w, int rank) {
            const int64_t n = rank == 1 ? 4 : 2;
            EXPECT_EQ(w.Add("t", "codes", StoredType::kTernary2, 4 * rank, n, codes.data()).ok(),
                      rank != 1);
          }),
      dir.path(), "rank 1 failed: Add(t, codes, begin 4, count 4)");
}

TEST(ShardStore, WriteErrorOnOneRankFailsEveryRank) {
  ScratchDir dir;
  const std::vector<float> values(10, 1.0f);
  ExpectFailedEverywhere(
      WriteCheckpoint(
          3, dir.path(), 4,
          [&](ShardWriter& w, int rank) {
            // Something else already occupies rank 2's shard file name.
            if (rank == 2) fs::create_directory(w.temp_dir() + "/shard_00002.bin");
            EXPECT_EQ(w.Add("v", "values", StoredType::kFloat32, 10 * rank, 10, values.data()).ok(),
                      rank != 2);
          }),
      dir.path(), "rank 2 failed: open ");
}

TEST(ShardStore, CommunicatorFailureDuringCommitLeavesNoCheckpoint) {
  // Begin is collectives #0-1; Commit gathers reports (#2-3) and broadcasts the outcome (#4-5),
  // after rank 0 has renamed the directory into place.
  for (int64_t collective : {2, 3, 4, 5}) {
    SCOPED_TRACE(absl::StrCat("failing collective #", collective));
    ScratchDir dir;
    const std::vector<float> values(10, 2.0f);
    const auto statuses = WriteCheckpoint(
        3, dir.path(), 9,
        [&](ShardWriter& w, int rank) {
          ASSERT_THAT(w.Add("v", "m", StoredType::kFloat32, 10 * rank, 10, values.data()), IsOk());
        },
        {},
        [&](FakeCommunicator& comm) {
          if (comm.rank() == 1) comm.InjectFailure(collective);
        });
    ExpectFailedEverywhere(statuses, dir.path(), "checkpoint step_000009: ");
    EXPECT_THAT(statuses[0], StatusIs(absl::StatusCode::kUnavailable, "peer rank 1 failed"));
  }
}

TEST(ShardStore, OverlappingRecordsFailTheCommit) {
  ScratchDir dir;
  const std::vector<float> values(10, 0.5f);
  ExpectFailedEverywhere(WriteCheckpoint(3, dir.path(), 2,
                                         [&](ShardWriter& w, int rank) {
                                           if (rank == 1) return;
                                           ASSERT_THAT(w.Add("v", "values", StoredType::kFloat32,
                                                             rank == 0 ? 0 : 8, 10, values.data()),
                                                       IsOk());
                                         }),
                         dir.path(),
                         "overlapping records of (v, values): [0, 10) from rank 0 and [8, 18) "
                         "from rank 2");
}

TEST(ShardStore, UncoveredRangesAreErrors) {
  ScratchDir dir;
  const std::vector<float> values(10, 3.0f);
  ExpectAllOk(WriteCheckpoint(1, dir.path(), 1, [&](ShardWriter& w, int) {
    ASSERT_THAT(w.Add("v", "values", StoredType::kFloat32, 0, 10, values.data()), IsOk());
    ASSERT_THAT(w.Add("v", "values", StoredType::kFloat32, 20, 10, values.data()), IsOk());
  }));
  absl::StatusOr<ShardReader> reader = ShardReader::Open(CheckpointDir(dir.path(), 1));
  ASSERT_THAT(reader, IsOk());
  std::vector<float> out(20, -1.0f);
  EXPECT_THAT(reader->Read("v", "values", 5, 20, out.data()),
              StatusIs(absl::StatusCode::kOutOfRange, "(v, values) elements [10, 20) are not"));
  EXPECT_THAT(reader->Read("v", "values", 25, 10, out.data()),
              StatusIs(absl::StatusCode::kOutOfRange, "elements [30, 35)"));
  EXPECT_THAT(reader->Read("v", "values", 40, 1, out.data()),
              StatusIs(absl::StatusCode::kOutOfRange, "elements [40, 41)"));
  EXPECT_THAT(reader->Read("v", "m", 0, 1, out.data()),
              StatusIs(absl::StatusCode::kNotFound, "(v, m)"));
  EXPECT_EQ(out, std::vector<float>(20, -1.0f));
}

TEST(ShardStore, ExistingStepIsNeverReplaced) {
  ScratchDir dir;
  ThreeRankCheckpoint ckpt;
  ExpectAllOk(ckpt.Write(dir.path(), 3));
  for (const absl::Status& status : ckpt.Write(dir.path(), 3)) {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kAlreadyExists, "step_000003 already exists"));
  }
  absl::StatusOr<ShardReader> reader = ShardReader::Open(CheckpointDir(dir.path(), 3));
  ASSERT_THAT(reader, IsOk());
  ExpectRangeEquals(*reader, "layer.w", "values", ckpt.values, 0, ckpt.kN);
}

TEST(ShardStore, PruneKeepsTheNewestCompleteCheckpoints) {
  ScratchDir dir;
  EXPECT_THAT(LatestCheckpoint(dir.path()), StatusIs(absl::StatusCode::kNotFound, "no complete"));
  const float one = 1.0f;
  for (int64_t step : {30, 5, 1000000, 12, 7}) {
    ExpectAllOk(WriteCheckpoint(2, dir.path(), step, [&](ShardWriter& w, int rank) {
      ASSERT_THAT(w.Add("x", "values", StoredType::kFloat32, rank, 1, &one), IsOk());
    }));
  }
  fs::create_directory(dir.path() + "/.step_000031.tmp.123.abc");  // a crashed writer's
  fs::create_directory(dir.path() + "/step_000040");               // no manifest: not ours
  EXPECT_EQ(ListCheckpoints(dir.path()).value(), (std::vector<int64_t>{5, 7, 12, 30, 1000000}));
  EXPECT_EQ(LatestCheckpoint(dir.path()).value(), 1000000);
  EXPECT_THAT(PruneCheckpoints(dir.path(), 0), StatusIs(absl::StatusCode::kInvalidArgument, ""));
  ASSERT_THAT(PruneCheckpoints(dir.path(), 2), IsOk());
  EXPECT_EQ(Entries(dir.path()),
            (std::vector<std::string>{"step_000030", "step_000040", "step_1000000"}));
  ASSERT_THAT(PruneCheckpoints(dir.path(), 2), IsOk());
  EXPECT_EQ(ListCheckpoints(dir.path()).value(), (std::vector<int64_t>{30, 1000000}));
  EXPECT_THAT(ShardReader::Open(CheckpointDir(dir.path(), 30)), IsOk());
  EXPECT_EQ(ListCheckpoints(dir.path() + "/absent").value(), std::vector<int64_t>{});
}

}  // namespace
}  // namespace dqt
