// End to end through the real binaries (from $DQT_BIN_DIR): dqt_eval, dqt_generate and
// dqt_export on a tiny GPT-2-vocabulary checkpoint made here, their outputs and their errors.
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/model/llama.h"
#include "core/train/checkpoint.h"
#include "core/train/trainer.h"
#include "data/token_shard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/config.h"
#include "launch/json.h"
#include "launch/model_loading.h"
#include "launch/safetensors.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_model.h"
#include "tests/testing/tiny_run.h"
#include "tests/testing/token_files.h"

namespace dqt {
namespace {

using ::dqt::testing::DataPath;
using ::dqt::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kText[] =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the "
    "season of Light, it was the season of Darkness, it was the spring of hope, it was the "
    "winter of despair.\n";

// GPT-2 vocabulary (the tokenizer's ids must embed) with everything else tiny, so each binary
// runs in well under a second.
LlamaConfig TinyGpt2Config(bool subln) {
  LlamaConfig c = testing::TinyModel({.vocab = 50257, .heads = 2, .kv_heads = 1, .context = 32});
  c.subln = subln;
  c.init_std = 0.5f;  // peaked enough that greedy and sampled text differ
  c.seed = 5;
  return c;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    encoder_ = DataPath("encoder.json");
    vocab_ = DataPath("vocab.bpe");
    if (!std::filesystem::exists(encoder_) || !std::filesystem::exists(vocab_)) {
      GTEST_SKIP() << "needs " << encoder_ << " and " << vocab_ << " (launch/fetch_data.sh)";
    }
    const char* bin = std::getenv("DQT_BIN_DIR");
    bin_dir_ = bin ? bin : "build/launch";
    char pattern[] = "/tmp/dqt_tools_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    ASSERT_NO_FATAL_FAILURE(SaveTiny(dir_ + "/ckpt", /*subln=*/false, &ckpt_));
    text_ = dir_ + "/text.txt";
    std::ofstream(text_) << kText;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Writes a checkpoint under parent_dir; *path gets its directory.
  // A non-zero `poison` replaces one weight of model.layers.1.mlp.up_proj.weight.
  static void SaveTiny(const std::string& parent_dir, bool subln, std::string* path,
                       float poison = 0.0f) {
    LlamaParams params(TinyGpt2Config(subln));
    ASSERT_TRUE(params.Init().ok());
    for (const ParamTensor& t : params.tensors()) {
      if (poison != 0.0f && t.name == "model.layers.1.mlp.up_proj.weight") {
        params.values()[t.value_offset + 3] = poison;
      }
    }
    absl::StatusOr<std::string> saved = SaveCheckpoint(parent_dir, params, nullptr, {});
    ASSERT_THAT(saved, IsOk());
    *path = *saved;
  }

  // Runs bin_dir_/tool with `args` (already quoted) plus the tokenizer flags. One OpenMP
  // thread: the tiny model's per-token kernels are all barrier, and spinning thread teams on a
  // loaded CI machine turned a 0.3 s run into several seconds.
  RunResult Run(const std::string& tool, const std::string& args) {
    const std::string binary = bin_dir_ + "/" + tool;
    EXPECT_TRUE(std::filesystem::exists(binary)) << binary << " not built";
    const std::string err_path = dir_ + "/stderr.txt";
    const std::string command = "OMP_NUM_THREADS=1 " + Quote(binary) + " " + args + " --encoder " +
                                Quote(encoder_) + " --vocab " + Quote(vocab_) + " 2>" +
                                Quote(err_path);
    RunResult r;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return r;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) r.out.append(buf, n);
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = ReadAll(err_path);
    return r;
  }

