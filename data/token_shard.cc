// Token shard writer (temp file + fsync + rename) and the mmap-backed reader.
#include "data/token_shard.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/check.h"
#include "core/base/status.h"

namespace dqt {
namespace {

// Tokens are read in place from the map, so the host must share the file's byte order.
static_assert(std::endian::native == std::endian::little, "token shards are little-endian");

void Store32(unsigned char* at, uint32_t v) { std::memcpy(at, &v, sizeof(v)); }
void Store64(unsigned char* at, uint64_t v) { std::memcpy(at, &v, sizeof(v)); }
uint32_t Load32(const unsigned char* at) {
  uint32_t v;
  std::memcpy(&v, at, sizeof(v));
  return v;
}
uint64_t Load64(const unsigned char* at) {
  uint64_t v;
  std::memcpy(&v, at, sizeof(v));
  return v;
}

absl::Status ErrnoError(const std::string& path, const char* what) {
  const int error = errno;
  const std::string message = absl::StrCat(path, ": ", what);
  return error != 0 ? absl::ErrnoToStatus(error, message) : absl::UnknownError(message);
}

absl::Status WriteAll(int fd, const void* data, size_t bytes, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(path, "write failed");
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteTokens(int fd, std::span<const int32_t> tokens, uint32_t bytes_per_token,
                         const std::string& path) {
  if (bytes_per_token == 4) return WriteAll(fd, tokens.data(), tokens.size_bytes(), path);
  std::vector<uint16_t> narrow(std::min<size_t>(tokens.size(), size_t{1} << 16));
  for (size_t start = 0; start < tokens.size(); start += narrow.size()) {
    const size_t n = std::min(narrow.size(), tokens.size() - start);
    for (size_t i = 0; i < n; ++i) narrow[i] = static_cast<uint16_t>(tokens[start + i]);
    DQT_RETURN_IF_ERROR(WriteAll(fd, narrow.data(), n * sizeof(uint16_t), path));
  }
  return absl::OkStatus();
}

// Makes the rename durable; best effort (some file systems refuse fsync on a directory).
void SyncParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

bool HasGlob(absl::string_view name) { return name.find_first_of("*?[") != name.npos; }

// The files of a comma-separated list, each glob item replaced by its matches in sorted order.
absl::StatusOr<std::vector<std::string>> ExpandList(const std::string& list) {
  std::vector<std::string> files;
  for (absl::string_view part : absl::StrSplit(list, ',')) {
    if (part.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(list, ": an empty name in the list"));
    }
    if (!HasGlob(part)) {
      files.emplace_back(part);
      continue;
    }
    const std::string pattern(part);
    glob_t matches{};
    const int rc = ::glob(pattern.c_str(), 0, nullptr, &matches);
    for (size_t i = 0; rc == 0 && i < matches.gl_pathc; ++i) files.push_back(matches.gl_pathv[i]);
    ::globfree(&matches);
    if (rc == GLOB_NOMATCH) {
      return absl::NotFoundError(absl::StrCat(pattern, ": the pattern matches no file"));
    }
    if (rc != 0) return absl::UnknownError(absl::StrCat(pattern, ": glob failed (", rc, ")"));
  }
  return files;
}

// Bytes per token of an llm.c file with `magic` (uint16 GPT-2 ids or uint32 LLaMA-3 ids).
uint32_t LlmcTokenWidth(uint32_t magic) { return magic == kLlmcMagicGpt2 ? 2 : 4; }

// The version this build reads for each llm.c magic.
bool LlmcVersionKnown(uint32_t magic, uint32_t version) {
  return (magic == kLlmcMagicGpt2 && version == 1) || (magic == kLlmcMagicLlama3 && version == 7);
}

// Magic, version and count of an llm.c header all agree with a file of `file_bytes`.
bool IsWholeLlmcFile(const unsigned char* header, uint64_t file_bytes) {
  const uint32_t magic = Load32(header);
  return LlmcVersionKnown(magic, Load32(header + 4)) &&
         kLlmcHeaderBytes + uint64_t{Load32(header + 8)} * LlmcTokenWidth(magic) == file_bytes;
}

}  // namespace

absl::Status WriteTokenShard(const std::string& path, std::span<const int32_t> tokens,
                             uint64_t source_bytes, const TokenizerIdentity& tokenizer) {
  int32_t max_id = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": token ", i, " is ", tokens[i], "; ids must be non-negative"));
    }
    max_id = std::max(max_id, tokens[i]);
  }
  const uint32_t bytes_per_token = max_id < 65536 ? 2 : 4;
  unsigned char header[kTokenShardHeaderBytes] = {};
  std::memcpy(header, kTokenShardMagic, sizeof(kTokenShardMagic));
  Store32(header + 8, kTokenShardVersion);
  Store32(header + 12, bytes_per_token);
  Store64(header + 16, tokens.size());
  Store64(header + 24, source_bytes);
  Store32(header + 32, static_cast<uint32_t>(tokenizer.kind));
  Store32(header + 36, tokenizer.vocab_size);
  std::memcpy(header + 40, tokenizer.digest.data(), tokenizer.digest.size());

  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(temp, "cannot create");
  absl::Status status = WriteAll(fd, header, sizeof(header), temp);
  if (status.ok()) status = WriteTokens(fd, tokens, bytes_per_token, temp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError(temp, "fsync failed");
  if (::close(fd) != 0 && status.ok()) status = ErrnoError(temp, "close failed");
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(path, "cannot rename the temporary file over it");
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  SyncParentDirectory(path);
  return absl::OkStatus();
}

