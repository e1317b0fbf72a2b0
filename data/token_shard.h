// Token shard files: a fixed header (64 bytes; 40 in version 1) and the token ids as
// little-endian uint16 or uint32; written atomically, read through a read-only memory map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/tokenizer_identity.h"

namespace dqt {

// On-disk layout of version 2 (all fields little-endian):
//   offset  0  char[8]  magic "DQTSHARD"
//   offset  8  u32      version (kTokenShardVersion)
//   offset 12  u32      bytes per token: 2 when every id < 65536, else 4
//   offset 16  u64      token count
//   offset 24  u64      bytes of source text the tokens came from (for bits per byte)
//   offset 32  u32      tokenizer kind (TokenizerKind; 0: not recorded)
//   offset 36  u32      tokenizer vocabulary size
//   offset 40  u8[16]   tokenizer digest (TokenizerIdentity::digest)
//   offset 56  u64      reserved, 0
//   offset 64  tokens
// Version 1 (written before tokenizers were recorded) is read as it is: the same first 32
// bytes, a reserved u64, the tokens at offset 40; its tokenizer() is unrecorded.
inline constexpr char kTokenShardMagic[8] = {'D', 'Q', 'T', 'S', 'H', 'A', 'R', 'D'};
inline constexpr uint32_t kTokenShardVersion = 2;
inline constexpr size_t kTokenShardHeaderBytes = 64;
inline constexpr size_t kTokenShardV1HeaderBytes = 40;
// llm.c / nanoGPT-style token files (read as they are, see TokenShard::Open).
inline constexpr uint32_t kLlmcMagicGpt2 = 20240520;    // version 1, uint16 tokens
inline constexpr uint32_t kLlmcMagicLlama3 = 20240801;  // version 7, uint32 tokens
inline constexpr size_t kLlmcHeaderBytes = 256 * 4;

// How a file that has neither a dqt nor an llm.c header is read. Files with either header are
// always read by it, so one list may mix all three kinds.
enum class TokenFormat {
  kAuto,       // refused, with a message pointing at kRawUint16
  kRawUint16,  // nanoGPT's prepare.py train.bin / val.bin: little-endian uint16 ids, no header
};

// Writes `tokens` (each in [0, 2^31)) to `path` through a temporary file in the same folder
// that is fsync'ed and renamed over `path`, so readers see the old file or the whole new one.
// `tokenizer` is the tokenizer that made them (dqt_prepare always records it).
[[nodiscard]] absl::Status WriteTokenShard(const std::string& path, std::span<const int32_t> tokens,
                                           uint64_t source_bytes,
                                           const TokenizerIdentity& tokenizer = {});

// A shard mapped read-only; move-only, unmaps on destruction. Const methods are thread-safe.
class TokenShard {
 public:
  // NotFound for a missing file; InvalidArgument for a file that is not a version-1 or 2 shard
  // (magic, version, bytes per token); DataLoss when the file size disagrees with the header.
  // llm.c token files (header of 256 int32: magic, version, count) are read as they are, with
  // source_bytes() 0 (unknown: no bits per byte) and an unrecorded tokenizer. A file with no
  // recognised header is InvalidArgument under TokenFormat::kAuto; under kRawUint16 it is read
  // as nanoGPT's raw uint16 ids (an odd byte length is DataLoss), with source_bytes() 0 and an
  // unrecorded tokenizer. (Under kRawUint16 a file is llm.c's only when its magic, version and
  // count all agree with its size, so a raw file whose first ids happen to spell the magic is
  // still read as raw.) A comma-separated list of files opens them all as one dataset, their
  // tokens concatenated in the order given (windows may span a file boundary); an item with
  // glob characters (* ? [) stands for the files it matches, in sorted order (NotFound when it
  // matches none). Its source_bytes() is the sum, or 0 when any part does not know its own; its
  // tokenizer() is that of its recorded parts, which must all agree (InvalidArgument naming both
  // files otherwise; unrecorded parts are taken as they are).
  [[nodiscard]] static absl::StatusOr<TokenShard> Open(const std::string& path,
                                                       TokenFormat format = TokenFormat::kAuto);

  TokenShard(TokenShard&& other) noexcept;
  TokenShard& operator=(TokenShard&& other) noexcept;
  TokenShard(const TokenShard&) = delete;
  TokenShard& operator=(const TokenShard&) = delete;
  ~TokenShard();

  uint64_t size() const { return size_; }
  uint64_t source_bytes() const { return source_bytes_; }
  uint32_t bytes_per_token() const { return bytes_per_token_; }
  const std::string& path() const { return path_; }
  const TokenizerIdentity& tokenizer() const { return tokenizer_; }

  // Token `i`; i < size() is checked (DQT_CHECK).
  int32_t operator[](uint64_t i) const;
  // Tokens [start, start + n) into out[0, n); the range must lie inside the shard (DQT_CHECK).
  void Copy(uint64_t start, size_t n, int32_t* out) const;
  // Where token `i` (< size()) lies on disk: "FILE, token J (byte offset B)", FILE the part that
  // holds it and J its index there.
  std::string Where(uint64_t i) const;

 private:
  TokenShard() = default;
  static absl::StatusOr<TokenShard> OpenOne(const std::string& path, TokenFormat format);
  static absl::StatusOr<TokenShard> OpenLlmc(const std::string& path, int fd, uint64_t file_bytes,
                                             const unsigned char* header);
  // Maps the whole file (open as `fd`, closed on return); its tokens start at `header_bytes`.
  static absl::StatusOr<TokenShard> Map(const std::string& path, int fd, uint64_t file_bytes,
                                        uint64_t header_bytes, uint64_t count,
                                        uint32_t bytes_per_token);
  size_t PartOf(uint64_t i) const;  // the index in parts_ of token i
  void Unmap();

  std::string path_;
  void* map_ = nullptr;  // the whole file
  size_t map_bytes_ = 0;
  const unsigned char* tokens_ = nullptr;
  uint64_t header_bytes_ = 0;      // where the tokens start in the file
  std::vector<TokenShard> parts_;  // several files as one: each part's tokens, in order
  std::vector<uint64_t> starts_;   // first token of each part
  uint64_t size_ = 0;
  uint64_t source_bytes_ = 0;
  uint32_t bytes_per_token_ = 0;
  TokenizerIdentity tokenizer_;
};

}  // namespace dqt