  std::string encoder_, vocab_, bin_dir_, dir_, ckpt_, text_;
};

TEST_F(ToolsTest, EvalPrintsTheLibrarysScores) {
  const RunResult r = Run(
      "dqt_eval", "--ckpt " + Quote(ckpt_) + " --text " + Quote(text_) + " --seq_len 16 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  absl::StatusOr<JsonValue> json = ParseJson(r.out);
  ASSERT_THAT(json, IsOk()) << r.out;

  // The same scoring through the library: tokenizer, checkpoint, Evaluate.
  absl::StatusOr<Gpt2Tokenizer> tokenizer = LoadTokenizer({encoder_, vocab_});
  ASSERT_THAT(tokenizer, IsOk());
  absl::StatusOr<std::unique_ptr<LlamaModel>> model = LoadModel(ckpt_);
  ASSERT_THAT(model, IsOk());
  const std::string text = kText;
  const std::vector<int32_t> tokens = tokenizer->Encode(text);
  const EvalResult want = Evaluate(**model, SourceOf(tokens, text.size()), 16, 16, 0);
  ASSERT_GT(want.tokens, 0);

  // Same build, same inputs; the child runs one OpenMP thread, this process may run more, so
  // allow for a different split of the sums.
  EXPECT_NEAR(json->Find("loss")->number, want.loss, 1e-6 * want.loss);
  EXPECT_NEAR(json->Find("perplexity")->number, want.perplexity, 1e-5 * want.perplexity);
  EXPECT_NEAR(json->Find("bits_per_byte")->number, *want.bits_per_byte, 1e-6 * *want.bits_per_byte);
  EXPECT_EQ(json->Find("tokens")->number, want.tokens);
  EXPECT_EQ(json->Find("text_tokens")->number, tokens.size());
  EXPECT_EQ(json->Find("bytes")->number, text.size());
  EXPECT_EQ(json->Find("seq_len")->number, 16);
  EXPECT_EQ(json->Find("windows")->number, (tokens.size() - 1) / 16);
  EXPECT_EQ(json->Find("text")->text, text_);

  // Human-readable form; the default window is the context (32) when the text is long enough.
  const RunResult human = Run("dqt_eval", "--ckpt " + Quote(ckpt_) + " --text " + Quote(text_));
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_THAT(human.out, HasSubstr("nats/token"));
  EXPECT_THAT(human.out, HasSubstr("bits/byte"));
  EXPECT_THAT(human.out, HasSubstr("windows of 32"));
}

TEST_F(ToolsTest, EvalErrorsExitNonZeroWithAMessage) {
  const std::string missing = dir_ + "/no_such.txt";
  RunResult r = Run("dqt_eval", "--ckpt " + Quote(ckpt_) + " --text " + Quote(missing));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("dqt_eval: text file " + missing + " not found"));

  r = Run("dqt_eval", "--ckpt " + Quote(dir_ + "/none") + " --text " + Quote(text_));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("not a directory"));

  const std::string corrupt = dir_ + "/corrupt";
  std::filesystem::copy(ckpt_, corrupt);
  std::string bytes = ReadAll(corrupt + "/shard_00000.bin");
  bytes[bytes.size() / 2] ^= 0x10;
  std::ofstream(corrupt + "/shard_00000.bin", std::ios::binary) << bytes;
  r = Run("dqt_eval", "--ckpt " + Quote(corrupt) + " --text " + Quote(text_));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("shard_00000.bin"));

  const std::string empty = dir_ + "/empty.txt";
  std::ofstream(empty).flush();
  r = Run("dqt_eval", "--ckpt " + Quote(ckpt_) + " --text " + Quote(empty));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("is empty"));

  r = Run("dqt_eval", "--ckpt " + Quote(ckpt_) + " --text " + Quote(text_) + " --seq_len 33");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--seq_len 33 outside [1, 32]"));

  const std::string short_text = dir_ + "/short.txt";
  std::ofstream(short_text) << "Two words";
  r = Run("dqt_eval", "--ckpt " + Quote(ckpt_) + " --text " + Quote(short_text) + " --seq_len 8");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("fewer than one window"));
}

TEST_F(ToolsTest, GenerateIsReproducibleFromItsSeed) {
  // 6 prompt tokens + 40 new ones exceed the 32-token context: the window slides.
  const std::string prompt = "It was the best of times";
  auto generate = [&](const std::string& extra) {
    return Run("dqt_generate", "--ckpt " + Quote(ckpt_) + " --prompt " + Quote(prompt) +
                                   " --max_tokens 40 " + extra);
  };
  const RunResult a = generate("--seed 7");
  const RunResult b = generate("--seed 7");
  const RunResult c = generate("--seed 8");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_THAT(a.out, StartsWith(prompt));
  EXPECT_GT(a.out.size(), prompt.size() + 1) << "no continuation";
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);

  const RunResult greedy1 = generate("--temperature 0 --seed 1");
  const RunResult greedy2 = generate("--temperature 0 --seed 2");
  ASSERT_EQ(greedy1.exit_code, 0) << greedy1.err;
  EXPECT_EQ(greedy1.out, greedy2.out) << "greedy decoding ignores the seed";

  const RunResult none = generate("--max_tokens 0");
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, prompt + "\n");

  const RunResult bad = generate("--temperature -1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("--temperature"));
}