// llm.c token files (dev/data/data_common.py): a header of 256 little-endian int32, [0] magic,
// [1] version, [2] token count, then the tokens: magic 20240520 version 1 = GPT-2 uint16,
// magic 20240801 version 7 = LLaMA-3 uint32. The source text's size is not recorded (0).
absl::StatusOr<TokenShard> TokenShard::OpenLlmc(const std::string& path, int fd,
                                                uint64_t file_bytes, const unsigned char* header) {
  auto fail = [fd](absl::Status status) {
    ::close(fd);
    return status;
  };
  const uint32_t magic = Load32(header), version = Load32(header + 4);
  const uint32_t width = LlmcTokenWidth(magic);
  // Truncation first: a header cut short reads as zeros, which is no version worth naming.
  if (file_bytes < kLlmcHeaderBytes) {
    return fail(absl::DataLossError(absl::StrCat(path, ": truncated: ", file_bytes,
                                                 " bytes, shorter than llm.c's 1024-byte header")));
  }
  if (!LlmcVersionKnown(magic, version)) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        path, ": llm.c token file with magic ", magic, " and version ", version,
        "; this build reads magic 20240520 version 1 (uint16) and 20240801 version 7 (uint32)")));
  }
  // The count as the unsigned 32-bit field it is on disk (llm.c writes an int): read as int32, a
  // damaged count printed as a negative number and expected no size at all.
  const uint32_t count = Load32(header + 8);
  const uint64_t expected = kLlmcHeaderBytes + uint64_t{count} * width;  // < 2^35: no overflow
  if (expected != file_bytes) {
    return fail(absl::DataLossError(absl::StrCat(
        path, ": llm.c file has ", file_bytes, " bytes but its header says ", count, " tokens x ",
        width, " bytes + 1024 = ", expected, " (truncated or corrupt)")));
  }
  // llm.c files do not record their text size: source_bytes_ stays 0 (no bits per byte).
  return Map(path, fd, file_bytes, kLlmcHeaderBytes, static_cast<uint64_t>(count), width);
}

absl::StatusOr<TokenShard> TokenShard::Map(const std::string& path, int fd, uint64_t file_bytes,
                                           uint64_t header_bytes, uint64_t count,
                                           uint32_t bytes_per_token) {
  TokenShard shard;
  shard.path_ = path;
  shard.header_bytes_ = header_bytes;
  shard.bytes_per_token_ = bytes_per_token;
  if (file_bytes == 0) {  // an empty raw file: nothing to map (mmap refuses length 0)
    ::close(fd);
    return shard;
  }
  void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    const absl::Status error = ErrnoError(path, "mmap failed");  // before close() touches errno
    ::close(fd);
    return error;
  }
  ::close(fd);
  shard.map_ = map;
  shard.map_bytes_ = file_bytes;
  shard.tokens_ = static_cast<const unsigned char*>(map) + header_bytes;
  shard.size_ = count;
  return shard;
}

