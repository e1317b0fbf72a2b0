// dqt_prepare: tokenizes text files with GPT-2 BPE (each followed by <|endoftext|>) or a
// SentencePiece tokenizer.model (each followed by its </s>), in order, into one token shard that
// records the source byte count (for bits per byte) and which tokenizer made it.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "data/gpt2_files.h"
#include "data/gpt2_tokenizer.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/token_shard.h"
#include "data/utf8.h"
#include "launch/file_io.h"
#include "launch/flags.h"
#include "launch/progress.h"
#include "launch/text_pieces.h"

namespace dqt {
namespace {

constexpr char kProgram[] = "dqt_prepare";

// The shard is written after every input is read, so an --out that is one of the inputs (by
// name, through a link, or by another path to the same file) would replace that text: refused.
absl::Status CheckOutIsNoInput(const std::string& out, const std::vector<std::string>& files) {
  std::error_code error;
  if (!std::filesystem::exists(out, error)) return absl::OkStatus();
  for (const std::string& f : files) {
    if (std::filesystem::equivalent(out, f, error)) {
      return absl::InvalidArgumentError(absl::StrCat("--out ", out, " is the input file ", f,
                                                     ": writing the shard would replace the text"));
    }
  }
  return absl::OkStatus();
}

absl::Status Run(int argc, char** argv) {
  std::string encoder = "data_cache/encoder.json";
  std::string vocab = "data_cache/vocab.bpe";
  std::string spm_model;
  std::string out;
  bool verify_hashes = true;
  Flags flags(kProgram,
              "--out shard.bin [--encoder E --vocab V | --spm_model tokenizer.model] file1.txt "
              "[file2.txt ...]");
  flags.String("encoder", &encoder, "GPT-2 encoder.json");
  flags.String("vocab", &vocab, "GPT-2 vocab.bpe");
  flags.String("spm_model", &spm_model,
               "a SentencePiece tokenizer.model to use instead of GPT-2 (dqt_tokenizer train)");
  flags.String("out", &out, "token shard to write (replaced atomically)");
  flags.Bool("verify_hashes", &verify_hashes, "require OpenAI's sha256 for both files");
  DQT_RETURN_IF_ERROR(flags.Parse(argc, argv));
  const std::vector<std::string>& files = flags.positional();
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  if (files.empty()) return absl::InvalidArgumentError("no input files");
  DQT_RETURN_IF_ERROR(CheckOutIsNoInput(out, files));

  const auto start = std::chrono::steady_clock::now();
  // One of the two tokenizers, and its identity for the shard's header.
  std::optional<Gpt2Tokenizer> gpt2;
  std::optional<SentencePieceTokenizer> spm;
  TokenizerIdentity identity;
  if (spm_model.empty()) {
    DQT_ASSIGN_OR_RETURN(gpt2, Gpt2Tokenizer::Load(encoder, vocab, verify_hashes));
    DQT_ASSIGN_OR_RETURN(const std::string json_bytes, ReadWholeFile(encoder, "--encoder"));
    DQT_ASSIGN_OR_RETURN(const std::string bpe_bytes, ReadWholeFile(vocab, "--vocab"));
    identity = Gpt2Identity(json_bytes, bpe_bytes, gpt2->vocab_size());
  } else {
    DQT_ASSIGN_OR_RETURN(spm, SentencePieceTokenizer::Load(spm_model));
    if (spm->eos_id() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(spm_model, ": has no </s> piece to end each file with"));
    }
    DQT_ASSIGN_OR_RETURN(identity, SentencePieceIdentity(spm->serialized(), spm_model));
  }
  uint64_t total_bytes = 0;
  for (const std::string& f : files) {
    std::error_code error;
    const uintmax_t size = std::filesystem::file_size(f, error);
    if (!error) total_bytes += size;
  }
  // Large files are encoded in pieces (same ids as whole, see text_pieces.h) so that the
  // progress line moves within a file.
  constexpr size_t kPieceBytes = 8 << 20;
  constexpr double kMiB = 1 << 20;
  ProgressLine progress("tokenizing", total_bytes / kMiB, "MiB");
  std::vector<int32_t> tokens;
  uint64_t source_bytes = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    DQT_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(files[i], "input file"));
    if (const std::string why = BinaryContentReason(text); !why.empty()) {
      std::fprintf(stderr,
                   "%s%s: warning: %s looks like binary data, not text (%s bytes); tokenizing it "
                   "anyway\n",
                   progress.enabled() ? "\n" : "", kProgram, files[i].c_str(), why.c_str());
    }
    const std::string detail = absl::StrFormat("[%d/%d] %s", i + 1, files.size(), files[i]);
    uint64_t done = source_bytes;
    if (spm) {  // whole: SentencePiece's dummy "▁" prefix would start every piece
      const std::vector<int32_t> ids = spm->Encode(text);
      tokens.insert(tokens.end(), ids.begin(), ids.end());
      tokens.push_back(spm->eos_id());
      progress.Update((done + text.size()) / kMiB, detail);
    } else {
      for (std::string_view piece : SplitForTokenizing(text, kPieceBytes)) {
        const std::vector<int32_t> ids = gpt2->Encode(piece);
        tokens.insert(tokens.end(), ids.begin(), ids.end());
        done += piece.size();
        progress.Update(done / kMiB, detail);
      }
      tokens.push_back(gpt2->eot_id());
    }
    source_bytes += text.size();
  }
  progress.Finish();
  DQT_RETURN_IF_ERROR(WriteTokenShard(out, tokens, source_bytes, identity));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%s: %zu tokens from %llu bytes in %zu files, %.3f bytes/token, %.1f s; tokenizer %s\n",
      out.c_str(), tokens.size(), static_cast<unsigned long long>(source_bytes), files.size(),
      tokens.empty() ? 0.0 : double(source_bytes) / tokens.size(), seconds,
      identity.ToString().c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace dqt

int main(int argc, char** argv) { return dqt::FailWith(dqt::kProgram, dqt::Run(argc, argv)); }
