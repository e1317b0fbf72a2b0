// dqt_tokenizer and dqt_import end to end through the binaries ($DQT_BIN_DIR): outputs and errors.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/model/llama_params.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/hf_export.h"
#include "launch/model_loading.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/text_shards.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

using ::dqt::testing::IsOk;
using ::testing::HasSubstr;

struct Result {
  int code = -1;
  std::string out;
};

Result RunTool(const std::string& tool, const std::string& args) {
  const char* bin = std::getenv("DQT_BIN_DIR");
  const std::string command =
      std::string(bin ? bin : "build/launch") + "/" + tool + " " + args + " 2>&1";
  Result r;
  FILE* pipe = popen(command.c_str(), "r");
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(InteropToolsTest, TokenizerTrainsAndEncodes) {
  if (!std::filesystem::exists(testing::DataPath("gutenberg_train.txt"))) GTEST_SKIP();
  const std::string dir = ::testing::TempDir() + "/tok_tool";
  std::filesystem::create_directories(dir);
  std::ifstream in(testing::DataPath("gutenberg_train.txt"), std::ios::binary);
  std::string corpus(200000, '\0');
  in.read(corpus.data(), corpus.size());
  std::ofstream(dir + "/corpus.txt", std::ios::binary) << corpus;
  Result r = RunTool("dqt_tokenizer", "train --input " + dir +
                                          "/corpus.txt --vocab_size 600 "
                                          "--model_type unigram --out " +
                                          dir + "/tok");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("tok.model (unigram, 600 pieces)"));
  r = RunTool("dqt_tokenizer", "encode --model " + dir + "/tok.model --text 'Emma Woodhouse'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(r.out.empty());
  r = RunTool("dqt_tokenizer", "encode --model " + testing::DataPath("encoder.json") + " --text x");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("is not a SentencePiece model"));
  r = RunTool("dqt_tokenizer", "frobnicate");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("unknown command \"frobnicate\""));
  std::filesystem::remove_all(dir);
}

TEST(InteropToolsTest, ImportWritesACheckpointThatLoads) {
  const std::string dir = ::testing::TempDir() + "/import_tool";
  std::filesystem::remove_all(dir);
  LlamaParams params(testing::TinyModel());
  ASSERT_THAT(params.Init(), IsOk());
  ASSERT_THAT(ExportHuggingFaceLlama(params, dir + "/hf", nullptr), IsOk());
  Result r = RunTool("dqt_import", "--hf " + dir + "/hf --out " + dir + "/ckpt");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("step_000000"));
  EXPECT_THAT(LoadModel(dir + "/ckpt/step_000000"), IsOk());
  std::filesystem::remove(dir + "/hf/config.json");
  r = RunTool("dqt_import", "--hf " + dir + "/hf --out " + dir + "/ckpt2");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("config.json"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dqt
