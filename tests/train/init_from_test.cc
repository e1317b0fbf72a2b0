// checkpoint.init_from: a new run (step 0, fresh optimizer, data from the start) whose weights are
// a checkpoint's, taken as they are (fp32), as latents (BitNet, TernaryLLM) or put on the grid
// with the absmean scale rule (DQT); a checkpoint of another shape, or init_from with resume, is
// refused naming the field. TernaryLLM from the fp base with the OFF teacher (its memory in the
// ledger), and its bad inputs, each naming the field.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "core/train/checkpoint.h"
#include "core/train/trainer.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_run.h"

namespace dqt {
namespace {

using testing::IsOk;
using testing::MakeTextShard;
using testing::StatusIs;

absl::StatusOr<proto::RunProto> RunProtoOf(const std::vector<std::string>& extra,
                                           const std::string& dir, int steps) {
  const std::string train = MakeTextShard("gutenberg_train.txt", 80000, "i_train.bin");
  const std::string eval = MakeTextShard("gutenberg_heldout.txt", 8000, "i_eval.bin");
  std::vector<std::string> overrides = {
      "data.train_shard=" + train, "data.eval_shard=" + eval,
      "optimizer.lr=1e-2",         "train.steps=" + std::to_string(steps),
      "train.eval_every=0",        "train.eval_sequences=4",
      "checkpoint.dir=" + dir,     "log.jsonl_path=" + dir + "/log.jsonl"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return testing::TinyRunProto(overrides);
}

absl::StatusOr<std::unique_ptr<Trainer>> MakeTrainer(const std::vector<std::string>& extra,
                                                     const std::string& dir, int steps = 3) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<proto::RunProto> run = RunProtoOf(extra, dir, steps);
  if (!run.ok()) return run.status();
  DQT_RETURN_IF_ERROR(ValidateRunProto(*run));
  return Trainer::Create(ToRunConfig(*run));
}

// The fp base: trained 3 steps, checkpointed at dir/step_000003.
std::string FpBase() {
  static const std::string path = [] {
    const std::string dir = ::testing::TempDir() + "/init_from_base";
    absl::StatusOr<std::unique_ptr<Trainer>> base = MakeTrainer({}, dir);
    EXPECT_THAT(base, IsOk());
    EXPECT_THAT((*base)->Run(), IsOk());
    return dir + "/step_000003";
  }();
  return path;
}

// The base checkpoint's fp32 weights, tensor by tensor (by name).
std::map<std::string, std::vector<float>> BaseWeights() {
  absl::StatusOr<CheckpointInfo> info = ReadCheckpointInfo(FpBase());
  EXPECT_THAT(info, IsOk());
  LlamaParams base(info->config);
  EXPECT_THAT(RestoreCheckpoint(FpBase(), base, nullptr), IsOk());
  std::map<std::string, std::vector<float>> out;
  for (const ParamTensor& t : base.tensors()) {
    const float* v = base.values().data() + t.value_offset;
    out[t.name].assign(v, v + t.numel);
  }
  return out;
}

TEST(InitFrom, FpRunStartsAtStepZeroFromTheWeights) {
  const std::string base = FpBase();
  absl::StatusOr<std::unique_ptr<Trainer>> run =
      MakeTrainer({"checkpoint.init_from=" + base}, ::testing::TempDir() + "/init_from_fp");
  ASSERT_THAT(run, IsOk());
  const std::map<std::string, std::vector<float>> want = BaseWeights();
  const LlamaParams& p = (*run)->model().params();
  for (const ParamTensor& t : p.tensors()) {
    const float* v = p.values().data() + t.value_offset;
    EXPECT_EQ(std::vector<float>(v, v + t.numel), want.at(t.name)) << t.name;
  }
  ASSERT_THAT((*run)->Run(), IsOk());
  EXPECT_EQ((*run)->step_losses().size(), 3u);  // a new run: steps 0..2, not a resume
}

TEST(InitFrom, BitNetLatentsAreTheWeights) {
  absl::StatusOr<std::unique_ptr<Trainer>> run = MakeTrainer(
      {"quant.optimizer=BITNET", "quant.weight_format=TERNARY", "checkpoint.init_from=" + FpBase()},
      ::testing::TempDir() + "/init_from_bitnet");
  ASSERT_THAT(run, IsOk());
  const std::map<std::string, std::vector<float>> want = BaseWeights();
  const LlamaParams& p = (*run)->model().params();
  for (const ParamTensor& t : p.tensors()) {
    const float* v = p.values().data() + t.value_offset;
    EXPECT_EQ(std::vector<float>(v, v + t.numel), want.at(t.name)) << t.name;
  }
}

TEST(InitFrom, DqtPutsTheWeightsOnTheGridWithTheAbsMeanScale) {
  absl::StatusOr<std::unique_ptr<Trainer>> run =
      MakeTrainer({"quant.optimizer=DQT", "quant.weight_format=INTEGER", "quant.weight_bits=4",
                   "checkpoint.init_from=" + FpBase()},
                  ::testing::TempDir() + "/init_from_dqt");
  ASSERT_THAT(run, IsOk());
  const std::map<std::string, std::vector<float>> want = BaseWeights();
  const LlamaParams& p = (*run)->model().params();
  int coded = 0;
  for (const ParamTensor& t : p.tensors()) {
    if (t.storage != ParamStorage::kCodes) continue;
    ++coded;
    const std::vector<float>& w = want.at(t.name);
    double sum = 0;
    for (float x : w) sum += std::fabs(x);
    const float scale = static_cast<float>(7.0 / (sum / w.size()));  // Qp / mean|W| (4 bits)
    EXPECT_NEAR(p.scale(t), scale, 1e-5 * scale) << t.name;
    const int8_t* codes = p.codes().data() + t.code_offset;
    for (int64_t i = 0; i < t.numel; ++i) {
      const float q = std::clamp(std::nearbyint(w[i] * p.scale(t)), -8.0f, 7.0f);
      ASSERT_EQ(codes[i], static_cast<int8_t>(q)) << t.name << " " << i;
    }
  }
  EXPECT_GT(coded, 0);
}

TEST(InitFrom, TernaryLlmWithOffStartsFromTheLatentsAndCountsTheTeacher) {
  const std::string dir = ::testing::TempDir() + "/init_from_tllm";
  absl::StatusOr<std::unique_ptr<Trainer>> run = MakeTrainer(
      {"quant.optimizer=TERNARYLLM", "quant.weight_format=TERNARY", "quant.dlt_group=16",
       "checkpoint.init_from=" + FpBase(), "distill.off_lambda=2", "distill.off_layers=0,1"},
      dir);
  ASSERT_THAT(run, IsOk());
  const std::map<std::string, std::vector<float>> want = BaseWeights();
  const LlamaParams& p = (*run)->model().params();
  int dlt = 0;
  for (const ParamTensor& t : p.tensors()) {
    if (t.kind == ParamKind::kDltScale) continue;
    const float* v = p.values().data() + t.value_offset;
    EXPECT_EQ(std::vector<float>(v, v + t.numel), want.at(t.name)) << t.name;
    if (t.storage != ParamStorage::kDltLatent) continue;
    ++dlt;
    // alpha of group 0: mean |w| over its elements above 0.7 mean |w|; gamma 0.
    double sum = 0, above = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < 16; ++i) sum += std::fabs(v[i]);
    for (int64_t i = 0; i < 16; ++i) {
      if (std::fabs(v[i]) > 0.7 * sum / 16) above += std::fabs(v[i]), ++n;
    }
    EXPECT_NEAR(p.values()[p.dlt_alpha(t).value_offset], above / n, 1e-6) << t.name;
    EXPECT_EQ(p.values()[p.dlt_gamma(t).value_offset], 0.0f) << t.name;
    EXPECT_EQ(p.dlt_alpha(t).numel, t.numel / 16) << t.name;
  }
  EXPECT_EQ(dlt, 2 * 7);
  ASSERT_THAT((*run)->Run(), IsOk());
  std::ifstream log(dir + "/log.jsonl");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"event\":\"teacher\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"off_loss\":"), std::string::npos) << text;
  // The teacher: an fp32 copy of the weights at least (4 bytes per parameter of the base).
  const size_t at = text.find("\"teacher\":", text.find("\"bytes\":"));
  ASSERT_NE(at, std::string::npos) << text;
  const double teacher_bytes = std::stod(text.substr(at + 10));
  int64_t base_params = 0;
  for (const auto& [name, w] : want) base_params += static_cast<int64_t>(w.size());
  EXPECT_GE(teacher_bytes, 4.0 * base_params);
}

