// Tests of run-config loading, overrides, validation and conversion (launch/config.h).
#include "launch/config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dqt {
namespace {

using ::dqt::proto::RunProto;
using ::dqt::testing::IsOk;
using ::dqt::testing::StatusIs;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

std::string SourceDir() {
  const char* dir = std::getenv("DQT_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// Writes `text` to a fresh file under the test's temporary directory and returns its path.
std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The defaults plus the two fields that have none: a config that validates.
RunProto Valid() {
  RunProto run = DefaultRunProto();
  run.mutable_data()->set_train_shard("train.bin");
  run.mutable_data()->set_eval_shard("eval.bin");
  return run;
}

// Valid() with `overrides` applied, validated.
absl::Status ValidateWith(const std::vector<std::string>& overrides) {
  RunProto run = Valid();
  for (const std::string& o : overrides) {
    const absl::Status s = ApplyOverride(o, &run);
    if (!s.ok()) return s;
  }
  return ValidateRunProto(run);
}

TEST(ConfigFilesTest, EveryShippedConfigValidates) {
  const std::filesystem::path dir = SourceDir() + "/launch/configs";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".pbtxt") continue;
    SCOPED_TRACE(entry.path().string());
    absl::StatusOr<RunProto> run = LoadRunProto(entry.path().string(), {});
    ASSERT_THAT(run, IsOk());
    EXPECT_THAT(ValidateRunProto(*run), IsOk());
    ++count;
  }
  EXPECT_GE(count, 2) << "no configs found in " << dir;
}

// The quickstart's numbers are tuned (README); what must hold is what the script relies on.
TEST(ConfigFilesTest, QuickstartFitsWhatTheScriptProvides) {
  absl::StatusOr<RunProto> run = LoadRunProto(SourceDir() + "/launch/configs/quickstart.pbtxt", {});
  ASSERT_THAT(run, IsOk());
  ASSERT_THAT(ValidateRunProto(*run), IsOk());
  const RunConfig c = ToRunConfig(*run);
  EXPECT_EQ(c.model.vocab_size, 50257);  // the GPT-2 tokenizer dqt_prepare uses
  EXPECT_EQ(c.model.quant.optimizer, OptimizerKind::kFp);
  EXPECT_EQ(c.schedule.total_steps, c.train.steps);
  EXPECT_EQ(c.data.train_shard, "data_cache/gutenberg_train.bin");
  EXPECT_EQ(c.data.eval_shard, "data_cache/gutenberg_heldout.bin");
  EXPECT_EQ(c.checkpoint.dir, "runs/quickstart");
}

TEST(ConfigFilesTest, TinyUsesGqaAndAccumulation) {
  absl::StatusOr<RunProto> run = LoadRunProto(SourceDir() + "/launch/configs/tiny.pbtxt", {});
  ASSERT_THAT(run, IsOk());
  const RunConfig c = ToRunConfig(*run);
  EXPECT_EQ(c.model.d_model, 32);
  EXPECT_EQ(c.model.n_layers, 2);
  EXPECT_EQ(c.model.n_heads, 4);
  EXPECT_EQ(c.model.n_kv_heads, 2);
  EXPECT_EQ(c.model.ffn_dim, 64);
  EXPECT_EQ(c.model.context, 16);
  EXPECT_EQ(c.train.seq_len, 16);
  EXPECT_EQ(c.train.micro_batch, 4);
  EXPECT_EQ(c.train.grad_accum, 2);
  EXPECT_EQ(c.train.steps, 10);
}

TEST(DefaultsTest, DefaultsComeFromThePlainStructs) {
  const RunConfig from_proto = ToRunConfig(DefaultRunProto());
  const RunConfig plain;
  EXPECT_EQ(from_proto.model.d_model, plain.model.d_model);
  EXPECT_EQ(from_proto.model.seed, plain.model.seed);
  EXPECT_FLOAT_EQ(from_proto.model.norm_eps, plain.model.norm_eps);
  EXPECT_FLOAT_EQ(from_proto.schedule.peak_lr, plain.schedule.peak_lr);
  EXPECT_EQ(from_proto.schedule.warmup_steps, plain.schedule.warmup_steps);
  EXPECT_FLOAT_EQ(from_proto.adamw.eps, plain.adamw.eps);
  EXPECT_EQ(from_proto.train.micro_batch, plain.train.micro_batch);
  EXPECT_EQ(from_proto.train.progress, plain.train.progress);
  EXPECT_EQ(from_proto.checkpoint.every, plain.checkpoint.every);
  EXPECT_EQ(from_proto.data.seed, plain.data.seed);
}

TEST(DefaultsTest, UnsetFieldsGetDefaultsAndExplicitZerosStay) {
  const std::string path = WriteFile("partial.pbtxt", R"pb(
    data { train_shard: "a.bin" eval_shard: "b.bin" }
    optimizer { weight_decay: 0 grad_clip: 0 }
    train { progress: false }
  )pb");
  absl::StatusOr<RunProto> run = LoadRunProto(path, {});
  ASSERT_THAT(run, IsOk());
  EXPECT_THAT(ValidateRunProto(*run), IsOk());
  const RunProto defaults = DefaultRunProto();
  EXPECT_TRUE(MessageDifferencer::Equals(run->model(), defaults.model()));
  EXPECT_TRUE(MessageDifferencer::Equals(run->quant(), defaults.quant()));
  EXPECT_EQ(run->optimizer().lr(), defaults.optimizer().lr());
  EXPECT_EQ(run->optimizer().weight_decay(), 0.0f);
  EXPECT_EQ(run->optimizer().grad_clip(), 0.0f);
  EXPECT_FALSE(run->train().progress());
  EXPECT_EQ(run->train().steps(), defaults.train().steps());
}

TEST(LoadTest, TextRoundTrips) {
  absl::StatusOr<RunProto> run =
      LoadRunProto(SourceDir() + "/launch/configs/tiny.pbtxt", {"optimizer.stage2_start=0.5"});
  ASSERT_THAT(run, IsOk());
  const std::string path = WriteFile("roundtrip.pbtxt", RunProtoToText(*run));
  absl::StatusOr<RunProto> again = LoadRunProto(path, {});
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(MessageDifferencer::Equals(*run, *again)) << RunProtoToText(*again);
}

TEST(LoadTest, MissingFile) {
  EXPECT_THAT(LoadRunProto("/nonexistent/run.pbtxt", {}),
              StatusIs(absl::StatusCode::kNotFound, "/nonexistent/run.pbtxt"));
}

// --cfg naming a directory: an ifstream opens it and reads nothing, which used to load as an
// empty config (every default) and start a run nobody configured.
TEST(ConfigAdversarial, DirectoryIsRefusedNotReadAsEmpty) {
  const std::string dir = ::testing::TempDir() + "/config_dir.pbtxt";
  std::filesystem::create_directories(dir);
  EXPECT_THAT(LoadRunProto(dir, {}), StatusIs(kInvalid, "config file " + dir + " is a directory"));
  EXPECT_THAT(LoadRunProto(dir + "/", {"train.steps=3"}), StatusIs(kInvalid, "is a directory"));
}

TEST(ConfigAdversarial, BinaryTextIsAParseErrorNotACrash) {
  const std::string path = WriteFile("binary.pbtxt", std::string("model {\0\xff\xfe}", 11));
  EXPECT_THAT(LoadRunProto(path, {}), StatusIs(kInvalid, path + ":1:"));
}

TEST(LoadTest, MalformedTextReportsLineAndColumn) {
  const std::string path =
      WriteFile("malformed.pbtxt", "model {\n  d_model: 32\n  n_layers: = 2\n}\n");
  absl::StatusOr<RunProto> run = LoadRunProto(path, {});
  EXPECT_THAT(run, StatusIs(kInvalid, path + ":3:13: "));
}

TEST(LoadTest, UnclosedMessage) {
  const std::string path = WriteFile("unclosed.pbtxt", "model {\n  d_model: 32\n");
  EXPECT_THAT(LoadRunProto(path, {}), StatusIs(kInvalid, path + ":3:1: "));
}

TEST(LoadTest, UnknownFieldIsAnError) {
  const std::string path = WriteFile("unknown.pbtxt", "model {\n  n_layer: 2\n}\n");
  absl::StatusOr<RunProto> run = LoadRunProto(path, {});
  EXPECT_THAT(run, StatusIs(kInvalid, path + ":2:"));
  EXPECT_THAT(run, StatusIs(kInvalid, "n_layer"));
}

TEST(LoadTest, FieldGivenTwiceIsAnError) {
  const std::string path = WriteFile("twice.pbtxt", "train { steps: 1 steps: 2 }\n");
  EXPECT_THAT(LoadRunProto(path, {}), StatusIs(kInvalid, "steps"));
}

TEST(OverrideTest, NumbersEnumsBoolsStrings) {
  absl::StatusOr<RunProto> run =
      LoadRunProto(SourceDir() + "/launch/configs/tiny.pbtxt",
                   {"optimizer.lr=3e-4", "model.n_layers=3", "optimizer.schedule=WARMUP_LINEAR",
                    "train.progress=true", "model.subln=1", "checkpoint.dir=runs/x",
                    "model.seed=18446744073709551615", "parallel.dp_mode=sharded"});
  ASSERT_THAT(run, IsOk());
  EXPECT_FLOAT_EQ(run->optimizer().lr(), 3e-4f);
  EXPECT_EQ(run->model().n_layers(), 3);
  EXPECT_EQ(run->optimizer().schedule(), proto::OptimizerProto::WARMUP_LINEAR);
  EXPECT_TRUE(run->train().progress());
  EXPECT_TRUE(run->model().subln());
  EXPECT_EQ(run->checkpoint().dir(), "runs/x");
  EXPECT_EQ(run->model().seed(), 18446744073709551615ull);
  EXPECT_EQ(run->parallel().dp_mode(), proto::ParallelProto::SHARDED);
  EXPECT_EQ(ToRunConfig(*run).schedule.kind, ScheduleKind::kWarmupLinear);
}

TEST(OverrideTest, LaterOverridesWinAndLowerCaseEnums) {
  RunProto run = Valid();
  ASSERT_THAT(ApplyOverride("optimizer.schedule=warmup_linear", &run), IsOk());
  ASSERT_THAT(ApplyOverride("optimizer.schedule=warmup_cosine", &run), IsOk());
  EXPECT_EQ(run.optimizer().schedule(), proto::OptimizerProto::WARMUP_COSINE);
  ASSERT_THAT(ApplyOverride("train.progress=false", &run), IsOk());
  EXPECT_FALSE(run.train().progress());
  ASSERT_THAT(ApplyOverride("checkpoint.dir=\"a b\"", &run), IsOk());
  EXPECT_EQ(run.checkpoint().dir(), "a b");
  ASSERT_THAT(ApplyOverride("log.jsonl_path=", &run), IsOk());
  EXPECT_EQ(run.log().jsonl_path(), "");
}

TEST(OverrideTest, Errors) {
  RunProto run = Valid();
  const auto expect_error = [&run](const std::string& o, const std::string& substring) {
    SCOPED_TRACE(o);
    EXPECT_THAT(ApplyOverride(o, &run), StatusIs(kInvalid, "override \"" + o + "\""));
    EXPECT_THAT(ApplyOverride(o, &run), StatusIs(kInvalid, substring));
  };
  expect_error("optimizer.lr", "expected path.to.field=value");
  expect_error("foo.bar=1", "unknown field \"foo\"");
  expect_error("optimizer.lrr=1", "unknown field \"lrr\" in optimizer");
  expect_error("model=1", "model is not a scalar field");
  expect_error("optimizer.lr.x=1", "optimizer.lr is a scalar field");
  expect_error("model.n_layers=two", "\"two\" not an int32");
  expect_error("model.n_layers=1.5", "not an int32");
  expect_error("model.n_layers=99999999999", "not an int32");
  expect_error("model.seed=-1", "not a uint64");
  expect_error("optimizer.lr=fast", "not a number");
  expect_error("train.progress=maybe", "not a bool");
  expect_error("optimizer.schedule=cosine", "not one of WARMUP_COSINE, WARMUP_LINEAR");
  expect_error("optimizer.schedule=SCHEDULE_UNSPECIFIED", "not one of");
  // A failed override leaves the field as it was.
  EXPECT_EQ(run.model().n_layers(), Valid().model().n_layers());
}

TEST(OverrideTest, LoadReportsTheBadOverride) {
  EXPECT_THAT(LoadRunProto(SourceDir() + "/launch/configs/tiny.pbtxt", {"model.n_layer=2"}),
              StatusIs(kInvalid, "model.n_layer=2"));
}

TEST(ValidateTest, DefaultsPlusShardsAreValid) { EXPECT_THAT(ValidateRunProto(Valid()), IsOk()); }

TEST(ValidateTest, OutOfRangeNamesPathValueAndRange) {
  EXPECT_THAT(ValidateWith({"optimizer.lr=-0.001"}),
              StatusIs(kInvalid, "optimizer.lr = -0.001: must be in (0, 1]"));
  EXPECT_THAT(ValidateWith({"optimizer.lr=nan"}), StatusIs(kInvalid, "optimizer.lr = nan"));
  EXPECT_THAT(ValidateWith({"optimizer.beta2=1"}),
              StatusIs(kInvalid, "optimizer.beta2 = 1: must be in [0, 1)"));
  EXPECT_THAT(ValidateWith({"model.n_layers=0"}),
              StatusIs(kInvalid, "model.n_layers = 0: must be in [1, 1024]"));
  EXPECT_THAT(ValidateWith({"model.vocab_size=-5"}),
              StatusIs(kInvalid, "model.vocab_size = -5: must be in [2, 16777216]"));
  EXPECT_THAT(ValidateWith({"model.norm_eps=0"}), StatusIs(kInvalid, "model.norm_eps = 0"));
  EXPECT_THAT(ValidateWith({"optimizer.grad_clip=-1"}),
              StatusIs(kInvalid, "optimizer.grad_clip = -1: must be in [0, inf)"));
  EXPECT_THAT(ValidateWith({"train.steps=0"}), StatusIs(kInvalid, "train.steps = 0"));
  EXPECT_THAT(ValidateWith({"train.micro_batch=0"}), StatusIs(kInvalid, "train.micro_batch = 0"));
  EXPECT_THAT(ValidateWith({"train.log_every=0"}), StatusIs(kInvalid, "train.log_every = 0"));
  EXPECT_THAT(ValidateWith({"checkpoint.keep_last=-1"}),
              StatusIs(kInvalid, "checkpoint.keep_last = -1"));
}

TEST(ValidateTest, CollectsEveryErrorOnePerLine) {
  const absl::Status s =
      ValidateWith({"optimizer.lr=2", "model.n_layers=0", "data.train_shard=", "train.steps=0"});
  ASSERT_THAT(s, StatusIs(kInvalid, "model.n_layers = 0"));
  const std::string message(s.message());
  EXPECT_THAT(message, HasSubstr("\noptimizer.lr = 2: must be in (0, 1]"));
  EXPECT_THAT(message, HasSubstr("data.train_shard = \"\": must be non-empty"));
  EXPECT_THAT(message, HasSubstr("train.steps = 0"));
  // train.steps = 0 does not cascade into errors on the fields bounded by it.
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 3) << message;
  EXPECT_THAT(ValidateWith({"model.context=0"}),
              StatusIs(kInvalid, "model.context = 0: must be in [1, 1048576]"));
  EXPECT_THAT(ValidateWith({"model.context=0"}), Not(StatusIs(kInvalid, "train.seq_len")));
}

