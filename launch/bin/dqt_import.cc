// dqt_import: a Hugging Face LlamaForCausalLM directory (config.json + *.safetensors) as a dqt
// checkpoint (fp32 weights, step 0, no optimizer state) to train, continue or quantize from.
//   dqt_import --hf hf_model/ --out runs/imported   (writes runs/imported/step_000000)
#include <cstdio>
#include <memory>
#include <string>

#include "core/base/status.h"
#include "core/train/checkpoint.h"
#include "launch/flags.h"
#include "launch/hf_import.h"

namespace {

absl::Status Main(const std::string& hf, const std::string& out) {
  if (hf.empty()) return absl::InvalidArgumentError("--hf is required");
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::LlamaParams> params, dqt::ImportHuggingFaceLlama(hf));
  DQT_ASSIGN_OR_RETURN(const std::string saved, dqt::SaveCheckpoint(out, *params, nullptr, {}));
  std::printf("dqt_import: wrote %s (%lld parameters) from %s\n", saved.c_str(),
              static_cast<long long>(params->numel()), hf.c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::string hf, out;
  dqt::Flags flags("dqt_import", "--hf DIR --out CKPT_PARENT");
  flags.String("hf", &hf, "Hugging Face LlamaForCausalLM directory (config.json, *.safetensors)");
  flags.String("out", &out, "checkpoint parent directory (step_000000 is written in it)");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_import", s);
  return dqt::FailWith("dqt_import", Main(hf, out));
}