// Under llama.cpp-style block activation rounding (quant.activation_block) a last-bit difference
// in a product can round an activation to the next int8 code, and in this model (logits of std
// ~8) move top-2 logit gaps by ~0.1. OpenBLAS's products used to depend on the thread count, so
// dqt_generate (one thread) and the same checkpoint in this process (two) parted after 7 greedy
// tokens. Now every greedy token of dqt_generate is the argmax of the in-process full-sequence
// forward at its position.
TEST_F(ToolsTest, GenerateUnderBlockActivationRoundingIsTheLibrarysForward) {
  LlamaConfig c = testing::PeakedGpt2Model(QuantGrid::Ternary());
  c.quant.int8_activations = true;
  c.quant.activation_block = 256;
  LlamaParams params(c);
  ASSERT_THAT(params.Init(), IsOk());
  const ParamTensor& head = params.tensors().back();
  for (int64_t i = 0; i < head.numel; ++i)
    params.values()[head.value_offset + i] *= testing::kPeakedHeadFactor;
  absl::StatusOr<std::string> ckpt = SaveCheckpoint(dir_ + "/block_ckpt", params, nullptr, {});
  ASSERT_THAT(ckpt, IsOk());
  absl::StatusOr<Gpt2Tokenizer> tokenizer = LoadTokenizer({encoder_, vocab_});
  ASSERT_THAT(tokenizer, IsOk());
  absl::StatusOr<std::unique_ptr<LlamaModel>> model = LoadModel(*ckpt);
  ASSERT_THAT(model, IsOk());
  ASSERT_EQ((*model)->config().quant.activation_block, 256) << "LoadModel dropped the rounding";
  constexpr int kNew = 16;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);  // dqt_generate runs one
  for (const std::string prompt : {"It was the best of times", "The"}) {
    const RunResult r =
        Run("dqt_generate", "--ckpt " + Quote(*ckpt) + " --prompt " + Quote(prompt) +
                                " --temperature 0 --max_tokens " + std::to_string(kNew));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The library's greedy continuation, each token the argmax of a full-sequence forward.
    std::vector<int32_t> tokens = tokenizer->Encode(prompt);
    const size_t from = tokens.size();
    const int64_t vocab = c.vocab_size;
    for (int i = 0; i < kNew; ++i) {
      const int seq = static_cast<int>(tokens.size());
      (*model)->ForwardLogits(tokens.data(), 1, seq);
      const float* last = (*model)->Logits().as<float>() + (seq - 1) * vocab;
      tokens.push_back(static_cast<int32_t>(std::max_element(last, last + vocab) - last));
    }
    EXPECT_EQ(r.out, prompt + tokenizer->Decode({tokens.begin() + from, tokens.end()}) + "\n");
    // One forward of the whole text: the same argmax at every generated position.
    (*model)->ForwardLogits(tokens.data(), 1, static_cast<int>(tokens.size()) - 1);
    for (size_t t = from; t < tokens.size(); ++t) {
      const float* row = (*model)->Logits().as<float>() + (t - 1) * vocab;
      EXPECT_EQ(std::max_element(row, row + vocab) - row, tokens[t]) << "position " << t;
    }
  }
  omp_set_num_threads(threads);
}