TEST(ValidateTest, CrossFieldRules) {
  EXPECT_THAT(ValidateWith({"model.d_model=250"}),
              StatusIs(kInvalid, "model.d_model = 250: must be divisible by model.n_heads = 4"));
  EXPECT_THAT(ValidateWith({"model.d_model=36", "model.n_heads=4", "model.n_kv_heads=4"}),
              StatusIs(kInvalid, "model.d_model / model.n_heads = 9: the head dim must be even"));
  EXPECT_THAT(ValidateWith({"model.n_kv_heads=3"}),
              StatusIs(kInvalid, "model.n_kv_heads = 3: must divide model.n_heads = 4"));
  EXPECT_THAT(ValidateWith({"model.n_kv_heads=8"}), StatusIs(kInvalid, "model.n_kv_heads = 8"));
  EXPECT_THAT(ValidateWith({"model.n_kv_heads=0"}), StatusIs(kInvalid, "model.n_kv_heads = 0"));
  EXPECT_THAT(ValidateWith({"model.n_kv_heads=2"}), IsOk());
  EXPECT_THAT(ValidateWith({"model.context=64", "train.seq_len=128"}),
              StatusIs(kInvalid, "train.seq_len = 128: must be in [1, model.context = 64]"));
  EXPECT_THAT(ValidateWith({"train.steps=50", "optimizer.warmup_steps=100"}),
              StatusIs(kInvalid, "optimizer.warmup_steps = 100: must be in [0, train.steps = 50]"));
  EXPECT_THAT(
      ValidateWith({"train.steps=100", "train.eval_every=200", "optimizer.warmup_steps=10"}),
      StatusIs(kInvalid, "train.eval_every = 200: must be in [0, train.steps = 100]"));
  EXPECT_THAT(ValidateWith({"checkpoint.every=5000"}),
              StatusIs(kInvalid, "checkpoint.every = 5000: must be in [0, train.steps = 1000]"));
  EXPECT_THAT(ValidateWith({"checkpoint.dir=", "checkpoint.every=10"}),
              StatusIs(kInvalid, "checkpoint.every = 10: needs checkpoint.dir"));
  EXPECT_THAT(ValidateWith({"checkpoint.dir=runs/a", "checkpoint.every=10"}), IsOk());
  EXPECT_THAT(ValidateWith({"data.train_shard="}),
              StatusIs(kInvalid, "data.train_shard = \"\": must be non-empty"));
  EXPECT_THAT(ValidateWith({"data.eval_shard="}),
              StatusIs(kInvalid, "data.eval_shard = \"\": must be non-empty"));
  EXPECT_THAT(ValidateWith({"optimizer.schedule=WARMUP_LINEAR"}), IsOk());
}