absl::StatusOr<TokenShard> TokenShard::Open(const std::string& path, TokenFormat format) {
  if (path.find(',') != std::string::npos || HasGlob(path)) {
    DQT_ASSIGN_OR_RETURN(const std::vector<std::string> files, ExpandList(path));
    TokenShard all;
    all.path_ = path;
    bool bytes_known = true;
    std::string recorded_by;  // the first part with a recorded tokenizer
    for (const std::string& file : files) {
      DQT_ASSIGN_OR_RETURN(TokenShard shard, OpenOne(file, format));
      if (shard.tokenizer_.recorded()) {
        DQT_RETURN_IF_ERROR(
            CheckSameTokenizer(all.tokenizer_, recorded_by, shard.tokenizer_, shard.path_));
        if (recorded_by.empty()) recorded_by = shard.path_, all.tokenizer_ = shard.tokenizer_;
      }
      all.starts_.push_back(all.size_);
      all.size_ += shard.size_;
      bytes_known = bytes_known && shard.source_bytes_ > 0;
      all.source_bytes_ += shard.source_bytes_;
      all.bytes_per_token_ = std::max(all.bytes_per_token_, shard.bytes_per_token_);
      all.parts_.push_back(std::move(shard));
    }
    if (!bytes_known) all.source_bytes_ = 0;
    return all;
  }
  return OpenOne(path, format);
}

absl::StatusOr<TokenShard> TokenShard::OpenOne(const std::string& path, TokenFormat format) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, "cannot open token shard");
  auto fail = [fd](absl::Status status) {
    ::close(fd);
    return status;
  };
  struct stat info;
  if (::fstat(fd, &info) != 0) return fail(ErrnoError(path, "fstat failed"));
  const uint64_t file_bytes = static_cast<uint64_t>(info.st_size);
  unsigned char header[kTokenShardHeaderBytes] = {};  // a version-1 file may be shorter
  const ssize_t got = ::pread(fd, header, sizeof(header), 0);
  if (got < 0 || static_cast<uint64_t>(got) != std::min<uint64_t>(file_bytes, sizeof(header))) {
    return fail(ErrnoError(path, "cannot read the header"));
  }
  const bool raw = format == TokenFormat::kRawUint16;
  const bool llmc_magic =
      file_bytes >= 4 && (Load32(header) == kLlmcMagicGpt2 || Load32(header) == kLlmcMagicLlama3);
  if (llmc_magic && (!raw || IsWholeLlmcFile(header, file_bytes))) {
    return OpenLlmc(path, fd, file_bytes, header);
  }
  if (file_bytes < sizeof(kTokenShardMagic) ||
      std::memcmp(header, kTokenShardMagic, sizeof(kTokenShardMagic)) != 0) {
    if (raw) {
      // nanoGPT's prepare.py: np.uint16 ids written as they are, no header, no text size.
      if (file_bytes % 2 != 0) {
        return fail(absl::DataLossError(
            absl::StrCat(path, ": ", file_bytes,
                         " bytes, an odd length for raw uint16 tokens (truncated, or not a "
                         "nanoGPT token file)")));
      }
      return Map(path, fd, file_bytes, 0, file_bytes / 2, 2);
    }
    return fail(absl::InvalidArgumentError(absl::StrCat(
        path,
        ": not a dqt token shard nor an llm.c token file (bad magic: its first bytes are "
        "neither \"DQTSHARD\" nor llm.c's 20240520 / 20240801); if it is nanoGPT's prepare.py "
        "output (raw uint16 token ids, no header) read it with data.token_format: RAW_UINT16 "
        "(dqt_eval: --raw_uint16)")));
  }
  const uint32_t version = file_bytes >= 12 ? Load32(header + 8) : 0;
  if (file_bytes >= 12 && version != 1 && version != kTokenShardVersion) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        path, ": token shard version ", version, ", this build reads 1 and ", kTokenShardVersion)));
  }
  const uint64_t header_bytes = version == 1 ? kTokenShardV1HeaderBytes : kTokenShardHeaderBytes;
  if (file_bytes < header_bytes) {
    return fail(absl::DataLossError(absl::StrCat(path, ": truncated: ", file_bytes,
                                                 " bytes, shorter than the ", header_bytes,
                                                 "-byte header")));
  }
  const uint32_t bytes_per_token = Load32(header + 12);
  const uint64_t count = Load64(header + 16);
  if (bytes_per_token != 2 && bytes_per_token != 4) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown token width of ", bytes_per_token, " bytes (2 or 4)")));
  }
  const uint64_t max_count = (UINT64_MAX - header_bytes) / bytes_per_token;
  if (count > max_count || header_bytes + count * bytes_per_token != file_bytes) {
    // The product is stated only where it fits in 64 bits.
    const std::string expected = count > max_count
                                     ? std::string("more than 2^64")
                                     : absl::StrCat(header_bytes + count * bytes_per_token);
    return fail(absl::DataLossError(absl::StrCat(
        path, ": file has ", file_bytes, " bytes but its header says ", count, " tokens x ",
        bytes_per_token, " bytes + ", header_bytes, " = ", expected, " (truncated or corrupt)")));
  }
  TokenizerIdentity tokenizer;
  if (version >= 2) {
    const uint32_t kind = Load32(header + 32);
    if (kind > static_cast<uint32_t>(TokenizerKind::kSentencePiece)) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat(path, ": unknown tokenizer kind ", kind, " in the header")));
    }
    tokenizer.kind = static_cast<TokenizerKind>(kind);
    tokenizer.vocab_size = Load32(header + 36);
    std::memcpy(tokenizer.digest.data(), header + 40, tokenizer.digest.size());
  }

  DQT_ASSIGN_OR_RETURN(TokenShard shard,
                       Map(path, fd, file_bytes, header_bytes, count, bytes_per_token));
  shard.source_bytes_ = Load64(header + 24);
  shard.tokenizer_ = tokenizer;
  return shard;
}

