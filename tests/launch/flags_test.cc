// Tests of the declare-once flag parser (launch/flags.h).
#include "launch/flags.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Owns argv storage for one Parse call; argv[0] is the program name.
class Argv {
 public:
  explicit Argv(std::vector<std::string> args) : args_(std::move(args)) {
    args_.insert(args_.begin(), "prog");
    for (std::string& a : args_) pointers_.push_back(a.data());
    pointers_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(args_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> args_;
  std::vector<char*> pointers_;
};

struct Targets {
  std::string cfg = "run.pbtxt";
  int64_t steps = 10;
  double lr = 0.5;
  bool verbose = false;
  bool progress = true;
  std::vector<std::string> sets;
};

class FlagsTest : public ::testing::Test {
 protected:
  FlagsTest() : flags_("prog", "--cfg FILE [options] [files...]") {
    flags_.String("cfg", &t_.cfg, "run config");
    flags_.Int("steps", &t_.steps, "optimizer steps");
    flags_.Double("lr", &t_.lr, "learning rate");
    flags_.Bool("verbose", &t_.verbose, "say more");
    flags_.Bool("progress", &t_.progress, "progress bar");
    flags_.Repeated("set", &t_.sets, "override path=value");
  }
  absl::Status Parse(std::vector<std::string> args) {
    Argv a(std::move(args));
    return flags_.Parse(a.argc(), a.argv());
  }

  Targets t_;
  Flags flags_;
};

TEST_F(FlagsTest, DefaultsStayWithoutArguments) {
  EXPECT_THAT(Parse({}), IsOk());
  EXPECT_EQ(t_.cfg, "run.pbtxt");
  EXPECT_EQ(t_.steps, 10);
  EXPECT_EQ(t_.lr, 0.5);
  EXPECT_FALSE(t_.verbose);
  EXPECT_TRUE(t_.progress);
  EXPECT_TRUE(t_.sets.empty());
  EXPECT_TRUE(flags_.positional().empty());
}

TEST_F(FlagsTest, SpaceAndEqualsForms) {
  EXPECT_THAT(Parse({"--cfg", "a.pbtxt", "--steps=42", "--lr", "3e-4"}), IsOk());
  EXPECT_EQ(t_.cfg, "a.pbtxt");
  EXPECT_EQ(t_.steps, 42);
  EXPECT_DOUBLE_EQ(t_.lr, 3e-4);
}

TEST_F(FlagsTest, NegativeNumbersAsSeparateValues) {
  EXPECT_THAT(Parse({"--steps", "-3", "--lr", "-0.25"}), IsOk());
  EXPECT_EQ(t_.steps, -3);
  EXPECT_DOUBLE_EQ(t_.lr, -0.25);
}

TEST_F(FlagsTest, BoolForms) {
  EXPECT_THAT(Parse({"--verbose", "--noprogress"}), IsOk());
  EXPECT_TRUE(t_.verbose);
  EXPECT_FALSE(t_.progress);
  EXPECT_THAT(Parse({"--verbose=false", "--progress=yes"}), IsOk());
  EXPECT_FALSE(t_.verbose);
  EXPECT_TRUE(t_.progress);
  EXPECT_THAT(Parse({"--verbose=1", "--progress=0"}), IsOk());
  EXPECT_TRUE(t_.verbose);
  EXPECT_FALSE(t_.progress);
}

TEST_F(FlagsTest, BoolDoesNotConsumeNextArgument) {
  EXPECT_THAT(Parse({"--verbose", "false"}), IsOk());
  EXPECT_TRUE(t_.verbose);
  EXPECT_THAT(flags_.positional(), ElementsAre("false"));
}

TEST_F(FlagsTest, RepeatedReplacesDefaultThenAppends) {
  std::vector<std::string> files = {"default"};
  Flags flags("prog", "");
  flags.Repeated("file", &files, "input");
  Argv a({"--file", "x", "--file=y=z"});
  EXPECT_THAT(flags.Parse(a.argc(), a.argv()), IsOk());
  EXPECT_THAT(files, ElementsAre("x", "y=z"));
}

TEST_F(FlagsTest, PositionalAndDoubleDash) {
  EXPECT_THAT(Parse({"a", "--steps", "5", "b", "-", "--", "--lr", "c"}), IsOk());
  EXPECT_EQ(t_.steps, 5);
  EXPECT_DOUBLE_EQ(t_.lr, 0.5);
  EXPECT_THAT(flags_.positional(), ElementsAre("a", "b", "-", "--lr", "c"));
}

TEST_F(FlagsTest, ValueMayContainEquals) {
  EXPECT_THAT(Parse({"--set=optimizer.lr=3e-4", "--set", "model.n_layers=2"}), IsOk());
  EXPECT_THAT(t_.sets, ElementsAre("optimizer.lr=3e-4", "model.n_layers=2"));
}

TEST_F(FlagsTest, UnknownFlag) {
  EXPECT_THAT(Parse({"--nope=1"}), StatusIs(absl::StatusCode::kInvalidArgument, "--nope"));
  EXPECT_THAT(Parse({"--noverbos"}), StatusIs(absl::StatusCode::kInvalidArgument, "--noverbos"));
  EXPECT_THAT(Parse({"-x"}), StatusIs(absl::StatusCode::kInvalidArgument, "-x"));
  // "no" negates bools only.
  EXPECT_THAT(Parse({"--nocfg"}), StatusIs(absl::StatusCode::kInvalidArgument, "--nocfg"));
}

TEST_F(FlagsTest, MissingValue) {
  EXPECT_THAT(Parse({"--cfg"}), StatusIs(absl::StatusCode::kInvalidArgument, "--cfg"));
  EXPECT_THAT(Parse({"--steps"}), StatusIs(absl::StatusCode::kInvalidArgument, "missing value"));
}

TEST_F(FlagsTest, BadValues) {
  EXPECT_THAT(Parse({"--steps=12x"}), StatusIs(absl::StatusCode::kInvalidArgument, "--steps"));
  EXPECT_THAT(Parse({"--steps", "1.5"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "not an integer"));
  EXPECT_THAT(Parse({"--lr=fast"}), StatusIs(absl::StatusCode::kInvalidArgument, "--lr"));
  EXPECT_THAT(Parse({"--verbose=maybe"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--verbose"));
  EXPECT_THAT(Parse({"--steps=99999999999999999999"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--steps"));
}

TEST_F(FlagsTest, HelpPrintsUsageAndCancels) {
  ::testing::internal::CaptureStdout();
  absl::Status s = Parse({"--steps=3", "--help", "--bogus"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_EQ(out, flags_.Usage());
  EXPECT_EQ(FailWith("prog", s), 0);
}

TEST_F(FlagsTest, UsageShowsEveryFlagWithDefaultAndHelp) {
  const std::string usage = flags_.Usage();
  EXPECT_THAT(usage, HasSubstr("usage: prog --cfg FILE [options] [files...]"));
  EXPECT_THAT(usage, HasSubstr("--cfg (string, default \"run.pbtxt\")"));
  EXPECT_THAT(usage, HasSubstr("--steps (int, default 10)"));
  EXPECT_THAT(usage, HasSubstr("--lr (double, default 0.5)"));
  EXPECT_THAT(usage, HasSubstr("--verbose (bool, default false)"));
  EXPECT_THAT(usage, HasSubstr("--progress (bool, default true)"));
  EXPECT_THAT(usage, HasSubstr("--set (repeated string, default [])"));
  EXPECT_THAT(usage, HasSubstr("override path=value"));
  EXPECT_THAT(usage, HasSubstr("--help"));
}

TEST(FailWithTest, PrintsProgramAndMessage) {
  ::testing::internal::CaptureStderr();
  const int code = FailWith("dqt_worker", absl::InvalidArgumentError("unknown flag --x"));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 1);
  EXPECT_EQ(err, "dqt_worker: unknown flag --x\n");
  EXPECT_EQ(FailWith("dqt_worker", absl::OkStatus()), 0);
}

TEST(FlagsDeathTest, DuplicateDeclarationAborts) {
  std::string a, b;
  Flags flags("prog", "");
  flags.String("x", &a, "");
  EXPECT_DEATH(flags.String("x", &b, ""), "declared twice");
}

}  // namespace
}  // namespace dqt