// Logit distillation alone: the teacher runs its head too (its (tokens, vocab) fp32 logits count
// as the teacher's memory), the step logs kd_loss (> 0: a ternary student is not its fp teacher)
// and no off_loss.
TEST(InitFrom, TernaryLlmWithLogitDistillationLogsKdLossAndCountsTheTeacherLogits) {
  const std::string dir = ::testing::TempDir() + "/init_from_tllm_kd";
  absl::StatusOr<std::unique_ptr<Trainer>> run = MakeTrainer(
      {"quant.optimizer=TERNARYLLM", "quant.weight_format=TERNARY", "quant.dlt_group=16",
       "checkpoint.init_from=" + FpBase(), "distill.logit_lambda=0.5"},
      dir);
  ASSERT_THAT(run, IsOk());
  ASSERT_THAT((*run)->Run(), IsOk());
  std::ifstream log(dir + "/log.jsonl");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"logit_lambda\":0.5"), std::string::npos) << text;
  EXPECT_EQ(text.find("\"off_loss\":"), std::string::npos) << text;
  const size_t kd = text.find("\"kd_loss\":");
  ASSERT_NE(kd, std::string::npos) << text;
  const double kd_loss = std::stod(text.substr(kd + 10));
  EXPECT_GT(kd_loss, 0.0);
  EXPECT_TRUE(std::isfinite(kd_loss));
  const size_t at = text.find("\"teacher\":", text.find("\"bytes\":"));
  ASSERT_NE(at, std::string::npos) << text;
  const double teacher_bytes = std::stod(text.substr(at + 10));
  int64_t base_params = 0;
  for (const auto& [name, w] : BaseWeights()) base_params += static_cast<int64_t>(w.size());
  const RunConfig c = ToRunConfig(*RunProtoOf({}, dir, 3));
  const double logits_bytes =
      4.0 * c.train.micro_batch * c.train.seq_len * static_cast<double>(c.model.vocab_size);
  EXPECT_GE(teacher_bytes, 4.0 * base_params + logits_bytes);
}

