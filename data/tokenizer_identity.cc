// Tokenizer identities: sha256 (OpenSSL EVP) of the tokenizer's files, and the comparison.
#include "data/tokenizer_identity.h"

#include <openssl/evp.h>

#include <filesystem>
#include <initializer_list>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/status.h"
#include "data/gpt2_files.h"
#include "data/gpt2_tokenizer.h"
#include "data/sentencepiece_model.h"

namespace dqt {
namespace {

TokenizerIdentity Make(TokenizerKind kind, int vocab_size,
                       std::initializer_list<std::string_view> parts) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  DQT_CHECK(ctx != nullptr && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1);
  const uint32_t tag = static_cast<uint32_t>(kind);
  DQT_CHECK(EVP_DigestUpdate(ctx.get(), &tag, sizeof(tag)) == 1);
  for (std::string_view part : parts) {
    const uint64_t size = part.size();  // lengths too, so no two splits of a byte string collide
    DQT_CHECK(EVP_DigestUpdate(ctx.get(), &size, sizeof(size)) == 1);
    DQT_CHECK(EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  DQT_CHECK(EVP_DigestFinal_ex(ctx.get(), digest, &digest_len) == 1 && digest_len >= 16);
  TokenizerIdentity id;
  id.kind = kind;
  id.vocab_size = static_cast<uint32_t>(vocab_size);
  std::copy_n(digest, id.digest.size(), id.digest.begin());
  return id;
}

}  // namespace

std::string TokenizerIdentity::ToString() const {
  if (!recorded()) return "unrecorded";
  std::string hex;
  for (uint8_t b : digest) absl::StrAppendFormat(&hex, "%02x", b);
  const char* name = kind == TokenizerKind::kGpt2Bpe         ? "GPT-2 BPE"
                     : kind == TokenizerKind::kSentencePiece ? "SentencePiece"
                                                             : "unknown kind";
  return absl::StrCat(name, " (vocab ", vocab_size, ", sha256 ", hex, ")");
}

TokenizerIdentity Gpt2Identity(std::string_view encoder_json, std::string_view vocab_bpe,
                               int vocab_size) {
  return Make(TokenizerKind::kGpt2Bpe, vocab_size, {encoder_json, vocab_bpe});
}

absl::StatusOr<TokenizerIdentity> SentencePieceIdentity(std::string_view model,
                                                        const std::string& what) {
  DQT_ASSIGN_OR_RETURN(const SentencePieceModelInfo info, ParseSentencePieceModel(model, what));
  return Make(TokenizerKind::kSentencePiece, static_cast<int>(info.pieces.size()), {model});
}

absl::StatusOr<TokenizerIdentity> IdentifyTokenizerFile(const std::string& path) {
  DQT_ASSIGN_OR_RETURN(const std::string bytes, ReadWholeFile(path));
  absl::StatusOr<TokenizerIdentity> spm = SentencePieceIdentity(bytes, path);
  if (spm.ok()) return spm;
  const std::string vocab = (std::filesystem::path(path).parent_path() / "vocab.bpe").string();
  const bool json = !bytes.empty() && bytes.front() == '{';
  if (json && std::filesystem::exists(vocab)) {
    DQT_ASSIGN_OR_RETURN(const Gpt2Tokenizer gpt2,
                         Gpt2Tokenizer::Load(path, vocab, /*verify_hashes=*/false));
    DQT_ASSIGN_OR_RETURN(const std::string merges, ReadWholeFile(vocab));
    return Gpt2Identity(bytes, merges, gpt2.vocab_size());
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": not a tokenizer file this build reads: neither a SentencePiece tokenizer.model (",
      spm.status().message(), ") nor a GPT-2 encoder.json",
      json ? absl::StrCat(" (no vocab.bpe beside it: ", vocab, ")") : std::string()));
}

absl::Status CheckSameTokenizer(const TokenizerIdentity& a, const std::string& a_what,
                                const TokenizerIdentity& b, const std::string& b_what) {
  if (!a.recorded() || !b.recorded() || a == b) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(a_what, " was made by the tokenizer ",
                                                 a.ToString(), " but ", b_what, " by ",
                                                 b.ToString(), "; use one tokenizer for both"));
}

}  // namespace dqt
