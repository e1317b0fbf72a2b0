// GPT-2 byte-level BPE: building the vocabulary and merge table from the checked files, the
// PCRE2 pre-tokenizer, rank-ordered merges and the parallel chunked encode.
#include "data/gpt2_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <functional>
#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/parallel.h"
#include "core/base/status.h"
#include "data/gpt2_files.h"
#include "data/utf8.h"

namespace dqt {
namespace {

constexpr char kEndOfText[] = "<|endoftext|>";

// GPT-2's pre-tokenizer with `\s` spelled out as the Unicode White_Space property, so the
// result does not depend on how a PCRE2 version defines `\s` under UCP.
#define DQT_GPT2_WS                                                                        \
  "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
  "\\x{202F}\\x{205F}\\x{3000}"
constexpr char kPattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" DQT_GPT2_WS "\\p{L}\\p{N}]+|[" DQT_GPT2_WS
    "]+(?![^" DQT_GPT2_WS "])|[" DQT_GPT2_WS "]+";
#undef DQT_GPT2_WS

// Chunks are at least this long (shorter inputs are encoded on one thread); each chunk has
// its own piece cache, so one chunk per thread avoids redoing BPE for the same words.
constexpr size_t kMinChunkBytes = size_t{256} << 10;

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
// take the code points 256.. in byte order, so every byte has a visible one-character spelling.
std::array<char32_t, 256> ByteToUnicode() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

// A cut at `p` cannot change the regex pieces when s[p-1] is a lone '\n' between two printable
// ASCII characters: that '\n' is then a piece of its own in both the whole text and the chunk
// (where `\s+(?!\S)` also takes it at the end), and no piece reaches across it.
bool IsSafeCut(std::string_view s, size_t p) {
  auto graph = [](char c) { return c >= '!' && c <= '~'; };
  return p >= 2 && p < s.size() && s[p - 1] == '\n' && graph(s[p - 2]) && graph(s[p]);
}

// Chunk boundaries [0, ..., s.size()] with about `chunks` pieces, each cut at a safe place.
std::vector<size_t> ChunkBoundaries(std::string_view s, size_t chunks) {
  std::vector<size_t> cuts = {0};
  for (size_t c = 1; c < chunks; ++c) {
    size_t p = std::max(s.size() / chunks * c, cuts.back() + 1);
    while (p < s.size() && !IsSafeCut(s, p)) ++p;
    if (p >= s.size()) break;
    cuts.push_back(p);
  }
  cuts.push_back(s.size());
  return cuts;
}

}  // namespace

struct Gpt2Tokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

Gpt2Tokenizer::Gpt2Tokenizer() = default;
Gpt2Tokenizer::Gpt2Tokenizer(Gpt2Tokenizer&&) noexcept = default;
Gpt2Tokenizer& Gpt2Tokenizer::operator=(Gpt2Tokenizer&&) noexcept = default;
Gpt2Tokenizer::~Gpt2Tokenizer() = default;

absl::StatusOr<Gpt2Tokenizer> Gpt2Tokenizer::Load(const std::string& encoder_json,
                                                  const std::string& vocab_bpe,
                                                  bool verify_hashes) {
  DQT_ASSIGN_OR_RETURN(const std::string json_text, ReadWholeFile(encoder_json));
  DQT_ASSIGN_OR_RETURN(const std::string bpe_text, ReadWholeFile(vocab_bpe));
  if (verify_hashes) {
    DQT_RETURN_IF_ERROR(CheckSha256(encoder_json, json_text, kGpt2EncoderJsonSha256));
    DQT_RETURN_IF_ERROR(CheckSha256(vocab_bpe, bpe_text, kGpt2VocabBpeSha256));
  }
  auto bad_encoder = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(encoder_json, ": ", what));
  };

  Gpt2Tokenizer tok;
  DQT_ASSIGN_OR_RETURN(auto entries, ParseEncoderJson(encoder_json, json_text));
  const size_t n = entries.size();
  if (n < 256) return bad_encoder(absl::StrCat("has ", n, " tokens, fewer than the 256 bytes"));
  std::array<int, 0x144> unicode_to_byte;  // bytes_to_unicode only uses code points < 0x144
  unicode_to_byte.fill(-1);
  const std::array<char32_t, 256> byte_to_unicode = ByteToUnicode();
  for (int b = 0; b < 256; ++b) unicode_to_byte[byte_to_unicode[b]] = b;

  std::unordered_map<std::string, int32_t> symbol_to_id;
  tok.token_symbols_.resize(n);
  tok.token_bytes_.resize(n);
  for (auto& [symbol, id] : entries) {
    if (id >= static_cast<int64_t>(n)) {
      return bad_encoder(absl::StrCat("token \"", symbol, "\" has id ", id, ", but ids must be ",
                                      "0..", n - 1, " (one per entry)"));
    }
    if (!symbol_to_id.emplace(symbol, id).second) {
      return bad_encoder(absl::StrCat("token \"", symbol, "\" appears twice"));
    }
    if (!tok.token_symbols_[id].empty() || symbol.empty()) {
      return bad_encoder(absl::StrCat("id ", id, " is used twice or has an empty token"));
    }
    std::string& bytes = tok.token_bytes_[id];
    for (size_t i = 0; i < symbol.size();) {
      const int len = ScanUtf8(symbol, i);
      const char32_t cp = len > 0 ? DecodeUtf8(symbol, i, len) : 0x144;
      if (cp >= unicode_to_byte.size() || unicode_to_byte[cp] < 0) {
        return bad_encoder(absl::StrCat("token \"", symbol, "\" (id ", id,
                                        ") has a character outside the GPT-2 byte alphabet"));
      }
      bytes.push_back(static_cast<char>(unicode_to_byte[cp]));
      i += len;
    }
    tok.token_symbols_[id] = std::move(symbol);
  }
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    AppendUtf8(byte_to_unicode[b], &symbol);
    const auto it = symbol_to_id.find(symbol);
    if (it == symbol_to_id.end()) {
      return bad_encoder(absl::StrFormat("has no token for byte 0x%02x", b));
    }
    tok.byte_token_[b] = it->second;
  }
  const auto eot = symbol_to_id.find(kEndOfText);
  if (eot == symbol_to_id.end()) return bad_encoder(absl::StrCat("has no ", kEndOfText));
  tok.eot_id_ = eot->second;

  DQT_ASSIGN_OR_RETURN(tok.merges_, ParseBpeMerges(vocab_bpe, bpe_text));
  // The heap in BytePairMerge equals the reference's "merge every occurrence of the best pair,
  // then look again" only if no merge consumes a token that the same or a later merge makes.
  std::vector<int32_t> last_made(n, -1);
  std::vector<std::array<int32_t, 3>> merge_ids;  // left, right, result
  for (size_t rank = 0; rank < tok.merges_.size(); ++rank) {
    const auto& [left, right] = tok.merges_[rank];
    const auto l = symbol_to_id.find(left), r = symbol_to_id.find(right),
               m = symbol_to_id.find(left + right);
    if (l == symbol_to_id.end() || r == symbol_to_id.end() || m == symbol_to_id.end()) {
      return absl::InvalidArgumentError(absl::StrCat(vocab_bpe, ": merge ", rank, " \"", left, " ",
                                                     right, "\" uses or makes a token that ",
                                                     encoder_json, " does not have"));
    }
    merge_ids.push_back({l->second, r->second, m->second});
    last_made[m->second] = static_cast<int32_t>(rank);
  }
  for (size_t rank = 0; rank < merge_ids.size(); ++rank) {
    const auto [left, right, result] = merge_ids[rank];
    const int32_t rank32 = static_cast<int32_t>(rank);
    if (last_made[left] >= rank32 || last_made[right] >= rank32) {
      return absl::InvalidArgumentError(absl::StrCat(
          vocab_bpe, ": merge ", rank, " uses a token made by the same or a later merge ",
          "(merges must be in training order)"));
    }
    if (!tok.merge_table_.emplace(PairKey(left, right), Merge{rank32, result}).second) {
      return absl::InvalidArgumentError(absl::StrCat(vocab_bpe, ": merge ", rank, " \"",
                                                     tok.merges_[rank].first, " ",
                                                     tok.merges_[rank].second, "\" repeats"));
    }
  }

  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  tok.regex_ = std::make_unique<Regex>();
  tok.regex_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (tok.regex_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return absl::InternalError(absl::StrCat("PCRE2 rejects the GPT-2 pattern at ", error_offset,
                                            ": ", reinterpret_cast<const char*>(message)));
  }
  pcre2_jit_compile(tok.regex_->code, PCRE2_JIT_COMPLETE);  // interpreter fallback on failure
  return tok;
}

