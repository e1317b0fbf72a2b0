// dqt_export: writes a checkpoint as a Hugging Face transformers LlamaForCausalLM directory, or
// as a llama.cpp GGUF file (docs/INTEROP.md).
//   dqt_export --format safetensors --ckpt runs/x/step_000100 --out hf_model/ [--encoder --vocab]
//   dqt_export --format gguf --ckpt runs/x/step_000100 --out model.gguf [--encoder --vocab]
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "launch/flags.h"
#include "launch/gguf_export.h"
#include "launch/hf_export.h"
#include "launch/model_loading.h"
#include "launch/progress.h"

namespace {

struct ExportArgs {
  std::string format = "safetensors";
  std::string ckpt;
  std::string out;
  dqt::TokenizerPaths tokenizer;
  std::string gguf_ternary = "tq2_0";
};

absl::Status ExportGguf(const ExportArgs& args) {
  if (args.gguf_ternary != "tq2_0" && args.gguf_ternary != "tq1_0") {
    return absl::InvalidArgumentError(
        absl::StrCat("--gguf_ternary \"", args.gguf_ternary, "\": tq2_0 or tq1_0"));
  }
  const dqt::GgmlType ternary =
      args.gguf_ternary == "tq1_0" ? dqt::GgmlType::kTQ1_0 : dqt::GgmlType::kTQ2_0;
  DQT_ASSIGN_OR_RETURN(const dqt::GgufExportReport report,
                       dqt::ExportGguf(args.ckpt, args.out, args.tokenizer, ternary));
  std::map<std::string, int> counts;
  for (const auto& t : report.tensors) {
    ++counts[dqt::GgmlTypeName(t.type)];
    std::printf("  %-28s %-6s %s\n", t.name.c_str(), dqt::GgmlTypeName(t.type), t.note.c_str());
  }
  std::string summary;
  for (const auto& [type, n] : counts)
    summary += absl::StrCat(summary.empty() ? "" : ", ", n, " ", type);
  std::printf(
      "dqt_export: wrote %s (GGUF v3, llama architecture, %s tokenizer; %lld bytes; "
      "tensors: %s) from %s\n",
      args.out.c_str(), args.tokenizer.spm_model.empty() ? "GPT-2" : "SentencePiece",
      static_cast<long long>(report.bytes), summary.c_str(), args.ckpt.c_str());
  return absl::OkStatus();
}

absl::Status Main(const ExportArgs& args) {
  bool known = false;
  for (const char* f : dqt::kExportFormats) known = known || args.format == f;
  if (!known) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported --format \"", args.format,
                     "\"; supported: ", absl::StrJoin(dqt::kExportFormats, ", ")));
  }
  if (args.out.empty()) return absl::InvalidArgumentError("--out is required");
  if (args.format == "gguf") return ExportGguf(args);
  if (!args.tokenizer.spm_model.empty()) {
    return absl::InvalidArgumentError(
        "--spm_model is for --format gguf; the safetensors export writes GPT-2 tokenizer files");
  }
  dqt::ProgressLine progress("exporting", 2, "stages");
  progress.Update(0, "loading " + args.ckpt);
  // Loaded as trained, so its config says whether the activations were int8 (the weights are the
  // same either way); LlamaForCausalLM has no activation quantization, which the output states.
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<dqt::LlamaModel> model, dqt::LoadModel(args.ckpt));
  progress.Update(1, "writing " + args.out);
  DQT_RETURN_IF_ERROR(dqt::ExportHuggingFaceLlama(model->params(), args.out, &args.tokenizer));
  progress.Update(2, "done");
  progress.Finish();
  int64_t parameters = 0;
  for (const dqt::ParamTensor& t : model->params().tensors()) parameters += t.numel;
  std::printf(
      "dqt_export: wrote %s (model.safetensors: %zu tensors, %lld parameters; "
      "config.json; GPT-2 tokenizer files) from %s\n%s\n",
      args.out.c_str(), model->params().tensors().size(), static_cast<long long>(parameters),
      args.ckpt.c_str(), dqt::HuggingFaceComputes(model->config()).c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  ExportArgs args;
  dqt::Flags flags("dqt_export",
                   "--format safetensors|gguf --ckpt CKPT --out DIR|FILE.gguf [--encoder FILE] "
                   "[--vocab FILE]");
  flags.String("format", &args.format,
               "output format: safetensors (a transformers directory) or gguf (llama.cpp)");
  flags.String("ckpt", &args.ckpt, "checkpoint written by dqt_worker (a step_NNNNNN directory)");
  flags.String("out", &args.out,
               "output directory (safetensors, created if missing) or file (gguf)");
  flags.String("gguf_ternary", &args.gguf_ternary,
               "gguf: ternary tensors as tq2_0 (2 bits/weight) or tq1_0 (1.6875)");
  dqt::DeclareTokenizerFlags(flags, &args.tokenizer);
  flags.String("spm_model", &args.tokenizer.spm_model,
               "gguf: a SentencePiece BPE tokenizer.model to write instead of GPT-2's");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_export", s);
  if (!flags.positional().empty()) {
    return dqt::FailWith(
        "dqt_export", absl::InvalidArgumentError("unexpected argument " + flags.positional()[0]));
  }
  return dqt::FailWith("dqt_export", Main(args));
}
