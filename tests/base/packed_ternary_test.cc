// Ternary 2-bit packing: round trips for awkward lengths, the documented bit layout, and the
// checks on invalid codes and corrupted bytes.
#include "core/base/packed_ternary.h"

#include <vector>

#include "core/base/philox.h"
#include "gtest/gtest.h"

namespace dqt {
namespace {

std::vector<int8_t> RandomTernary(int64_t n) {
  std::vector<int8_t> codes(n);
  const RngKey key = MakeRngKey(3, 1);
  for (int64_t i = 0; i < n; ++i) {
    codes[i] = static_cast<int8_t>(RngBlock(key, RngPurpose::kInit, 0, i).v[0] % 3) - 1;
  }
  return codes;
}

TEST(PackedTernary, RoundTripsAwkwardLengths) {
  for (int64_t n : {0, 1, 3, 4, 5, 1001, 200003}) {
    const std::vector<int8_t> codes = RandomTernary(n);
    std::vector<uint8_t> packed(PackedTernaryBytes(n) + 1, 0xAB);  // sentinel past the end
    PackTernary(codes.data(), n, packed.data());
    EXPECT_EQ(packed.back(), 0xAB) << "wrote past PackedTernaryBytes(" << n << ")";
    std::vector<int8_t> back(n + 1, 42);
    UnpackTernary(packed.data(), n, back.data());
    EXPECT_EQ(back.back(), 42) << "wrote past n = " << n;
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back[i], codes[i]) << "n = " << n << ", index " << i;
  }
}

TEST(PackedTernary, DocumentedLayout) {
  EXPECT_EQ(PackedTernaryBytes(0), 0);
  EXPECT_EQ(PackedTernaryBytes(1), 1);
  EXPECT_EQ(PackedTernaryBytes(4), 1);
  EXPECT_EQ(PackedTernaryBytes(5), 2);
  // First code in the low bits; 0b01 = +1, 0b11 = -1, 0b00 = 0; unused bits zero.
  const int8_t codes[] = {1, -1, 0, 1, -1};
  uint8_t packed[2];
  PackTernary(codes, 5, packed);
  EXPECT_EQ(packed[0], 0b01'00'11'01);
  EXPECT_EQ(packed[1], 0b00'00'00'11);
}

TEST(PackedTernaryDeathTest, RejectsCodesOutsideTernary) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<int8_t> codes = RandomTernary(1001);
  codes[777] = 2;
  std::vector<uint8_t> packed(PackedTernaryBytes(1001));
  EXPECT_DEATH(PackTernary(codes.data(), 1001, packed.data()), "index 777");
}

TEST(PackedTernaryDeathTest, RejectsCorruptedBytes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const uint8_t packed[] = {0b00'10'00'00};  // 0b10 in slot 2
  int8_t out[4];
  EXPECT_DEATH(UnpackTernary(packed, 4, out), "0b10 at index 2");
}

}  // namespace
}  // namespace dqt
