// SequenceSampler: determinism, seed and epoch dependence, disjoint ranks, query-order freedom.
#include "data/sampler.h"

#include <algorithm>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;

SequenceSampler Make(uint64_t num_tokens, int seq_len, uint64_t seed, int rank = 0, int world = 1) {
  auto sampler = SequenceSampler::Create(num_tokens, seq_len, seed, rank, world);
  EXPECT_THAT(sampler, IsOk());
  return std::move(sampler).value();
}

// The starts of samples [first, first + n) of a sampler.
std::vector<uint64_t> Starts(const SequenceSampler& sampler, uint64_t first, uint64_t n) {
  std::vector<uint64_t> starts;
  for (uint64_t i = first; i < first + n; ++i) starts.push_back(sampler.StartOf(i));
  return starts;
}

TEST(SequenceSamplerTest, WindowGeometry) {
  const SequenceSampler sampler = Make(/*num_tokens=*/1025, /*seq_len=*/64, /*seed=*/1);
  EXPECT_EQ(sampler.num_windows(), 16u);  // (1025 - 1) / 64: the last window ends at token 1024
  const std::vector<uint64_t> starts = Starts(sampler, 0, 16);
  std::vector<uint64_t> sorted = starts;
  std::sort(sorted.begin(), sorted.end());
  for (uint64_t w = 0; w < 16; ++w) EXPECT_EQ(sorted[w], w * 64);
  EXPECT_EQ(Make(1024, 64, 1).num_windows(), 15u);  // one token short of 16 full windows
}

TEST(SequenceSamplerTest, SameSeedSameOrder) {
  EXPECT_EQ(Starts(Make(100000, 128, 42), 0, 2000), Starts(Make(100000, 128, 42), 0, 2000));
}

TEST(SequenceSamplerTest, DifferentSeedDifferentOrder) {
  EXPECT_NE(Starts(Make(100000, 128, 42), 0, 781), Starts(Make(100000, 128, 43), 0, 781));
}

TEST(SequenceSamplerTest, EpochsDifferAndEachIsAPermutation) {
  const SequenceSampler sampler = Make(100000, 128, 7);
  const uint64_t w = sampler.windows_per_rank();
  const std::vector<uint64_t> epoch0 = Starts(sampler, 0, w);
  const std::vector<uint64_t> epoch1 = Starts(sampler, w, w);
  EXPECT_NE(epoch0, epoch1);
  EXPECT_EQ(std::set<uint64_t>(epoch0.begin(), epoch0.end()),
            std::set<uint64_t>(epoch1.begin(), epoch1.end()));
  EXPECT_EQ(std::set<uint64_t>(epoch0.begin(), epoch0.end()).size(), w);
}

TEST(SequenceSamplerTest, RanksAreDisjointAndCoverTheEpoch) {
  // 768 windows of 128 tokens divide among 1, 2, 3 and 8 ranks; 781 leave remainders.
  for (const uint64_t windows : {768, 781}) {
    for (const int world : {1, 2, 3, 8}) {
      std::set<uint64_t> all;
      for (int rank = 0; rank < world; ++rank) {
        const SequenceSampler sampler = Make(windows * 128 + 1, 128, 99, rank, world);
        EXPECT_EQ(sampler.windows_per_rank(), windows / world);
        for (uint64_t start : Starts(sampler, 0, sampler.windows_per_rank())) {
          EXPECT_EQ(start % 128, 0u);
          EXPECT_LT(start, windows * 128);
          EXPECT_TRUE(all.insert(start).second) << "window " << start << " twice, world " << world;
        }
      }
      EXPECT_EQ(all.size(), windows - windows % world) << "world " << world;
    }
  }
}

TEST(SequenceSamplerTest, RankStreamsInterleaveTheSingleRankOrder) {
  const SequenceSampler single = Make(50001, 100, 5);
  const SequenceSampler rank1 = Make(50001, 100, 5, /*rank=*/1, /*world=*/4);
  for (uint64_t j = 0; j < rank1.windows_per_rank(); ++j) {
    ASSERT_EQ(rank1.StartOf(j), single.StartOf(j * 4 + 1)) << "sample " << j;
  }
}

TEST(SequenceSamplerTest, IndependentOfQueryOrder) {
  const SequenceSampler sequential = Make(300000, 256, 11, 1, 2);
  const uint64_t n = 3 * sequential.windows_per_rank() + 17;  // a bit over three epochs
  const std::vector<uint64_t> expected = Starts(sequential, 0, n);
  const SequenceSampler random_access = Make(300000, 256, 11, 1, 2);
  uint64_t index = 12345;
  for (int k = 0; k < 2000; ++k) {
    index = (index * 2862933555777941757ull + 3037000493ull) % n;
    ASSERT_EQ(random_access.StartOf(index), expected[index]) << "sample " << index;
  }
}

TEST(SequenceSamplerTest, BadArguments) {
  EXPECT_THAT(SequenceSampler::Create(1000, 0, 1, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, "seq_len"));
  EXPECT_THAT(SequenceSampler::Create(1000, 10, 1, 2, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "rank 2"));
  EXPECT_THAT(SequenceSampler::Create(1000, 10, 1, -1, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "rank -1"));
  EXPECT_THAT(SequenceSampler::Create(10, 10, 1, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, "fewer than the 1 ranks"));
  EXPECT_THAT(SequenceSampler::Create(0, 10, 1, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, "0 windows"));
  EXPECT_THAT(SequenceSampler::Create(11, 10, 1, 0, 1), IsOk());
  EXPECT_THAT(SequenceSampler::Create(30, 10, 1, 0, 4),
              StatusIs(absl::StatusCode::kInvalidArgument, "need at least 41 tokens"));
}

}  // namespace
}  // namespace dqt