TEST(ValidateTest, StageTwoRules) {
  EXPECT_THAT(ValidateWith({"optimizer.stage2_start=0.5", "optimizer.stage2_lr=1e-3",
                            "optimizer.stage2_weight_decay=0"}),
              IsOk());
  EXPECT_THAT(ValidateWith({"optimizer.stage2_lr=1e-3"}),
              StatusIs(kInvalid,
                       "optimizer.stage2_lr = 0.001: must be 0 while "
                       "optimizer.stage2_start = 0"));
  EXPECT_THAT(ValidateWith({"optimizer.stage2_weight_decay=0.05"}),
              StatusIs(kInvalid, "optimizer.stage2_weight_decay = 0.05: must be 0 while"));
  EXPECT_THAT(ValidateWith({"optimizer.stage2_start=0.5"}),
              StatusIs(kInvalid, "optimizer.stage2_lr = 0: must be in (0, 1]"));
  EXPECT_THAT(ValidateWith({"optimizer.stage2_start=1", "optimizer.stage2_lr=1e-3"}),
              StatusIs(kInvalid, "optimizer.stage2_start = 1: must be in [0, 1)"));
  EXPECT_THAT(ValidateWith({"optimizer.stage2_start=0.05", "optimizer.stage2_lr=1e-3"}),
              StatusIs(kInvalid, "optimizer.stage2_start = 0.05: stage 2 would start at step 50"));
  EXPECT_THAT(ValidateWith({"train.steps=10", "optimizer.warmup_steps=0",
                            "optimizer.stage2_start=0.01", "optimizer.stage2_lr=1e-3"}),
              StatusIs(kInvalid, "stage 2 would start at step 0"));
}