std::vector<int32_t> Gpt2Tokenizer::Encode(std::string_view utf8) const {
  std::string repaired;
  if (!IsValidUtf8(utf8)) {
    repaired = ReplaceInvalidUtf8(utf8);
    utf8 = repaired;
  }
  const size_t threads = static_cast<size_t>(std::max(1, HostThreads()));
  const size_t chunks = std::min(threads, utf8.size() / kMinChunkBytes);
  std::vector<int32_t> ids;
  if (chunks <= 1) {
    EncodeChunk(utf8, &ids);
    return ids;
  }
  const std::vector<size_t> cuts = ChunkBoundaries(utf8, chunks);
  std::vector<std::vector<int32_t>> parts(cuts.size() - 1);
  ParallelFor(static_cast<int64_t>(parts.size()), [&](int64_t c) {
    EncodeChunk(utf8.substr(cuts[c], cuts[c + 1] - cuts[c]), &parts[c]);
  });
  size_t total = 0;
  for (const auto& part : parts) total += part.size();
  ids.reserve(total);
  for (const auto& part : parts) ids.insert(ids.end(), part.begin(), part.end());
  return ids;
}

void Gpt2Tokenizer::EncodeChunk(std::string_view text, std::vector<int32_t>* out) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(regex_->code, nullptr), &pcre2_match_data_free);
  DQT_CHECK(match != nullptr) << "out of memory for PCRE2 match data";
  // Piece -> [offset, offset + count) in `cached_ids`; views point into `text`.
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;
  std::vector<int32_t> cached_ids;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    const int rc = pcre2_match(regex_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                               match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    DQT_CHECK(rc > 0) << "pcre2_match failed with code " << rc << " at byte " << pos;
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match.get());
    DQT_CHECK(span[1] > span[0]) << "the GPT-2 pattern matched an empty piece";
    const std::string_view piece = text.substr(span[0], span[1] - span[0]);
    pos = span[1];
    if (piece.size() == 1) {
      out->push_back(byte_token_[static_cast<unsigned char>(piece[0])]);
      continue;
    }
    auto [it, inserted] = cache.try_emplace(piece);
    if (inserted) {
      const size_t start = cached_ids.size();
      BytePairMerge(piece, &cached_ids);
      it->second = {static_cast<uint32_t>(start), static_cast<uint32_t>(cached_ids.size() - start)};
    }
    const int32_t* first = cached_ids.data() + it->second.first;
    out->insert(out->end(), first, first + it->second.second);
  }
}

