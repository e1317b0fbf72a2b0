// Replicated data parallelism under mpirun (np 2 and 4): after 20 DQT steps every replica holds
// bitwise-identical codes (checked by the trainer every 5 steps and here at the end), averaged
// gradients are the same bits on every rank, and a divergence is reported by rank and tensor.
#include <string>
#include <vector>

#include "core/train/data_parallel.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/mpi_world.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tiny_model.h"
#include "tests/testing/tiny_mpi_trainer.h"

namespace dqt {
namespace {

using testing::g_world;
using testing::IsOk;
using testing::StatusIs;
using testing::TinyMpiTrainer;

std::unique_ptr<Trainer> TrainReplicated(const std::vector<std::string>& quant,
                                         Communicator* comm = g_world) {
  std::vector<std::string> overrides = {"parallel.dp=" +
                                        std::to_string(comm != nullptr ? comm->size() : 1)};
  overrides.insert(overrides.end(), quant.begin(), quant.end());
  return TinyMpiTrainer("dp", overrides, comm);
}

class ReplicatedTest : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(ReplicatedTest, CodesBitwiseIdenticalAfterTwentySteps) {
  std::unique_ptr<Trainer> t = TrainReplicated(GetParam());
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(CheckReplicaDigests(*g_world, t->model().params(), 20), IsOk());
  // The ranks read different data, so they agree only because gradients were averaged.
  EXPECT_EQ(t->step_losses().size(), 20u);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, ReplicatedTest,
    ::testing::Values(std::vector<std::string>{"quant.optimizer=DQT", "quant.weight_format=INTEGER",
                                               "quant.weight_bits=8"},
                      std::vector<std::string>{"quant.optimizer=DQT",
                                               "quant.weight_format=TERNARY"}));

// DP = world with micro-batches of 8 / world sequences reads the same windows per step as one
// process with micro-batches of 8 (rank r takes the permuted windows r, r + world, ...), so the
// loss curves agree up to float summation order: the gradient average and the per-rank sums
// reorder fp32 additions (~1e-7 relative per op), which 20 steps of AdamW amplify to ~1e-5;
// 1e-3 relative leaves room while a wrong batch split or missing average is off by > 1e-2.
TEST(DataParallel, LossCurveMatchesOneProcessWithTheSameGlobalBatch) {
  const int world = g_world->size();
  std::unique_ptr<Trainer> dp =
      TrainReplicated({"train.micro_batch=" + std::to_string(8 / world)}, g_world);
  std::unique_ptr<Trainer> one = TrainReplicated({"train.micro_batch=8"}, nullptr);
  ASSERT_NE(dp, nullptr);
  ASSERT_NE(one, nullptr);
  ASSERT_EQ(dp->step_losses().size(), one->step_losses().size());
  for (size_t i = 0; i < dp->step_losses().size(); ++i) {
    EXPECT_NEAR(dp->step_losses()[i], one->step_losses()[i], 1e-3 * one->step_losses()[i])
        << "step " << i;
  }
}

TEST(DataParallel, AveragedGradientsAreTheSameBitsOnEveryRank) {
  const int rank = g_world->rank(), world = g_world->size();
  const size_t n = 1001;  // not a multiple of the rank count
  std::vector<float> grads(n);
  for (size_t i = 0; i < n; ++i) grads[i] = 0.1f * (rank + 1) + 1e-3f * i;
  Buffer<float> scratch;
  ASSERT_THAT(AverageGradients(*g_world, grads.data(), n, scratch), IsOk());
  std::vector<float> all(n * world);
  ASSERT_THAT(g_world->AllGather(grads.data(), all.data(), n * sizeof(float)), IsOk());
  for (int r = 1; r < world; ++r) {
    ASSERT_EQ(0, std::memcmp(all.data(), all.data() + r * n, n * sizeof(float))) << "rank " << r;
  }
  // mean over ranks of 0.1 (r + 1) = 0.05 (world + 1).
  EXPECT_NEAR(grads[0], 0.05f * (world + 1), 1e-6f);
  // In buckets of 100 (the last one short): the same mean everywhere, the same bits on all ranks.
  std::vector<float> bucketed(n);
  for (size_t i = 0; i < n; ++i) bucketed[i] = 0.1f * (rank + 1) + 1e-3f * i;
  Buffer<float> bucket_scratch;
  ASSERT_THAT(AverageGradients(*g_world, bucketed.data(), n, bucket_scratch, 100), IsOk());
  EXPECT_LE(bucket_scratch.size(), 50u);  // one rank's chunk of one bucket
  ASSERT_THAT(g_world->AllGather(bucketed.data(), all.data(), n * sizeof(float)), IsOk());
  for (int r = 1; r < world; ++r) {
    ASSERT_EQ(0, std::memcmp(all.data(), all.data() + r * n, n * sizeof(float))) << "rank " << r;
  }
  for (size_t i = 0; i < n; ++i) ASSERT_NEAR(bucketed[i], grads[i], 1e-6f) << i;
}

TEST(DataParallel, DivergenceNamesRankAndTensor) {
  LlamaConfig c = testing::TinyModel(
      {.d_model = 8, .layers = 1, .heads = 2, .kv_heads = 2, .ffn = 8, .context = 4});
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = QuantGrid::Integer(4);
  LlamaParams params(c);
  ASSERT_THAT(params.Init(), IsOk());
  EXPECT_THAT(CheckReplicaDigests(*g_world, params, 1), IsOk());
  const ParamTensor& wq = params.tensors()[2];
  if (g_world->rank() == 1) params.codes()[wq.code_offset] ^= 1;
  EXPECT_THAT(CheckReplicaDigests(*g_world, params, 7),
              StatusIs(absl::StatusCode::kInternal,
                       "replica divergence at step 7: rank 1 differs from rank 0 (data-parallel "
                       "group) in 1 tensor(s): "
                       "model.layers.0.self_attn.q_proj.weight"));
}

// Every state that must agree across replicas is digested, not only codes and fp32 values: a
// scale, a BitNet latent weight or (replicated mode) an optimizer moment that differs on one rank
// is reported.
TEST(DataParallel, DivergentScaleLatentOrMomentIsReported) {
  LlamaConfig c = testing::TinyModel(
      {.d_model = 8, .layers = 1, .heads = 2, .kv_heads = 2, .ffn = 8, .context = 4});
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = QuantGrid::Integer(4);
  const std::string wq_name = "model.layers.0.self_attn.q_proj.weight";
  const std::string one_tensor =
      "rank 1 differs from rank 0 (data-parallel group) in 1 tensor(s): ";
  {
    LlamaParams params(c);
    ASSERT_THAT(params.Init(), IsOk());
    const ParamTensor& wq = params.tensors()[2];
    ASSERT_EQ(wq.name, wq_name);
    if (g_world->rank() == 1) params.set_scale(wq, 0, params.scale(wq) * 1.5f);
    EXPECT_THAT(CheckReplicaDigests(*g_world, params, 3),
                StatusIs(absl::StatusCode::kInternal, one_tensor + wq_name));
  }
  {
    LlamaConfig b = c;
    b.quant.optimizer = OptimizerKind::kBitNet;
    b.quant.grid = QuantGrid::Ternary();
    LlamaParams params(b);
    ASSERT_THAT(params.Init(), IsOk());
    const ParamTensor& wq = params.tensors()[2];
    ASSERT_EQ(wq.storage, ParamStorage::kLatentTernary);
    // A change too small to move the ternarized weight: only the latent differs.
    if (g_world->rank() == 1) params.values()[wq.value_offset] += 1e-7f;
    EXPECT_THAT(CheckReplicaDigests(*g_world, params, 4),
                StatusIs(absl::StatusCode::kInternal, one_tensor + wq_name));
  }
  {
    LlamaParams params(c);
    ASSERT_THAT(params.Init(), IsOk());
    for (int64_t i = 0; i < params.numel(); ++i) params.grads()[i] = 1e-3f * ((i % 5) - 2);
    AdamW opt(AdamWConfig{}, params);
    ASSERT_THAT(opt.Step(params, 0, 1e-3f, 0.0f, AdamW::GradNorm(params)).status(), IsOk());
    EXPECT_THAT(CheckReplicaDigests(*g_world, params, 5, "data-parallel", false, -1, &opt), IsOk());
    if (g_world->rank() == 1) static_cast<float*>(opt.moments(2).view().v)[0] += 1.0f;
    EXPECT_THAT(CheckReplicaDigests(*g_world, params, 5, "data-parallel", false, -1, &opt),
                StatusIs(absl::StatusCode::kInternal, one_tensor + "moments of " + wq_name));
    // Without the optimizer (sharded mode, where moments differ by design) they are not compared.
    EXPECT_THAT(CheckReplicaDigests(*g_world, params, 5), IsOk());
  }
}

}  // namespace
}  // namespace dqt