TEST(ValidateTest, EnumsMustBeSpecified) {
  RunProto run = Valid();
  run.mutable_optimizer()->set_schedule(proto::OptimizerProto::SCHEDULE_UNSPECIFIED);
  run.mutable_parallel()->set_dp_mode(proto::ParallelProto::DP_MODE_UNSPECIFIED);
  const absl::Status s = ValidateRunProto(run);
  EXPECT_THAT(s, StatusIs(kInvalid, "optimizer.schedule = SCHEDULE_UNSPECIFIED: must be"));
  EXPECT_THAT(s, StatusIs(kInvalid, "parallel.dp_mode = DP_MODE_UNSPECIFIED: must be"));
}

TEST(ValidateTest, QuantModesAndTheirRules) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"quant.weight_format=TERNARY"}, "quant.weight_format = TERNARY: must be FLOAT32 with"},
      {{"quant.int8_activations=true"}, "quant.int8_activations = true: needs a quantized"},
      {{"quant.optimizer=dqt"}, "quant.weight_format = FLOAT32: must be TERNARY or INTEGER"},
      {{"quant.optimizer=bitnet"}, "quant.weight_format = FLOAT32: must be TERNARY with"},
      {{"quant.optimizer=bitnet", "quant.weight_format=integer", "quant.weight_bits=4"},
       "quant.weight_format = INTEGER: must be TERNARY with quant.optimizer = BITNET"},
      {{"quant.moments=bf16"}, "quant.moments = BF16: only quant.optimizer = DQT"},
      {{"quant.moments=int8"}, "quant.moments = INT8: only quant.optimizer = DQT"},
      {{"quant.recompute_scale=true"}, "quant.recompute_scale = true: only DQT"},
      {{"quant.activation_block=32"}, "quant.activation_block = 32: needs quant.int8_activations"},
      {{"quant.optimizer=dqt", "quant.weight_format=TERNARY", "quant.int8_activations=true",
        "quant.activation_block=-1"},
       "quant.activation_block = -1: must be 0 (per token) or a positive"},
      {{"quant.optimizer=dqt", "quant.weight_format=TERNARY", "quant.int8_activations=true",
        "quant.activation_block=48"},
       "quant.activation_block = 48: must divide model.d_model"},
      {{"quant.optimizer=dqt", "quant.weight_format=TERNARY", "quant.int8_activations=true",
        "quant.activation_block=32", "quant.forward_gemm=GEMM_INT8"},
       "quant.activation_block = 32: needs quant.forward_gemm = GEMM_FLOAT"},
      {{"quant.optimizer=dqt", "quant.weight_format=TERNARY", "quant.int8_activations=true",
        "quant.activation_scale_fp16=true"},
       "quant.activation_scale_fp16 = true: needs quant.activation_block > 0"},
      {{"quant.weight_bits=4"}, "quant.weight_bits = 4: must be 0 unless quant.weight_format"},
      {{"quant.optimizer=dqt", "quant.weight_format=INTEGER"},
       "quant.weight_bits = 0: must be in [2, 8]"},
      {{"quant.optimizer=dqt", "quant.weight_format=INTEGER", "quant.weight_bits=9"},
       "quant.weight_bits = 9: must be in [2, 8]"},
  };
  for (const auto& [overrides, message] : bad) {
    EXPECT_THAT(ValidateWith(overrides), StatusIs(kInvalid, message)) << overrides[0];
  }
  const std::vector<std::vector<std::string>> good = {
      {"quant.optimizer=dqt", "quant.weight_format=TERNARY", "quant.int8_activations=true",
       "quant.activation_block=32"},
      {"quant.optimizer=dqt", "quant.weight_format=INTEGER", "quant.weight_bits=8",
       "quant.int8_activations=true", "quant.activation_block=32",
       "quant.activation_scale_fp16=true"},
      {"quant.optimizer=bitnet", "quant.weight_format=TERNARY", "quant.int8_activations=true"},
      {"quant.optimizer=dqt", "quant.weight_format=TERNARY", "quant.policy=ALL"},
      {"quant.optimizer=dqt", "quant.weight_format=INTEGER", "quant.weight_bits=4",
       "quant.moments=INT8", "quant.scale_init=ABSMAX", "quant.int8_activations=true"},
      {"quant.optimizer=dqt", "quant.weight_format=INTEGER", "quant.weight_bits=8",
       "quant.moments=BF16", "quant.recompute_scale=true"},
  };
  for (const auto& overrides : good) EXPECT_THAT(ValidateWith(overrides), IsOk()) << overrides[1];
}

