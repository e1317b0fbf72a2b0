// dqt_modules: module decomposition of a frozen checkpoint by learned weight masks, and
// recomposition of modules into an ordinary checkpoint (ALGORITHMS.md 6, docs/MODULES.md).
//   dqt_modules extract --ckpt CKPT --data DIR --domains a,b,c --out MODULES [--keep 0.25] ...
//   dqt_modules baseline --ckpt CKPT --kind random|magnitude --keep F --out FILE.module
//   dqt_modules compose --ckpt CKPT --modules MODULES --domains a,b --out PARENT
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"
#include "core/modules/extract.h"
#include "core/modules/module_masks.h"
#include "core/train/checkpoint.h"
#include "data/token_shard.h"
#include "launch/flags.h"
#include "launch/model_loading.h"

namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] =
    "extract|baseline|compose ...\n"
    "  extract  --ckpt CKPT --data DIR --domains a,b[,...] --out MODULES_DIR [--keep 0.25]\n"
    "           [--steps 300] [--batch 8] [--seq 64] [--lr 0.05] [--share 1] [--schedule\n"
    "           sequential|joint] [--seed 1]: learns one mask per domain from "
    "DIR/<domain>_train.bin\n"
    "           and writes MODULES_DIR/<domain>.module\n"
    "  baseline --ckpt CKPT --kind random|magnitude --keep F --out FILE.module [--seed 1]\n"
    "  compose  --ckpt CKPT --modules MODULES_DIR --domains a,b[,...] --out PARENT_DIR: the union\n"
    "           of the domains' masks applied to CKPT, written as PARENT_DIR/step_<N> (a "
    "checkpoint\n"
    "           of the same model, weights only)";

struct Args {
  std::string ckpt, data, domains, out, modules, kind = "random", schedule = "sequential";
  double keep = 0.25, lr = 0.05, share = 1.0;
  int64_t steps = 300, batch = 8, seq = 64, seed = 1;
};

// The checkpoint in its own storage (codes stay codes), on the CPU.
absl::StatusOr<std::unique_ptr<dqt::LlamaModel>> LoadFrozen(const std::string& ckpt) {
  if (ckpt.empty()) return absl::InvalidArgumentError("--ckpt is required");
  DQT_ASSIGN_OR_RETURN(const dqt::CheckpointInfo info, dqt::ReadCheckpointInfo(ckpt));
  DQT_RETURN_IF_ERROR(dqt::ValidateModelShape(info.config));
  auto model = std::make_unique<dqt::LlamaModel>(info.config);
  DQT_RETURN_IF_ERROR(dqt::RestoreCheckpoint(ckpt, model->params(), nullptr).status());
  return model;
}

absl::StatusOr<std::vector<std::string>> Domains(const std::string& list) {
  std::vector<std::string> out;
  for (absl::string_view d : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    out.emplace_back(d);
    if (out.back().find_first_of("/ +") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("domain name '", d, "' has '/', ' ' or '+'"));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("--domains is required (a,b,...)");
  return out;
}

// The names of the files `dir`/*`suffix`, without the suffix (for error messages).
std::string Available(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() > suffix.size() && f.ends_with(suffix)) {
      names.push_back(f.substr(0, f.size() - suffix.size()));
    }
  }
  std::sort(names.begin(), names.end());
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

