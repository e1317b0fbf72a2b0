// main of every multi-rank test (tests/dist/*_mpi_test.cc): the MPI runtime around
// RUN_ALL_TESTS, rank 0 prints, other ranks print only their failures, one exit code for all.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/testing/mpi_world.h"

namespace dqt::testing {

MpiCommunicator* g_world = nullptr;
MpiCommunicator* g_world_in_pieces = nullptr;

namespace {

// Ranks other than 0 print only their failures, every line prefixed with the rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::string text =
        absl::StrFormat("%s:%d: Failure\n%s", result.file_name() ? result.file_name() : "?",
                        result.line_number(), result.message());
    Print(text);
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed())
      Print(absl::StrCat("FAILED ", info.test_suite_name(), ".", info.name()));
  }

 private:
  void Print(const std::string& text) const {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      std::printf("[rank %d] %.*s\n", rank_, static_cast<int>(line.size()), line.data());
    }
    std::fflush(stdout);
  }

  int rank_;
};

}  // namespace
}  // namespace dqt::testing

int main(int argc, char** argv) {
  absl::StatusOr<std::unique_ptr<dqt::MpiRuntime>> runtime = dqt::MpiRuntime::Init(&argc, &argv);
  if (!runtime.ok()) {
    std::fprintf(stderr, "MPI init failed: %s\n", runtime.status().ToString().c_str());
    return 1;
  }
  int exit_code = 1;
  {  // Communicators end before the runtime finalizes MPI.
    absl::StatusOr<std::unique_ptr<dqt::MpiCommunicator>> world = (*runtime)->World();
    absl::StatusOr<std::unique_ptr<dqt::MpiCommunicator>> in_pieces =
        (*runtime)->World({.max_count_per_call = 100000});
    if (!world.ok() || !in_pieces.ok()) {
      std::fprintf(stderr, "MPI world: %s %s\n", world.status().ToString().c_str(),
                   in_pieces.status().ToString().c_str());
      return 1;
    }
    dqt::testing::g_world = world->get();
    dqt::testing::g_world_in_pieces = in_pieces->get();
    const int rank = dqt::testing::g_world->rank();
    ::testing::InitGoogleTest(&argc, argv);
    if (rank != 0) {
      ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new dqt::testing::RankFailurePrinter(rank));
    }
    const int local = RUN_ALL_TESTS();
    // A failure on any rank fails every rank.
    double failed = local != 0 ? 1.0 : 0.0;
    const absl::Status status = dqt::testing::g_world->AllReduce(&failed, 1, dqt::ReduceOp::kMax);
    if (!status.ok()) std::fprintf(stderr, "[rank %d] %s\n", rank, status.ToString().c_str());
    if (rank == 0 && local == 0 && failed != 0)
      std::printf("FAILED on another rank (lines prefixed [rank N])\n");
    exit_code = status.ok() && failed == 0 ? 0 : 1;
    dqt::testing::g_world = dqt::testing::g_world_in_pieces = nullptr;
  }
  return exit_code;
}