TEST_F(ToolsTest, ExportWritesAHuggingFaceDirectory) {
  const std::string out = dir_ + "/hf";
  const RunResult r =
      Run("dqt_export", "--format safetensors --ckpt " + Quote(ckpt_) + " --out " + Quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Hugging Face's LlamaForCausalLM computes this export as trained"));
  EXPECT_EQ(ReadAll(out + "/vocab.json"), ReadAll(encoder_));
  EXPECT_EQ(ReadAll(out + "/merges.txt"), ReadAll(vocab_));
  for (const char* name : {"config.json", "tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json"}) {
    EXPECT_THAT(ParseJson(ReadAll(out + "/" + name)), IsOk()) << name;
  }
  absl::StatusOr<JsonValue> config = ParseJson(ReadAll(out + "/config.json"));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->Find("vocab_size")->number, 50257);
  EXPECT_EQ(config->Find("eos_token_id")->number, 50256);
  absl::StatusOr<JsonValue> special = ParseJson(ReadAll(out + "/special_tokens_map.json"));
  ASSERT_THAT(special, IsOk());
  EXPECT_EQ(special->Find("eos_token")->text, "<|endoftext|>");
  absl::StatusOr<JsonValue> tok_config = ParseJson(ReadAll(out + "/tokenizer_config.json"));
  ASSERT_THAT(tok_config, IsOk());
  EXPECT_EQ(tok_config->Find("tokenizer_class")->text, "GPT2Tokenizer");

  absl::StatusOr<SafetensorsFile> weights = ReadSafetensors(out + "/model.safetensors");
  ASSERT_THAT(weights, IsOk());
  EXPECT_EQ(weights->tensors.size(), 3u + 9u * 2u);  // embed, norm, head + 9 per block
  absl::StatusOr<std::unique_ptr<LlamaModel>> model = LoadModel(ckpt_);
  ASSERT_THAT(model, IsOk());
  absl::StatusOr<std::vector<float>> head = weights->Float32("lm_head.weight");
  ASSERT_THAT(head, IsOk());
  const LlamaParams& params = (*model)->params();
  const ParamTensor& head_tensor = params.tensors().back();
  ASSERT_EQ(head->size(), static_cast<size_t>(head_tensor.numel));
  EXPECT_TRUE(
      std::equal(head->begin(), head->end(), params.values().data() + head_tensor.value_offset));
  EXPECT_FALSE(std::filesystem::exists(out + "/model.safetensors.tmp"));
}