TEST(InitFrom, TernaryLlmBadInputsNameTheField) {
  const std::vector<std::string> tllm = {"quant.optimizer=TERNARYLLM",
                                         "quant.weight_format=TERNARY"};
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"distill.off_lambda=-1", "distill.off_layers=0"}, "distill.off_lambda"},
      {{"distill.off_lambda=1", "distill.off_layers=0,2", "checkpoint.init_from=x"},
       "distill.off_layers"},
      {{"distill.off_lambda=1", "distill.off_layers=0"}, "distill.teacher"},
      {{"distill.logit_lambda=-0.5", "checkpoint.init_from=x"}, "distill.logit_lambda"},
      {{"distill.logit_lambda=nan", "checkpoint.init_from=x"}, "distill.logit_lambda"},
      {{"distill.logit_lambda=0.5"}, "distill.teacher"},
      {{"distill.logit_lambda=0.5", "distill.teacher=x", "parallel.tp=2"}, "distill.logit_lambda"},
      {{"quant.dlt_group=5"}, "quant.dlt_group"},
      {{"train.fused_update=true", "optimizer.grad_clip=0"}, "train.fused_update"},
  };
  for (const auto& [extra, field] : cases) {
    std::vector<std::string> overrides = tllm;
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    absl::StatusOr<proto::RunProto> run = RunProtoOf(overrides, "/tmp/unused", 3);
    ASSERT_THAT(run, IsOk());
    EXPECT_THAT(ValidateRunProto(*run), StatusIs(absl::StatusCode::kInvalidArgument, field));
  }
  // A teacher that is not a checkpoint: refused at start naming the field.
  EXPECT_THAT(MakeTrainer({"distill.off_lambda=1", "distill.off_layers=1",
                           "distill.teacher=" + FpBase() + "_missing"},
                          ::testing::TempDir() + "/init_from_no_teacher"),
              StatusIs(absl::StatusCode::kNotFound, "distill.teacher"));
}

TEST(InitFrom, AnotherShapeIsRefusedNamingTheField) {
  EXPECT_THAT(MakeTrainer({"model.d_model=64", "checkpoint.init_from=" + FpBase()},
                          ::testing::TempDir() + "/init_from_shape"),
              StatusIs(absl::StatusCode::kInvalidArgument, "checkpoint.init_from"));
  EXPECT_THAT(MakeTrainer({"checkpoint.init_from=" + FpBase() + "_missing"},
                          ::testing::TempDir() + "/init_from_missing"),
              StatusIs(absl::StatusCode::kNotFound, "checkpoint.init_from"));
}

TEST(InitFrom, ExcludesResume) {
  absl::StatusOr<proto::RunProto> run = RunProtoOf(
      {"checkpoint.init_from=" + FpBase(), "checkpoint.resume=" + FpBase()}, "/tmp/unused", 3);
  ASSERT_THAT(run, IsOk());
  EXPECT_THAT(ValidateRunProto(*run),
              StatusIs(absl::StatusCode::kInvalidArgument, "checkpoint.init_from"));
}

}  // namespace
}  // namespace dqt