absl::Status Extract(const Args& a) {
  if (a.data.empty() || a.out.empty()) {
    return absl::InvalidArgumentError("extract needs --data and --out");
  }
  dqt::ExtractConfig config;
  config.keep = a.keep;
  config.steps = static_cast<int>(a.steps);
  config.batch = static_cast<int>(a.batch);
  config.seq = static_cast<int>(a.seq);
  config.lr = static_cast<float>(a.lr);
  config.share = static_cast<float>(a.share);
  config.seed = static_cast<uint64_t>(a.seed);
  if (a.schedule == "joint") {
    config.schedule = dqt::ModuleSchedule::kJoint;
  } else if (a.schedule != "sequential") {
    return absl::InvalidArgumentError(
        absl::StrCat("--schedule '", a.schedule, "': sequential or joint"));
  }
  DQT_RETURN_IF_ERROR(dqt::ValidateExtractConfig(config));
  DQT_ASSIGN_OR_RETURN(const std::vector<std::string> domains, Domains(a.domains));
  std::vector<dqt::TokenShard> shards;
  for (const std::string& d : domains) {
    const std::string path = a.data + "/" + d + "_train.bin";
    if (!fs::exists(path)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown domain '", d, "': no ", path,
                                                     " (domains in ", a.data, ": ",
                                                     Available(a.data, "_train.bin"), ")"));
    }
    DQT_ASSIGN_OR_RETURN(dqt::TokenShard shard, dqt::TokenShard::Open(path));
    if (shard.size() < static_cast<uint64_t>(a.seq) + 2) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is shorter than one window"));
    }
    shards.push_back(std::move(shard));
  }
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::LlamaModel> model, LoadFrozen(a.ckpt));
  std::vector<std::mt19937_64> rngs;
  for (size_t j = 0; j < domains.size(); ++j) rngs.emplace_back(a.seed * 1000003 + j);
  const int seq = config.seq;
  auto batches = [&](int j, int, int32_t* inputs, int32_t* targets) {
    std::vector<int32_t> window(seq + 1);
    for (int b = 0; b < config.batch; ++b) {
      const uint64_t start = rngs[j]() % (shards[j].size() - seq);
      shards[j].Copy(start, seq + 1, window.data());
      std::copy(window.begin(), window.end() - 1, inputs + b * seq);
      std::copy(window.begin() + 1, window.end(), targets + b * seq);
    }
  };
  double sum = 0;
  int n = 0, last = -1;
  auto log = [&](int j, int step, double loss) {
    if (j != last) {
      sum = 0;
      n = 0;
      last = j;
    }
    sum += loss;
    ++n;
    if ((step + 1) % 50 == 0) {
      std::printf("module %s step %d: masked loss %.4f (mean of the last %d steps)\n",
                  domains[j].c_str(), step + 1, sum / n, n);
      std::fflush(stdout);
      sum = 0;
      n = 0;
    }
  };
  DQT_ASSIGN_OR_RETURN(std::vector<dqt::ModuleMasks> modules,
                       dqt::ExtractModules(*model, config, domains, batches, log));
  std::error_code ec;
  fs::create_directories(a.out, ec);
  for (const dqt::ModuleMasks& m : modules) {
    const std::string path = a.out + "/" + m.domain + ".module";
    DQT_RETURN_IF_ERROR(dqt::SaveModule(path, m));
    std::printf("%s: kept %.4f of the linear weights\n", path.c_str(),
                dqt::SizeOf(model->context(), m).fraction());
  }
  return absl::OkStatus();
}

absl::Status Baseline(const Args& a) {
  if (a.out.empty()) return absl::InvalidArgumentError("baseline needs --out");
  if (!(a.keep > 0 && a.keep <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("keep fraction ", a.keep, " is outside (0, 1]"));
  }
  dqt::BaselineMask kind;
  if (a.kind == "random") {
    kind = dqt::BaselineMask::kRandom;
  } else if (a.kind == "magnitude") {
    kind = dqt::BaselineMask::kMagnitude;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--kind '", a.kind, "': random or magnitude"));
  }
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::LlamaModel> model, LoadFrozen(a.ckpt));
  const std::string domain = fs::path(a.out).stem().string();
  const dqt::ModuleMasks m =
      dqt::BaselineModule(*model, kind, a.keep, static_cast<uint64_t>(a.seed), domain);
  DQT_RETURN_IF_ERROR(dqt::SaveModule(a.out, m));
  std::printf("%s: %s mask, kept %.4f of the linear weights\n", a.out.c_str(), a.kind.c_str(),
              dqt::SizeOf(model->context(), m).fraction());
  return absl::OkStatus();
}