TEST(ValidateTest, ParallelSettings) {
  EXPECT_THAT(ValidateWith({"parallel.dp=2"}), IsOk());  // replicated data parallelism
  EXPECT_THAT(ValidateWith({"parallel.dp=2", "parallel.dp_mode=SHARDED"}), IsOk());
  EXPECT_THAT(ValidateWith({"parallel.tp=2"}), IsOk());
  EXPECT_THAT(ValidateWith({"parallel.tp=2", "model.subln=true"}),
              StatusIs(kInvalid, "parallel.tp = 2: needs model.subln = false"));
  EXPECT_THAT(ValidateWith({"parallel.tp=2", "quant.optimizer=DQT", "quant.weight_format=TERNARY",
                            "quant.moments=INT8"}),
              StatusIs(kInvalid, "parallel.tp = 2: needs quant.moments FP32 or BF16"));
  EXPECT_THAT(ValidateWith({"parallel.tp=3"}),
              StatusIs(kInvalid, "model.n_heads = 4: must be divisible by parallel.tp = 3"));
  EXPECT_THAT(ValidateWith({"parallel.dp=0"}), StatusIs(kInvalid, "parallel.dp = 0"));
  EXPECT_THAT(ValidateWith({"parallel.digest_every=-1"}),
              StatusIs(kInvalid, "parallel.digest_every = -1"));
  EXPECT_THAT(ValidateWith({"parallel.collective_timeout_s=0"}), IsOk());  // the watchdog off
  EXPECT_THAT(ValidateWith({"parallel.collective_timeout_s=2.5"}), IsOk());
  EXPECT_THAT(ValidateWith({"parallel.collective_timeout_s=-1"}),
              StatusIs(kInvalid, "parallel.collective_timeout_s = -1: must be in [0, 604800]"));
  EXPECT_THAT(ValidateWith({"parallel.collective_timeout_s=nan"}),
              StatusIs(kInvalid, "parallel.collective_timeout_s = nan"));
  EXPECT_THAT(ValidateWith({"parallel.dp_mode=SHARDED"}), IsOk());
}

