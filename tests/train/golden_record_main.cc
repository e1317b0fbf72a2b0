// Prints the per-step losses (17 significant digits, one per line) of the tiny config trained on
// the test shards, for one golden run: `golden_record MODE` (see golden_runs.h). The golden files
// beside this file are written from it by tests/train/regen_golden.sh; golden_test only compares.
#include <cstdio>
#include <string>

#include "core/train/trainer.h"
#include "launch/config.h"
#include "tests/train/golden_runs.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(
        stderr,
        "usage: golden_record fp|dqt8|ternary_all|bitnet   (DQT_DATA_DIR, DQT_SOURCE_DIR set)\n");
    return 2;
  }
  absl::StatusOr<std::vector<double>> losses = dqt::testing::GoldenLosses(argv[1], "/tmp");
  if (!losses.ok()) {
    std::fprintf(stderr, "golden_record: %s\n", std::string(losses.status().message()).c_str());
    return 1;
  }
  for (double l : *losses) std::printf("%.17g\n", l);
  return 0;
}
