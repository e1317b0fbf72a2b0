// The tiny config's trainer for multi-rank tests (tests/dist/*_mpi_test.cc).
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/mpi_world.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_run.h"

namespace dqt::testing {

// A trainer over `comm` (null: one process) of launch/configs/tiny.pbtxt on this rank's own
// small shards, with 20 steps at lr 1e-2, no evaluation before the end, digests every 5 steps,
// gradients reduced in 1 MiB buckets, then `overrides`; run to the end when `run`. Files are named
// by `prefix`, the world size and the rank, so the np 2 and np 4 runs of a test may run at once.
// Null (after a test failure) on error.
inline std::unique_ptr<Trainer> TinyMpiTrainer(const std::string& prefix,
                                               const std::vector<std::string>& overrides,
                                               Communicator* comm, bool run = true) {
  const std::string tag = std::to_string(g_world->size()) + "_" + std::to_string(g_world->rank());
  const std::string train =
      MakeTextShard("gutenberg_train.txt", 60000, prefix + "_train_" + tag + ".bin");
  const std::string eval =
      MakeTextShard("gutenberg_heldout.txt", 8000, prefix + "_eval_" + tag + ".bin");
  std::vector<std::string> all = {
      "data.train_shard=" + train,
      "data.eval_shard=" + eval,
      "optimizer.lr=1e-2",
      "train.steps=20",
      "train.eval_every=0",
      "train.eval_sequences=4",
      "train.log_every=20",
      "log.jsonl_path=" + ::testing::TempDir() + "/" + prefix + "_log_" + tag + ".jsonl",
      "parallel.digest_every=5",
      "parallel.bucket_mb=1"};  // the tiny model's 3.2M gradients go in several buckets
  all.insert(all.end(), overrides.begin(), overrides.end());
  absl::StatusOr<proto::RunProto> proto = TinyRunProto(all);
  EXPECT_THAT(proto, IsOk());
  if (!proto.ok()) return nullptr;
  EXPECT_THAT(ValidateRunProto(*proto), IsOk());
  absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(ToRunConfig(*proto), comm);
  EXPECT_THAT(t, IsOk());
  if (!t.ok()) return nullptr;
  if (run) {
    EXPECT_THAT((*t)->Run(), IsOk());
  }
  return std::move(*t);
}

}  // namespace dqt::testing