TEST(ToRunConfigTest, CopiesScheduleAndStageTwo) {
  RunProto run = Valid();
  ASSERT_THAT(ApplyOverride("train.steps=2000", &run), IsOk());
  ASSERT_THAT(ApplyOverride("optimizer.stage2_start=0.5", &run), IsOk());
  ASSERT_THAT(ApplyOverride("optimizer.stage2_lr=1e-3", &run), IsOk());
  ASSERT_THAT(ApplyOverride("optimizer.stage2_weight_decay=0.01", &run), IsOk());
  ASSERT_THAT(ApplyOverride("checkpoint.keep_last=3", &run), IsOk());
  ASSERT_THAT(ValidateRunProto(run), IsOk());
  const RunConfig c = ToRunConfig(run);
  EXPECT_EQ(c.schedule.total_steps, 2000);
  EXPECT_EQ(c.train.steps, 2000);
  EXPECT_FLOAT_EQ(c.schedule.stage2_start, 0.5f);
  EXPECT_FLOAT_EQ(c.schedule.stage2_peak_lr, 1e-3f);
  EXPECT_FLOAT_EQ(c.schedule.stage2_weight_decay, 0.01f);
  EXPECT_EQ(c.checkpoint.keep_last, 3);
  EXPECT_EQ(c.data.train_shard, "train.bin");
}

}  // namespace
}  // namespace dqt