TokenShard::TokenShard(TokenShard&& other) noexcept { *this = std::move(other); }

TokenShard& TokenShard::operator=(TokenShard&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
    tokens_ = std::exchange(other.tokens_, nullptr);
    header_bytes_ = std::exchange(other.header_bytes_, 0);
    size_ = std::exchange(other.size_, 0);
    source_bytes_ = std::exchange(other.source_bytes_, 0);
    bytes_per_token_ = std::exchange(other.bytes_per_token_, 0);
    tokenizer_ = std::exchange(other.tokenizer_, {});
    parts_ = std::move(other.parts_);
    starts_ = std::move(other.starts_);
    other.parts_.clear();
    other.starts_.clear();
  }
  return *this;
}

TokenShard::~TokenShard() { Unmap(); }

void TokenShard::Unmap() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
  map_ = nullptr;
}

int32_t TokenShard::operator[](uint64_t i) const {
  DQT_CHECK(i < size_) << path_ << ": token " << i << " of " << size_;
  if (!parts_.empty()) {
    const size_t p = PartOf(i);
    return parts_[p][i - starts_[p]];
  }
  if (bytes_per_token_ == 2) {
    uint16_t v;
    std::memcpy(&v, tokens_ + 2 * i, sizeof(v));
    return v;
  }
  int32_t v;
  std::memcpy(&v, tokens_ + 4 * i, sizeof(v));
  return v;
}

// The last part starting at or before token i (an empty part shares its start with the next).
size_t TokenShard::PartOf(uint64_t i) const {
  return std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin() - 1;
}

std::string TokenShard::Where(uint64_t i) const {
  DQT_CHECK(i < size_) << path_ << ": token " << i << " of " << size_;
  if (!parts_.empty()) {
    const size_t p = PartOf(i);
    return parts_[p].Where(i - starts_[p]);
  }
  return absl::StrCat(path_, ", token ", i, " (byte offset ", header_bytes_ + i * bytes_per_token_,
                      ")");
}

void TokenShard::Copy(uint64_t start, size_t n, int32_t* out) const {
  DQT_CHECK(start <= size_ && n <= size_ - start)
      << path_ << ": tokens [" << start << ", " << start + n << ") of " << size_;
  if (!parts_.empty()) {
    size_t p = PartOf(start);
    while (n > 0) {
      const uint64_t local = start - starts_[p];
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, parts_[p].size_ - local));
      parts_[p].Copy(local, take, out);
      out += take, start += take, n -= take, ++p;
    }
    return;
  }
  if (bytes_per_token_ == 4) {
    std::memcpy(out, tokens_ + 4 * start, 4 * n);
    return;
  }
  const unsigned char* from = tokens_ + 2 * start;
  for (size_t i = 0; i < n; ++i) {
    uint16_t v;
    std::memcpy(&v, from + 2 * i, sizeof(v));
    out[i] = v;
  }
}

}  // namespace dqt
