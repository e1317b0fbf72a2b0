// The golden runs: the tiny config on real text from a fixed seed, in fp32 ("fp"), DQT-8 with int8
// per-token activations ("dqt8"), DQT-ternary on every tensor ("ternary_all") and BitNet b1.58
// ("bitnet"); shared by golden_test and golden_record.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/status.h"
#include "core/train/trainer.h"
#include "data/gpt2_tokenizer.h"
#include "data/token_shard.h"
#include "launch/config.h"

namespace dqt::testing {

// The first `bytes` of `text_file` in DQT_DATA_DIR tokenized into dir/name.
inline absl::StatusOr<std::string> GoldenShard(const std::string& text_file, size_t bytes,
                                               const std::string& dir, const std::string& name) {
  const char* data = std::getenv("DQT_DATA_DIR");
  const std::string data_dir = data != nullptr ? data : "data_cache";
  DQT_ASSIGN_OR_RETURN(Gpt2Tokenizer tok,
                       Gpt2Tokenizer::Load(data_dir + "/encoder.json", data_dir + "/vocab.bpe"));
  std::ifstream in(data_dir + "/" + text_file, std::ios::binary);
  std::string text(bytes, '\0');
  in.read(text.data(), bytes);
  if (static_cast<size_t>(in.gcount()) != bytes) {
    return absl::NotFoundError(data_dir + "/" + text_file + " is missing or short");
  }
  const std::string path = dir + "/" + name;
  DQT_RETURN_IF_ERROR(WriteTokenShard(path, tok.Encode(text), text.size()));
  return path;
}

// Losses of the 10 steps of golden run `mode`; scratch files go to `dir`.
// `extra` overrides are applied last (e.g. memory switches that must not change a number).
inline absl::StatusOr<std::vector<double>> GoldenLosses(
    const std::string& mode, const std::string& dir, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> overrides;
  if (mode == "dqt8") {  // the paper's numerics: int8 codes, int8 per-token activations
    overrides = {"quant.optimizer=DQT", "quant.weight_format=INTEGER", "quant.weight_bits=8",
                 "quant.int8_activations=true"};
  } else if (mode == "ternary_all") {  // every tensor ternary, block-8 moments
    overrides = {"quant.optimizer=DQT", "quant.weight_format=TERNARY", "quant.policy=ALL",
                 "quant.moments=INT8"};
  } else if (mode == "bitnet") {
    overrides = {"quant.optimizer=BITNET", "quant.weight_format=TERNARY",
                 "quant.int8_activations=true"};
  } else if (mode != "fp") {
    return absl::InvalidArgumentError("golden run must be fp, dqt8, ternary_all or bitnet, got " +
                                      mode);
  }
  DQT_ASSIGN_OR_RETURN(const std::string train,
                       GoldenShard("gutenberg_train.txt", 200000, dir, "golden_train.bin"));
  DQT_ASSIGN_OR_RETURN(const std::string eval,
                       GoldenShard("gutenberg_heldout.txt", 40000, dir, "golden_eval.bin"));
  const char* src = std::getenv("DQT_SOURCE_DIR");
  overrides.insert(overrides.end(),
                   {"data.train_shard=" + train, "data.eval_shard=" + eval, "optimizer.lr=1e-2",
                    "log.jsonl_path=" + dir + "/golden_" + mode + ".jsonl"});
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  DQT_ASSIGN_OR_RETURN(proto::RunProto run, LoadRunProto(std::string(src != nullptr ? src : ".") +
                                                             "/launch/configs/tiny.pbtxt",
                                                         overrides));
  DQT_RETURN_IF_ERROR(ValidateRunProto(run));
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer, Trainer::Create(ToRunConfig(run)));
  DQT_RETURN_IF_ERROR(trainer->Run());
  return trainer->step_losses();
}

}  // namespace dqt::testing