namespace dqt {
namespace {

TEST(ValidateTest, DeviceSeamFields) {
  EXPECT_THAT(ValidateWith({"train.device=CUDA", "train.cuda_activations=FP32"}), IsOk());
  EXPECT_THAT(ValidateWith({"train.device=GPU"}),
              StatusIs(kInvalid, "\"GPU\" not one of CPU, CUDA, AUTO"));
  EXPECT_THAT(ValidateWith({"quant.forward_gemm=GEMM_INT8"}),
              StatusIs(kInvalid, "quant.forward_gemm = GEMM_INT8: multiplies DQT codes"));
  EXPECT_THAT(ValidateWith({"quant.optimizer=DQT", "quant.weight_format=INTEGER",
                            "quant.weight_bits=8", "quant.forward_gemm=GEMM_FP8"}),
              StatusIs(kInvalid, "is exact for codes of at most 4 bits"));
  EXPECT_THAT(ValidateWith({"quant.optimizer=DQT", "quant.weight_format=INTEGER",
                            "quant.weight_bits=4", "quant.forward_gemm=GEMM_FP8"}),
              IsOk());
}

TEST(ValidateTest, FusedUpdateRules) {
  const std::vector<std::string> fused = {"train.fused_update=true", "train.grad_accum=1",
                                          "optimizer.grad_clip=0"};
  EXPECT_THAT(ValidateWith(fused), IsOk());
  std::vector<std::string> clip = fused;
  clip.push_back("optimizer.grad_clip=1");
  EXPECT_THAT(ValidateWith(clip),
              StatusIs(kInvalid, "optimizer.grad_clip = 1: must be 0 under train.fused_update"));
  clip.push_back("optimizer.clip_by_previous_norm=true");
  EXPECT_THAT(ValidateWith(clip), IsOk());
  std::vector<std::string> accum = fused;
  accum.push_back("train.grad_accum=2");
  EXPECT_THAT(ValidateWith(accum),
              StatusIs(kInvalid, "train.fused_update = true: needs train.grad_accum = 1"));
  EXPECT_THAT(
      ValidateWith({"optimizer.clip_by_previous_norm=true"}),
      StatusIs(kInvalid, "optimizer.clip_by_previous_norm = true: is for train.fused_update"));
}

}  // namespace
}  // namespace dqt
