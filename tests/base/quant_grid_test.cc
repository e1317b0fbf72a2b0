// QuantGrid: the DQT grids' levels, names and the mapping from a config's bit width.
#include "core/base/quant_grid.h"

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using testing::StatusIs;

TEST(QuantGrid, LevelsAndNames) {
  const QuantGrid ternary = QuantGrid::Ternary();
  EXPECT_EQ(ternary.qmin(), -1);
  EXPECT_EQ(ternary.qmax(), 1);
  EXPECT_EQ(ternary.levels(), 3);
  EXPECT_STREQ(ternary.name(), "ternary");
  EXPECT_NEAR(ternary.bits_per_weight(), 1.58, 0.01);
  struct Want {
    int bits, qmin, qmax;
    const char* name;
  };
  for (const Want& w : {Want{2, -2, 1, "int2"}, Want{3, -4, 3, "int3"}, Want{4, -8, 7, "int4"},
                        Want{8, -128, 127, "int8"}}) {
    const QuantGrid g = QuantGrid::Integer(w.bits);
    EXPECT_TRUE(g.IsValid());
    EXPECT_EQ(g.qmin(), w.qmin) << w.name;
    EXPECT_EQ(g.qmax(), w.qmax) << w.name;
    EXPECT_EQ(g.levels(), 1 << w.bits) << w.name;
    EXPECT_STREQ(g.name(), w.name);
  }
  static_assert(QuantGrid::Ternary().qmax() == 1, "usable in constant expressions");
}

TEST(QuantGrid, FromConfigBits) {
  EXPECT_EQ(QuantGridFromBits(1.58).value(), QuantGrid::Ternary());
  EXPECT_EQ(QuantGridFromBits(3).value(), QuantGrid::Integer(3));
  EXPECT_EQ(QuantGridFromBits(8).value(), QuantGrid::Integer(8));
  for (double bad : {1.0, 2.5, 9.0, 0.0, -4.0, 1e300}) {
    EXPECT_THAT(QuantGridFromBits(bad), StatusIs(absl::StatusCode::kInvalidArgument, "1.58"))
        << bad;
  }
}

TEST(QuantGridDeathTest, IntegerOutsideTwoToEightBits) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(QuantGrid::Integer(9), "2..8 bits");
  EXPECT_DEATH(QuantGrid::Integer(1), "2..8 bits");
}

}  // namespace
}  // namespace dqt
