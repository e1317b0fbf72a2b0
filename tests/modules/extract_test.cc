// Mask learning mechanics on a tiny untrained model: both schedules keep the requested fraction
// of every masked tensor and leave the weights as they were; the sharing reward makes the
// modules overlap more (a smaller union) than without it; the score memory is in the ledger.
#include "core/modules/extract.h"

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/base/memory_ledger.h"
#include "gtest/gtest.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

LlamaConfig Config() {
  LlamaConfig c = testing::TinyModel();
  c.quant.optimizer = OptimizerKind::kDqt;
  c.quant.grid = QuantGrid::Integer(8);
  return c;
}

// Union size of three modules learned with `share` under `schedule`.
double UnionFraction(ModuleSchedule schedule, float share) {
  LlamaModel model(Config());
  EXPECT_TRUE(model.params().Init().ok());
  const std::string before = BaseWeightsId(model.params());
  ExtractConfig config;
  config.keep = 0.3;
  config.steps = 30;
  config.batch = 2;
  config.seq = 8;
  config.share = share;
  config.schedule = schedule;
  std::mt19937 rng(3);
  auto batches = [&](int module, int, int32_t* in, int32_t* tg) {
    for (int i = 0; i < 16; ++i) {
      in[i] = int32_t(rng() % 4 + 4 * module);
      tg[i] = int32_t(rng() % 4 + 4 * module);
    }
  };
  auto modules = ExtractModules(model, config, {"x", "y", "z"}, batches);
  EXPECT_TRUE(modules.ok()) << modules.status();
  if (!modules.ok()) return 0;
  EXPECT_EQ(BaseWeightsId(model.params()), before) << "the weights were not restored";
  for (const ModuleMasks& m : *modules) {
    EXPECT_EQ(m.base_id, before);
    EXPECT_NEAR(SizeOf(model.context(), m).fraction(), 0.3, 0.01);
  }
  auto u = UnionOf(model.context(), {&(*modules)[0], &(*modules)[1], &(*modules)[2]});
  EXPECT_TRUE(u.ok());
  return u.ok() ? SizeOf(model.context(), *u).fraction() : 0;
}

TEST(Extract, SharingRewardShrinksTheUnion) {
  for (ModuleSchedule schedule : {ModuleSchedule::kSequential, ModuleSchedule::kJoint}) {
    const double alone = UnionFraction(schedule, 0.0f);
    const double shared = UnionFraction(schedule, 50.0f);
    std::printf("union of three 0.3 modules: %.3f without sharing, %.3f with\n", alone, shared);
    EXPECT_GT(alone, 0.5);  // nearly independent masks: 1 - 0.7^3 = 0.657
    EXPECT_LT(shared, alone - 0.1);
  }
}

TEST(Extract, ScoresAreInTheLedger) {
  LlamaModel model(Config());
  ASSERT_TRUE(model.params().Init().ok());
  ExtractConfig config;
  config.steps = 1;
  config.batch = 1;
  config.seq = 4;
  int64_t peak_optimizer = 0;
  auto batches = [&](int, int, int32_t* in, int32_t* tg) {
    for (int i = 0; i < 4; ++i) in[i] = tg[i] = i;
    peak_optimizer = ReadMemoryLedger(Device::kCpu).Current(MemoryKind::kOptimizer);
  };
  ASSERT_TRUE(ExtractModules(model, config, {"x"}, batches).ok());
  int64_t masked = 0;
  for (const ParamTensor& t : model.params().tensors()) masked += IsMaskedTensor(t) ? t.numel : 0;
  EXPECT_GE(peak_optimizer, 4 * masked * 4);  // scores, m, v and the shared selection (f32)
}

}  // namespace
}  // namespace dqt
