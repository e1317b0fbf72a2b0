// dqt_modules end to end through the binary (from $DQT_BIN_DIR) on a tiny DQT-8 checkpoint:
// extract, baseline and compose write files that load (the composed checkpoint through the same
// LoadModel as dqt_eval, with the masked codes zero), and bad input is a clear error with a
// non-zero exit: a keep fraction outside (0, 1], an unknown domain, a module of another base.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/modules/module_masks.h"
#include "core/train/checkpoint.h"
#include "data/token_shard.h"
#include "gtest/gtest.h"
#include "launch/model_loading.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

class DqtModulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("DQT_BIN_DIR");
    binary_ = std::string(bin ? bin : "build/launch") + "/dqt_modules";
    ASSERT_TRUE(std::filesystem::exists(binary_)) << binary_ << " not built";
    char pattern[] = "/tmp/dqt_modules_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    ckpt_ = SaveTiny(dir_ + "/base", 1);
    other_ckpt_ = SaveTiny(dir_ + "/other", 2);
    std::filesystem::create_directories(dir_ + "/data");
    for (const char* d : {"a", "b"}) {
      std::vector<int32_t> tokens(400);
      for (size_t i = 0; i < tokens.size(); ++i)
        tokens[i] = int32_t((i * (d[0] == 'a' ? 3 : 5)) % 13);
      ASSERT_TRUE(WriteTokenShard(dir_ + "/data/" + d + "_train.bin", tokens, 400).ok());
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  static LlamaConfig Config(uint64_t seed) {
    LlamaConfig c = testing::TinyModel();
    c.seed = seed;
    c.quant.optimizer = OptimizerKind::kDqt;
    c.quant.grid = QuantGrid::Integer(8);
    return c;
  }
  static std::string SaveTiny(const std::string& parent, uint64_t seed) {
    LlamaParams params(Config(seed));
    EXPECT_TRUE(params.Init().ok());
    absl::StatusOr<std::string> saved = SaveCheckpoint(parent, params, nullptr, {});
    EXPECT_TRUE(saved.ok()) << saved.status();
    return saved.ok() ? *saved : "";
  }

  RunResult Run(const std::string& args) {
    const std::string err_path = dir_ + "/stderr.txt";
    const std::string command = "OMP_NUM_THREADS=1 " + binary_ + " " + args + " 2>" + err_path;
    RunResult r;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return r;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) r.out.append(buf, n);
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_path);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    return r;
  }
  std::string Extract(const std::string& extra) {
    return "extract --ckpt " + ckpt_ + " --data " + dir_ + "/data --out " + dir_ +
           "/modules --steps 3 --batch 2 --seq 8 " + extra;
  }

  std::string binary_, dir_, ckpt_, other_ckpt_;
};

TEST_F(DqtModulesTest, ExtractComposeAndLoad) {
  RunResult r = Run(Extract("--domains a,b --keep 0.5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Run("compose --ckpt " + ckpt_ + " --modules " + dir_ + "/modules --domains a,b --out " +
          dir_ + "/composed");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("modules a+b"), std::string::npos) << r.out;
  // The composed checkpoint: an ordinary DQT checkpoint whose masked codes are zero.
  std::string composed;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/composed")) {
    composed = e.path().string();
  }
  absl::StatusOr<std::unique_ptr<LlamaModel>> loaded = LoadModel(composed);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  LlamaModel base(Config(1)), masked(Config(1));
  ASSERT_TRUE(RestoreCheckpoint(ckpt_, base.params(), nullptr).ok());
  ASSERT_TRUE(RestoreCheckpoint(composed, masked.params(), nullptr).ok());
  absl::StatusOr<ModuleMasks> a = LoadModule(dir_ + "/modules/a.module", Device::kCpu);
  absl::StatusOr<ModuleMasks> b = LoadModule(dir_ + "/modules/b.module", Device::kCpu);
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<ModuleMasks> u = UnionOf(base.context(), {&*a, &*b});
  ASSERT_TRUE(u.ok());
  ApplyModule(base.context(), *u, base.params());
  EXPECT_EQ(BaseWeightsId(base.params()), BaseWeightsId(masked.params()));
  const int64_t kept = SizeOf(base.context(), *u).kept, total = SizeOf(base.context(), *u).total;
  EXPECT_GE(kept, total / 2);
  EXPECT_LT(kept, total);
}

TEST_F(DqtModulesTest, BadKeepFraction) {
  for (const char* keep : {"0", "1.5", "-0.2"}) {
    const RunResult r = Run(Extract(std::string("--domains a --keep ") + keep));
    EXPECT_NE(r.exit_code, 0) << keep;
    EXPECT_NE(r.err.find("outside (0, 1]"), std::string::npos) << r.err;
  }
  const RunResult r =
      Run("baseline --ckpt " + ckpt_ + " --kind random --keep 2 --out " + dir_ + "/x.module");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("outside (0, 1]"), std::string::npos) << r.err;
}

TEST_F(DqtModulesTest, UnknownDomain) {
  RunResult r = Run(Extract("--domains a,nope"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown domain 'nope'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("a, b"), std::string::npos) << r.err;  // lists the known ones
  ASSERT_EQ(Run(Extract("--domains a")).exit_code, 0);
  r = Run("compose --ckpt " + ckpt_ + " --modules " + dir_ + "/modules --domains a,zzz --out " +
          dir_ + "/c");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown domain 'zzz'"), std::string::npos) << r.err;
}

TEST_F(DqtModulesTest, ModulesOfAnotherBase) {
  ASSERT_EQ(Run(Extract("--domains a")).exit_code, 0);
  ASSERT_EQ(Run("baseline --ckpt " + other_ckpt_ + " --kind magnitude --keep 0.3 --out " + dir_ +
                "/modules/foreign.module")
                .exit_code,
            0);
  // Two modules of different bases.
  RunResult r = Run("compose --ckpt " + ckpt_ + " --modules " + dir_ +
                    "/modules --domains a,foreign --out " + dir_ + "/c");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("another base checkpoint"), std::string::npos) << r.err;
  // One module applied to a base it was not extracted from.
  r = Run("compose --ckpt " + ckpt_ + " --modules " + dir_ + "/modules --domains foreign --out " +
          dir_ + "/c");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("another base checkpoint"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/c"));
}

}  // namespace
}  // namespace dqt
