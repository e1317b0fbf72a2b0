// Philox4x32-10 against the known-answer vectors of Random123, plus the draw helpers.
#include "core/base/philox.h"

#include <cmath>
#include <set>

#include "gtest/gtest.h"

namespace dqt {
namespace {

void ExpectBlock(Philox4x32 got, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  EXPECT_EQ(got.v[0], a);
  EXPECT_EQ(got.v[1], b);
  EXPECT_EQ(got.v[2], c);
  EXPECT_EQ(got.v[3], d);
}

TEST(Philox, KnownAnswerVectors) {
  ExpectBlock(Philox4x32_10({{0, 0, 0, 0}}, 0, 0), 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
  ExpectBlock(
      Philox4x32_10({{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff),
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
  ExpectBlock(
      Philox4x32_10({{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0),
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1);
}

TEST(Philox, NormalMomentsAndPurity) {
  const RngKey key = MakeRngKey(42, 7);
  const int n = 200000;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const float z = NormalAt(key, RngPurpose::kInit, 0, i);
    sum += z;
    sum2 += double(z) * z;
  }
  // Mean of n standard normals has sd 1/sqrt(n) = 0.0022; 5 sd bound.
  EXPECT_NEAR(sum / n, 0.0, 0.012);
  // Variance estimate has sd sqrt(2/n) = 0.0032; 5 sd bound.
  EXPECT_NEAR(sum2 / n, 1.0, 0.016);
  EXPECT_EQ(NormalAt(key, RngPurpose::kInit, 0, 12345), NormalAt(key, RngPurpose::kInit, 0, 12345));
  EXPECT_NE(NormalAt(key, RngPurpose::kInit, 0, 12345),
            NormalAt(MakeRngKey(42, 8), RngPurpose::kInit, 0, 12345));
}

TEST(Philox, DistinctKeysForDistinctParams) {
  std::set<std::pair<uint32_t, uint32_t>> keys;
  for (uint32_t p = 0; p < 1000; ++p) {
    const RngKey k = MakeRngKey(1234, p);
    keys.insert({k.k0, k.k1});
  }
  EXPECT_EQ(keys.size(), 1000u);
}

}  // namespace
}  // namespace dqt