TEST_F(ToolsTest, ExportRefusesUnknownFormatsAndSublnModels) {
  RunResult r =
      Run("dqt_export", "--format onnx --ckpt " + Quote(ckpt_) + " --out " + Quote(dir_ + "/x"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("unsupported --format \"onnx\"; supported: safetensors, gguf"));

  std::string subln;
  ASSERT_NO_FATAL_FAILURE(SaveTiny(dir_ + "/subln", /*subln=*/true, &subln));
  r = Run("dqt_export", "--ckpt " + Quote(subln) + " --out " + Quote(dir_ + "/y"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("SubLN"));
}

// The inference tools compute the function that was trained. For fp, BitNet (SubLN, int8
// activations), DQT-8 (int8 activations) and DQT-ternary (policy ALL: the LM head's input int8
// too), dqt_eval on the eval shard with the run's seq_len and micro_batch gives the trainer's
// final evaluation loss. Both run the same ops on the same windows (the tool's fp32 weights are the
// trainer's forward weights, code x scale or ternarized latents, formed the same way), so the
// losses agree to the JSON's printed digits (measured: 0 and 1.3e-9 on ~10.3). Tolerance 5e-8
// relative (~5e-7 absolute): 400x that, yet below every change of the activations: evaluating
// with fp activations instead (what the tools did before they kept the trained quantization)
// moved the loss by 3.2e-6 (BitNet), 9e-6 (DQT-ternary) and 6.7e-5 (DQT-8), and the test
// requires that difference to exceed 1e-6, so it shows the two modes apart.
TEST_F(ToolsTest, EvalOnAShardGivesTheTrainersEvaluationLoss) {
  const std::string train = testing::MakeTextShard("gutenberg_train.txt", 40000, "tools_train.bin");
  const std::string eval = testing::MakeTextShard("gutenberg_heldout.txt", 6000, "tools_eval.bin");
  const std::vector<std::pair<std::string, std::vector<std::string>>> modes = {
      {"fp", {}},
      {"bitnet",
       {"quant.optimizer=BITNET", "quant.weight_format=TERNARY", "quant.int8_activations=true",
        "model.subln=true"}},
      {"dqt8",
       {"quant.optimizer=DQT", "quant.weight_format=INTEGER", "quant.weight_bits=8",
        "quant.int8_activations=true"}},
      {"dqt_ternary",
       {"quant.optimizer=DQT", "quant.weight_format=TERNARY", "quant.int8_activations=true",
        "quant.policy=ALL"}}};
  for (const auto& [name, mode] : modes) {
    SCOPED_TRACE(name);
    const std::string ckpt_dir = dir_ + "/run_" + name;
    std::vector<std::string> overrides = {"data.train_shard=" + train,
                                          "data.eval_shard=" + eval,
                                          "optimizer.lr=1e-2",
                                          "train.steps=6",
                                          "train.eval_every=0",
                                          "checkpoint.dir=" + ckpt_dir,
                                          "log.jsonl_path=" + ckpt_dir + ".jsonl"};
    overrides.insert(overrides.end(), mode.begin(), mode.end());
    absl::StatusOr<proto::RunProto> run = testing::TinyRunProto(overrides);
    ASSERT_THAT(run, IsOk());
    ASSERT_THAT(ValidateRunProto(*run), IsOk());
    const RunConfig config = ToRunConfig(*run);
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = Trainer::Create(config);
    ASSERT_THAT(trainer, IsOk());
    ASSERT_THAT((*trainer)->Run(), IsOk());
    ASSERT_TRUE((*trainer)->final_eval().has_value());
    const double want = (*trainer)->final_eval()->loss;

    const std::string args = "--ckpt " + Quote(ckpt_dir + "/step_000006") + " --shard " +
                             Quote(eval) + " --seq_len " + std::to_string(config.train.seq_len) +
                             " --batch " + std::to_string(config.train.micro_batch) + " --json";
    const RunResult as_trained = Run("dqt_eval", args);
    ASSERT_EQ(as_trained.exit_code, 0) << as_trained.err;
    absl::StatusOr<JsonValue> json = ParseJson(as_trained.out);
    ASSERT_THAT(json, IsOk()) << as_trained.out;
    EXPECT_NEAR(json->Find("loss")->number, want, 5e-8 * want);
    EXPECT_EQ(json->Find("tokens")->number, (*trainer)->final_eval()->tokens);
    std::printf("%s: trainer %.9f, dqt_eval %.9f, diff %.3g (%s)\n", name.c_str(), want,
                json->Find("loss")->number, json->Find("loss")->number - want,
                json->Find("computes")->text.c_str());
    if (name == "fp") {
      // The same tokens as nanoGPT's header-less file: refused unless --raw_uint16, then the
      // same score.
      absl::StatusOr<TokenShard> shard = TokenShard::Open(eval);
      ASSERT_THAT(shard, IsOk());
      std::vector<int32_t> ids(shard->size());
      shard->Copy(0, ids.size(), ids.data());
      const std::string raw = dir_ + "/eval_nanogpt.bin";
      testing::WriteNanoGptFile(raw, ids);
      const std::string raw_args = "--ckpt " + Quote(ckpt_dir + "/step_000006") + " --shard " +
                                   Quote(raw) + " --seq_len " +
                                   std::to_string(config.train.seq_len) + " --batch " +
                                   std::to_string(config.train.micro_batch) + " --json";
      const RunResult refused = Run("dqt_eval", raw_args);
      EXPECT_NE(refused.exit_code, 0);
      EXPECT_THAT(refused.err, HasSubstr("eval_nanogpt.bin: not a dqt token shard"));
      EXPECT_THAT(refused.err, HasSubstr("--raw_uint16"));
      const RunResult read = Run("dqt_eval", raw_args + " --raw_uint16");
      ASSERT_EQ(read.exit_code, 0) << read.err;
      absl::StatusOr<JsonValue> raw_json = ParseJson(read.out);
      ASSERT_THAT(raw_json, IsOk()) << read.out;
      EXPECT_EQ(raw_json->Find("loss")->number, json->Find("loss")->number);
    }
    if (!config.model.quant.int8_activations) continue;
    EXPECT_THAT(json->Find("computes")->text, HasSubstr("int8 per-token absmax activations"));
    const RunResult fp = Run("dqt_eval", args + " --fp_activations");
    ASSERT_EQ(fp.exit_code, 0) << fp.err;
    absl::StatusOr<JsonValue> fp_json = ParseJson(fp.out);
    ASSERT_THAT(fp_json, IsOk()) << fp.out;
    std::printf("%s: --fp_activations %.9f, diff %.3g\n", name.c_str(),
                fp_json->Find("loss")->number, fp_json->Find("loss")->number - want);
    EXPECT_GT(std::abs(fp_json->Find("loss")->number - want), 1e-6)
        << "int8 and fp activations give the same loss: the test could not tell them apart";
    EXPECT_THAT(fp_json->Find("computes")->text, HasSubstr("fp32 activations (--fp_activations"));
  }
}

// A checkpoint with a NaN or infinite weight: every tool exits non-zero naming the tensor.
class ToolsAdversarial : public ToolsTest {};

TEST_F(ToolsAdversarial, NonFiniteWeightsAreRefused) {
  for (const float poison :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::string bad;
    ASSERT_NO_FATAL_FAILURE(
        SaveTiny(dir_ + "/poison_" + std::to_string(std::isnan(poison)), false, &bad, poison));
    const std::string ckpt = " --ckpt " + Quote(bad);
    for (const auto& [tool, args] : std::vector<std::pair<std::string, std::string>>{
             {"dqt_eval", ckpt + " --text " + Quote(text_)},
             {"dqt_generate", ckpt + " --prompt hello --max_tokens 2"},
             {"dqt_export", ckpt + " --out " + Quote(dir_ + "/hf_bad")},
             {"dqt_export", ckpt + " --format gguf --out " + Quote(dir_ + "/bad.gguf")}}) {
      const RunResult r = Run(tool, args);
      EXPECT_NE(r.exit_code, 0) << tool << args << "\n" << r.out;
      EXPECT_THAT(r.err, HasSubstr("tensor model.layers.1.mlp.up_proj.weight holds a non-finite "
                                   "weight"))
          << tool << args;
    }
  }
}

// Bad inputs to the text tools. Each failed before its fix: dqt_prepare wrote its shard over
// its own input text, binary input went through without a word, and a shard whose header says
// 0 source bytes scored 0 bits per byte.
class ToolInputAdversarial : public ToolsTest {};

TEST_F(ToolInputAdversarial, PrepareRefusesAnOutThatIsItsInput) {
  const std::string before = ReadAll(text_);
  const std::string link = dir_ + "/link.txt";
  std::filesystem::create_symlink(text_, link);
  // The same file by its name, by another spelling of its path, and through a symlink.
  for (const std::string& out : {text_, dir_ + "/./text.txt", link}) {
    const RunResult r = Run("dqt_prepare", "--out " + Quote(out) + " " + Quote(text_));
    EXPECT_EQ(r.exit_code, 1) << out;
    EXPECT_THAT(r.err, HasSubstr("is the input file " + text_)) << out;
    EXPECT_EQ(ReadAll(text_), before) << out;
  }
  const RunResult ok = Run("dqt_prepare", "--out " + Quote(dir_ + "/shard.bin") + " " +
                                              Quote(link) + " " + Quote(text_));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST_F(ToolInputAdversarial, PrepareAndTokenizeWarnOnBinaryInput) {
  std::string bytes(4096, '\0');
  for (size_t i = 0; i < bytes.size(); i += 3) bytes[i] = static_cast<char>(i * 37 + 11);
  const std::string binary = dir_ + "/image.bin";
  std::ofstream(binary, std::ios::binary) << bytes;
  const RunResult p = Run("dqt_prepare", "--out " + Quote(dir_ + "/b.bin") + " " + Quote(binary));
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_THAT(p.err, HasSubstr("warning: " + binary + " looks like binary data"));
  const RunResult t = Run("dqt_tokenize", "< " + Quote(binary));
  EXPECT_EQ(t.exit_code, 0) << t.err;
  EXPECT_THAT(t.err, HasSubstr("warning: the input looks like binary data"));
  EXPECT_THAT(t.err, HasSubstr("NUL bytes"));
  // Text, and text with one stray bad byte in a thousand, get no warning.
  std::ofstream(text_, std::ios::app) << std::string(2000, 'a') << '\xff';
  const RunResult quiet = Run("dqt_tokenize", "< " + Quote(text_));
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_THAT(quiet.err, Not(HasSubstr("warning")));
}

TEST_F(ToolInputAdversarial, ShardWithoutSourceBytesHasNoBitsPerByte) {
  absl::StatusOr<Gpt2Tokenizer> tokenizer = LoadTokenizer({encoder_, vocab_});
  ASSERT_THAT(tokenizer, IsOk());
  absl::StatusOr<std::unique_ptr<LlamaModel>> model = LoadModel(ckpt_);
  ASSERT_THAT(model, IsOk());
  const std::vector<int32_t> tokens = tokenizer->Encode(kText);
  for (const uint64_t bytes : {uint64_t{0}, uint64_t{sizeof(kText) - 1}}) {
    const std::string path = dir_ + "/shard" + std::to_string(bytes) + ".bin";
    ASSERT_THAT(WriteTokenShard(path, tokens, bytes), IsOk());
    absl::StatusOr<TokenShard> shard = TokenShard::Open(path);
    ASSERT_THAT(shard, IsOk());
    const EvalResult r = Evaluate(**model, SourceOf(*shard), 16, 4, 0);
    EXPECT_GT(r.loss, 0);
    EXPECT_EQ(r.bits_per_byte.has_value(), bytes > 0) << bytes;
  }
}

}  // namespace
}  // namespace dqt
