// The tools' minimal JSON (launch/json.h): quoting round-trips, escapes, numbers, strictness.
#include "launch/json.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;

TEST(JsonTest, QuoteRoundTripsEveryByteString) {
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (const std::string& text : {std::string(""), std::string("a \"b\" \\ c\n\t\x01"),
                                  std::string("caf\xc3\xa9 \xf0\x9f\x98\x80"), all}) {
    const std::string quoted = JsonQuote(text);
    absl::StatusOr<JsonValue> v = ParseJson(quoted);
    ASSERT_THAT(v, IsOk()) << quoted;
    EXPECT_EQ(v->type, JsonValue::Type::kString);
    EXPECT_EQ(v->text, text);
  }
  EXPECT_EQ(JsonQuote("a\"b\x1f"), "\"a\\\"b\\u001f\"");
}

TEST(JsonTest, ParsesEscapesAndSurrogatePairs) {
  absl::StatusOr<JsonValue> v = ParseJson(R"(["\u00e9\/\b\f\r", "\ud83d\ude00"])");
  ASSERT_THAT(v, IsOk());
  ASSERT_EQ(v->items.size(), 2u);
  EXPECT_EQ(v->items[0].text, "\xc3\xa9/\b\f\r");
  EXPECT_EQ(v->items[1].text, "\xf0\x9f\x98\x80");
}

TEST(JsonTest, ObjectsKeepOrderAndNumbersKeepTheirText) {
  absl::StatusOr<JsonValue> v =
      ParseJson(R"( {"b": [1, -2.5e3, 0], "a": {"x": null, "y": true}, "n": 12345678901234} )");
  ASSERT_THAT(v, IsOk());
  ASSERT_EQ(v->members.size(), 3u);
  EXPECT_EQ(v->members[0].first, "b");
  EXPECT_EQ(v->members[1].first, "a");
  EXPECT_EQ(v->Find("b")->items[1].number, -2500.0);
  EXPECT_EQ(v->Find("a")->Find("x")->type, JsonValue::Type::kNull);
  EXPECT_TRUE(v->Find("a")->Find("y")->boolean);
  uint64_t n = 0;
  EXPECT_TRUE(v->Find("n")->AsUint64(&n));
  EXPECT_EQ(n, 12345678901234u);
  EXPECT_FALSE(v->Find("b")->items[1].AsUint64(&n));
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(JsonTest, RefusesMalformedText) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"\\x\"",
                          "\"\\ud800\"", "\"a\nb\"", "{} {}", "[1] x"}) {
    EXPECT_THAT(ParseJson(bad), StatusIs(absl::StatusCode::kInvalidArgument, "JSON")) << bad;
  }
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_THAT(ParseJson(deep), StatusIs(absl::StatusCode::kInvalidArgument, "too deep"));
}

TEST(JsonTest, NumbersReadBackExactly) {
  for (double x : {0.0, 1e-5, 0.1, 1.0 / 3.0, 12.750014181419086, -2.5e300, 6.02214076e23}) {
    absl::StatusOr<JsonValue> v = ParseJson(JsonNumber(x));
    ASSERT_THAT(v, IsOk()) << JsonNumber(x);
    EXPECT_EQ(v->number, x) << JsonNumber(x);
  }
  EXPECT_EQ(JsonNumber(0.1), "0.1");
  EXPECT_EQ(JsonNumber(std::nan("")), "null");
}

}  // namespace
}  // namespace dqt
