// GPT-2 tokenizer file readers: sha256 via OpenSSL EVP, encoder.json, vocab.bpe.
#include "data/gpt2_files.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "data/utf8.h"

namespace dqt {
namespace {

// Minimal reader for encoder.json: one flat object of string keys and integer values.
class EncoderJsonReader {
 public:
  EncoderJsonReader(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ReadObject() {
    std::vector<std::pair<std::string, int64_t>> entries;
    SkipSpace();
    DQT_RETURN_IF_ERROR(Expect('{'));
    SkipSpace();
    if (!Consume('}')) {
      while (true) {
        std::pair<std::string, int64_t> entry;
        SkipSpace();
        DQT_RETURN_IF_ERROR(ReadString(&entry.first));
        SkipSpace();
        DQT_RETURN_IF_ERROR(Expect(':'));
        SkipSpace();
        DQT_RETURN_IF_ERROR(ReadInt(&entry.second));
        entries.push_back(std::move(entry));
        SkipSpace();
        if (Consume(',')) continue;
        DQT_RETURN_IF_ERROR(Expect('}'));
        break;
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the closing '}'");
    return entries;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    const size_t line = 1 + std::count(text_.begin(), text_.begin() + pos_, '\n');
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": byte ", pos_, " (line ", line, "): ", what));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  absl::Status Expect(char c) {
    if (Consume(c)) return absl::OkStatus();
    return Error(pos_ < text_.size()
                     ? absl::StrCat("expected '", std::string(1, c), "'")
                     : absl::StrCat("file ends where '", std::string(1, c), "' was expected"));
  }
  absl::Status ReadHex4(char32_t* out) {
    if (text_.size() - pos_ < 4) return Error("truncated \\u escape");
    *out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text_[pos_++];
      const int digit = (c >= '0' && c <= '9')   ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : -1;
      if (digit < 0) return Error("bad hex digit in \\u escape");
      *out = *out * 16 + digit;
    }
    return absl::OkStatus();
  }
  absl::Status ReadString(std::string* out) {
    DQT_RETURN_IF_ERROR(Expect('"'));
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in a string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return Error("unterminated escape");
      const char e = text_[pos_++];
      if (e != 'u') {
        constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
        const size_t k = kFrom.find(e);
        if (k == std::string_view::npos) {
          return Error(absl::StrCat("unknown escape \\", std::string(1, e)));
        }
        out->push_back(kTo[k]);
        continue;
      }
      char32_t cp = 0;
      DQT_RETURN_IF_ERROR(ReadHex4(&cp));
      if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("unpaired low surrogate in \\u escape");
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        char32_t low = 0;
        if (!Consume('\\') || !Consume('u')) return Error("unpaired high surrogate");
        DQT_RETURN_IF_ERROR(ReadHex4(&low));
        if (low < 0xDC00 || low > 0xDFFF) return Error("high surrogate without a low one");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
      AppendUtf8(cp, out);
    }
  }
  absl::Status ReadInt(int64_t* out) {
    const size_t start = pos_;
    *out = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      *out = *out * 10 + (text_[pos_++] - '0');
      if (*out > INT32_MAX) return Error("token id too large");
    }
    if (pos_ == start) return Error("expected a non-negative integer token id");
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
      return Error("token id is not an integer");
    }
    return absl::OkStatus();
  }

  const std::string& path_;
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  if (std::filesystem::is_directory(path)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return std::move(buffer).str();
}

absl::Status CheckSha256(const std::string& path, std::string_view contents,
                         std::string_view expected_hex) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(contents.data(), contents.size(), digest, &digest_len, EVP_sha256(), nullptr) !=
      1) {
    return absl::InternalError(absl::StrCat(path, ": OpenSSL SHA-256 failed"));
  }
  std::string got;
  for (unsigned int i = 0; i < digest_len; ++i) absl::StrAppendFormat(&got, "%02x", digest[i]);
  if (got != expected_hex) {
    return absl::DataLossError(absl::StrCat(
        path, ": sha256 ", got, ", expected ",
        absl::string_view(expected_hex.data(), expected_hex.size()), " (not OpenAI's GPT-2 file)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ParseEncoderJson(
    const std::string& path, std::string_view text) {
  return EncoderJsonReader(path, text).ReadObject();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseBpeMerges(
    const std::string& path, std::string_view text) {
  std::vector<std::pair<std::string, std::string>> merges;
  size_t line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_no == 1 && line.starts_with("#version")) continue;
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": line ", line_no, ": expected two tokens separated by one space, got \"",
          std::string(line), "\""));
    }
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return merges;
}

}  // namespace dqt