// Applies merges lowest rank first, equal ranks left to right, over a linked list of symbols;
// a min-heap holds candidate pairs and drops the ones a previous merge invalidated.
void Gpt2Tokenizer::BytePairMerge(std::string_view piece, std::vector<int32_t>* out) const {
  struct Symbol {
    int32_t id;  // -1 once merged into its left neighbour
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank, left, right, left_id, right_id, result;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  DQT_CHECK(piece.size() < INT32_MAX) << "piece of " << piece.size() << " bytes";
  const int32_t n = static_cast<int32_t>(piece.size());
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = {byte_token_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto consider = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const auto it = merge_table_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it == merge_table_.end()) return;
    heap.push(
        {it->second.rank, left, right, symbols[left].id, symbols[right].id, it->second.result});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    // Stale: a symbol's id changes whenever it merges, and a consumed symbol's id is -1.
    if (left.id != c.left_id || left.next != c.right || right.id != c.right_id) continue;
    left.id = c.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right.id = -1;
    consider(left.prev);
    consider(c.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out->push_back(symbols[i].id);
}

std::string Gpt2Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string text;
  for (const int32_t id : ids) {
    if (id >= 0 && id < vocab_size()) {
      text.append(token_bytes_[id]);
    } else {
      text.append(kUtf8ReplacementChar);
    }
  }
  return text;
}

std::string Gpt2Tokenizer::TokenText(int32_t id) const {
  return id >= 0 && id < vocab_size() ? token_bytes_[id] : std::string(kUtf8ReplacementChar);
}

}  // namespace dqt
