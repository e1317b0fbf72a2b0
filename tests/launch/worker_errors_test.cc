// Bad input to the real dqt_worker binary: every case exits non-zero with a message that names
// the problem (never a crash, never a silent default).
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/gpt2_files.h"
#include "data/token_shard.h"
#include "data/tokenizer_identity.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/token_files.h"

namespace dqt {
namespace {

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

// The memory-refusal runs cap the worker's address space so that a regression aborts on an
// allocation instead of waking the OOM killer; AddressSanitizer reserves terabytes of shadow
// space at start, so its builds run them without the cap.
#if defined(__SANITIZE_ADDRESS__)
constexpr const char* kAddressLimit = "";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr const char* kAddressLimit = "";
#else
constexpr const char* kAddressLimit = "ulimit -v 8388608; ";
#endif
#else
constexpr const char* kAddressLimit = "ulimit -v 8388608; ";
#endif

// `prefix`: shell commands run before the worker (e.g. a ulimit).
Result RunWorker(const std::string& args, const std::string& prefix = "") {
  const char* bin_dir = std::getenv("DQT_BIN_DIR");
  const std::string cmd =
      prefix + std::string(bin_dir ? bin_dir : "launch") + "/dqt_worker " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::string TinyConfig() {
  const char* src = std::getenv("DQT_SOURCE_DIR");
  return std::string(src ? src : ".") + "/launch/configs/tiny.pbtxt";
}

// A valid pair of shards so that only the fault under test is wrong; each records the given
// tokenizer (none by default).
std::string ShardOverrides(const TokenizerIdentity& train_tokenizer = {},
                           const TokenizerIdentity& eval_tokenizer = {}) {
  std::vector<int32_t> tokens(4000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i * 7 % 50257);
  const std::string train = ::testing::TempDir() + "/w_train.bin";
  const std::string eval = ::testing::TempDir() + "/w_eval.bin";
  EXPECT_TRUE(WriteTokenShard(train, tokens, 16000, train_tokenizer).ok());
  EXPECT_TRUE(WriteTokenShard(eval, tokens, 16000, eval_tokenizer).ok());
  return " --set data.train_shard=" + train + " --set data.eval_shard=" + eval;
}

void ExpectFailure(const Result& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_LT(r.exit_code, 128) << "crashed: " << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "expected \"" << needle << "\" in:\n"
                                                      << r.output;
}

TEST(WorkerErrors, MissingConfig) {
  ExpectFailure(RunWorker("--cfg /nonexistent/run.pbtxt"), "/nonexistent/run.pbtxt");
  ExpectFailure(RunWorker(""), "--cfg");
}

TEST(WorkerErrors, MalformedConfig) {
  ExpectFailure(RunWorker("--cfg " + Write("bad.pbtxt", "model { d_model: 32 \n")), "bad.pbtxt:");
}

TEST(WorkerErrors, UnknownField) {
  ExpectFailure(RunWorker("--cfg " + Write("unknown.pbtxt", "model { d_modle: 32 }\n")), "d_modle");
  ExpectFailure(RunWorker("--cfg " + TinyConfig() + " --set optimizer.lrr=1"), "lrr");
}

TEST(WorkerErrors, OutOfRangeValue) {
  ExpectFailure(RunWorker("--cfg " + TinyConfig() + " --set optimizer.lr=-1"), "optimizer.lr");
  ExpectFailure(RunWorker("--cfg " + TinyConfig() + " --set model.n_layers=0"), "model.n_layers");
}

TEST(WorkerErrors, MissingShard) {
  ExpectFailure(RunWorker("--cfg " + TinyConfig() + ShardOverrides() +
                          " --set data.train_shard=/nonexistent/train.bin"),
                "/nonexistent/train.bin");
}

TEST(WorkerErrors, TruncatedShard) {
  const std::string overrides = ShardOverrides();
  const std::string cut = ::testing::TempDir() + "/w_cut.bin";
  std::filesystem::copy_file(::testing::TempDir() + "/w_train.bin", cut,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) - 10);
  ExpectFailure(RunWorker("--cfg " + TinyConfig() + overrides + " --set data.train_shard=" + cut),
                "w_cut.bin");
}

TEST(WorkerErrors, TokensOutsideTheVocabulary) {
  ExpectFailure(
      RunWorker("--cfg " + TinyConfig() + ShardOverrides() + " --set model.vocab_size=1000"),
      "outside the model vocabulary");
}

// nanoGPT's header-less files: refused without data.token_format (the message says which value
// reads them), an odd length is an error, an id past the vocabulary names the file and byte
// offset (here inside the second file of a list); with RAW_UINT16 the worker trains on them.
TEST(WorkerErrors, NanoGptFiles) {
  std::vector<int32_t> tokens(4000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i * 7 % 50257);
  const std::string raw = ::testing::TempDir() + "/w_nanogpt.bin";
  testing::WriteNanoGptFile(raw, tokens);
  const std::string raw_set = " --set data.train_shard=" + raw + " --set data.eval_shard=" + raw;
  ExpectFailure(RunWorker("--cfg " + TinyConfig() + raw_set),
                "w_nanogpt.bin: not a dqt token shard nor an llm.c token file");
  ExpectFailure(RunWorker("--cfg " + TinyConfig() + raw_set), "data.token_format: RAW_UINT16");
  const std::string format = " --set data.token_format=RAW_UINT16";
  const std::string odd = ::testing::TempDir() + "/w_odd.bin";
  std::ofstream(odd, std::ios::binary | std::ios::trunc) << "abc";
  ExpectFailure(
      RunWorker("--cfg " + TinyConfig() + raw_set + format + " --set data.eval_shard=" + odd),
      "w_odd.bin: 3 bytes, an odd length");
  tokens[5] = 60000;
  const std::string bad = ::testing::TempDir() + "/w_nanogpt_bad.bin";
  testing::WriteNanoGptFile(bad, tokens);
  ExpectFailure(RunWorker("--cfg " + TinyConfig() + raw_set + format +
                          " --set data.train_shard=" + raw + "," + bad),
                "data.train_shard: token id 60000 at " + bad +
                    ", token 5 (byte offset 10) is outside the model vocabulary [0, 50257)");
  const Result ok = RunWorker("--cfg " + TinyConfig() + raw_set + format +
                              " --set train.steps=2 --set train.eval_every=0");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TokenizerIdentity SentencePieceLike(uint8_t salt) {
  TokenizerIdentity id;
  id.kind = TokenizerKind::kSentencePiece;
  id.vocab_size = 8000;
  id.digest.fill(salt);
  return id;
}

TEST(WorkerErrors, TrainAndEvalShardsOfDifferentTokenizers) {
  const Result r = RunWorker("--cfg " + TinyConfig() +
                             ShardOverrides(SentencePieceLike(1), SentencePieceLike(2)));
  ExpectFailure(r, "data.train_shard");
  ExpectFailure(r, "use one tokenizer");
}

// data.tokenizer names the run's tokenizer: shards that record another are refused, shards of it
// train, and a file that is no tokenizer is an error naming the field.
TEST(WorkerErrors, RunTokenizerAgainstTheShards) {
  const std::string encoder = testing::DataPath("encoder.json");
  absl::StatusOr<std::string> json = ReadWholeFile(encoder);
  absl::StatusOr<std::string> bpe = ReadWholeFile(testing::DataPath("vocab.bpe"));
  if (!json.ok() || !bpe.ok()) GTEST_SKIP() << "GPT-2 files not fetched (launch/fetch_data.sh)";
  const TokenizerIdentity gpt2 = Gpt2Identity(*json, *bpe, 50257);
  const std::string run_tokenizer = " --set data.tokenizer=" + encoder;

  const Result other =
      RunWorker("--cfg " + TinyConfig() +
                ShardOverrides(SentencePieceLike(1), SentencePieceLike(1)) + run_tokenizer);
  ExpectFailure(other, "data.tokenizer " + encoder);
  ExpectFailure(other, "SentencePiece (vocab 8000");

  const Result not_a_tokenizer = RunWorker("--cfg " + TinyConfig() + ShardOverrides(gpt2, gpt2) +
                                           " --set data.tokenizer=" + TinyConfig());
  ExpectFailure(not_a_tokenizer, "data.tokenizer: ");
  ExpectFailure(not_a_tokenizer, "not a tokenizer file");
  // Shards of the run's own tokenizer train: ValidRunSucceeds.
}

// A run that needs far more memory than there is (a micro-batch the validator accepts, a model of
// terabytes of weights) is refused at start with the figures, exits non-zero by itself (no OOM
// kill, no abort) and writes nothing: its checkpoint.dir is never created. The worker runs under
// a virtual memory limit of 8 GiB, so that a regression aborts instead of calling the OOM killer
// onto the machine.
void ExpectMemoryRefusal(const std::string& name, const std::string& sets,
                         const std::vector<std::string>& needles) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  const Result r =
      RunWorker("--cfg " + TinyConfig() + ShardOverrides() + sets + " --set checkpoint.dir=" + dir +
                    " --set log.jsonl_path=" + dir + "/log.jsonl",
                kAddressLimit);
  ExpectFailure(r, "not enough host memory for this run");
  for (const std::string& needle : needles) ExpectFailure(r, needle);
  EXPECT_FALSE(std::filesystem::exists(dir)) << r.output;
}

TEST(WorkerErrors, MicroBatchBeyondTheMemoryIsRefusedAtStart) {
  // 2^20 sequences of 4096 tokens: the attention weights alone are hundreds of TiB.
  ExpectMemoryRefusal("mem_micro_batch",
                      " --set train.micro_batch=1048576 --set model.context=4096 --set "
                      "train.seq_len=4096",
                      {"activations", "train.micro_batch 1048576 x train.seq_len 4096", "weights",
                       "optimizer state", "gradients", "workspace/scratch", "per rank",
                       "1 rank on this node", "with the margin", "available", "TiB"});
}

TEST(WorkerErrors, ModelOfTerabytesIsRefusedAtStart) {
  // 2^24 x 2^16 embedding and head: 4 TiB of fp32 weights each.
  ExpectMemoryRefusal("mem_huge_model",
                      " --set model.vocab_size=16777216 --set model.d_model=65536",
                      {"weights", "model.vocab_size 16777216, d_model 65536", "TiB", "available"});
}

// With the GPT-2 files fetched, shards that record them and data.tokenizer naming them (else
// unrecorded shards, which are not checked).
TEST(WorkerErrors, ValidRunSucceeds) {
  std::string data = ShardOverrides();
  const std::string encoder = testing::DataPath("encoder.json");
  absl::StatusOr<std::string> json = ReadWholeFile(encoder);
  absl::StatusOr<std::string> bpe = ReadWholeFile(testing::DataPath("vocab.bpe"));
  if (json.ok() && bpe.ok()) {
    const TokenizerIdentity gpt2 = Gpt2Identity(*json, *bpe, 50257);
    data = ShardOverrides(gpt2, gpt2) + " --set data.tokenizer=" + encoder;
  }
  const Result r =
      RunWorker("--cfg " + TinyConfig() + data + " --set train.steps=2 --set train.eval_every=0");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"step\":1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bits/byte"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace dqt