absl::Status Compose(const Args& a) {
  if (a.modules.empty() || a.out.empty()) {
    return absl::InvalidArgumentError("compose needs --modules and --out");
  }
  DQT_ASSIGN_OR_RETURN(const std::vector<std::string> domains, Domains(a.domains));
  std::vector<dqt::ModuleMasks> modules;
  for (const std::string& d : domains) {
    const std::string path = a.modules + "/" + d + ".module";
    if (!fs::exists(path)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown domain '", d, "': no ", path,
                                                     " (modules in ", a.modules, ": ",
                                                     Available(a.modules, ".module"), ")"));
    }
    DQT_ASSIGN_OR_RETURN(dqt::ModuleMasks m, dqt::LoadModule(path, dqt::Device::kCpu));
    modules.push_back(std::move(m));
  }
  std::vector<const dqt::ModuleMasks*> parts;
  for (const dqt::ModuleMasks& m : modules) parts.push_back(&m);
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::LlamaModel> model, LoadFrozen(a.ckpt));
  const dqt::ExecContext& ctx = model->context();
  DQT_ASSIGN_OR_RETURN(dqt::ModuleMasks u, dqt::UnionOf(ctx, parts));
  DQT_RETURN_IF_ERROR(dqt::CheckFits(u, model->params(), dqt::BaseWeightsId(model->params())));
  dqt::ApplyModule(ctx, u, model->params());
  DQT_ASSIGN_OR_RETURN(const dqt::CheckpointInfo info, dqt::ReadCheckpointInfo(a.ckpt));
  DQT_ASSIGN_OR_RETURN(const std::string dir,
                       dqt::SaveCheckpoint(a.out, model->params(), nullptr, info.state));
  std::printf("%s: modules %s, kept %.4f of the linear weights\n", dir.c_str(), u.domain.c_str(),
              dqt::SizeOf(ctx, u).fraction());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  dqt::Flags flags("dqt_modules", kUsage);
  flags.String("ckpt", &a.ckpt, "base checkpoint (a step_NNNNNN directory), frozen");
  flags.String("data", &a.data, "extract: folder of <domain>_train.bin token shards");
  flags.String("domains", &a.domains, "comma-separated domain names");
  flags.String("out", &a.out,
               "extract: folder for <domain>.module; baseline: the module file; compose: parent "
               "folder of the checkpoint");
  flags.String("modules", &a.modules, "compose: folder of <domain>.module files");
  flags.String("kind", &a.kind, "baseline: random or magnitude");
  flags.String("schedule", &a.schedule,
               "extract: sequential (each module rewarded for weights earlier ones keep) or "
               "joint (all modules at once, rewarded for the others' current masks)");
  flags.Double("keep", &a.keep, "fraction of each linear weight tensor a module keeps, (0, 1]");
  flags.Double("lr", &a.lr, "extract: Adam learning rate of the scores");
  flags.Double("share", &a.share,
               "extract: weight of the sharing reward (nats per unit of mean overlap)");
  flags.Int("steps", &a.steps, "extract: score updates per module");
  flags.Int("batch", &a.batch, "extract: windows per update");
  flags.Int("seq", &a.seq, "extract: tokens per window (at most the model's context)");
  flags.Int("seed", &a.seed, "score init, window sampling and random baselines");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_modules", s);
  const std::vector<std::string>& pos = flags.positional();
  if (pos.size() != 1) {
    return dqt::FailWith("dqt_modules",
                         absl::InvalidArgumentError("expected one command: extract, baseline or "
                                                    "compose (see --help)"));
  }
  if (pos[0] == "extract") return dqt::FailWith("dqt_modules", Extract(a));
  if (pos[0] == "baseline") return dqt::FailWith("dqt_modules", Baseline(a));
  if (pos[0] == "compose") return dqt::FailWith("dqt_modules", Compose(a));
  return dqt::FailWith("dqt_modules",
                       absl::InvalidArgumentError(absl::StrCat("unknown command '", pos[0], "'")));
}
