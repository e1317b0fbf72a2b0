// POSIX file helpers for the sharded checkpoint store (see shard_io.h).
#include "core/train/shard_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/base/status.h"

namespace dqt {

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

int ScopedFd::Release() { return std::exchange(fd_, -1); }

absl::Status ScopedFd::Close(const std::string& path) {
  if (fd_ < 0) return absl::OkStatus();
  if (::close(Release()) != 0) return ErrnoError("close", path);
  return absl::OkStatus();
}

Xxh64Hasher::Xxh64Hasher() : state_(XXH64_createState()) {
  DQT_CHECK(state_ != nullptr) << "XXH64_createState: out of memory";
  XXH64_reset(state_.get(), 0);
}

void Xxh64Hasher::Update(const void* data, size_t bytes) {
  XXH64_update(state_.get(), data, bytes);
}

uint64_t Xxh64Hasher::Digest() const { return XXH64_digest(state_.get()); }

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int error = errno;
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path));
}

absl::StatusOr<ScopedFd> OpenFile(const std::string& path, int flags, int mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("open", path);
  return ScopedFd(fd);
}

absl::Status WriteAll(const ScopedFd& fd, const void* data, size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd.get(), p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("write", path);
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status PreadAll(const ScopedFd& fd, void* data, size_t bytes, uint64_t offset,
                      const std::string& path) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd.get(), p, bytes, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read", path);
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat(path, " truncated: end of file before byte ", offset + bytes));
    }
    p += n;
    offset += static_cast<uint64_t>(n);
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status FsyncPath(const std::string& path) {
  DQT_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDONLY));
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync", path);
  return fd.Close(path);
}

absl::Status WriteNewFileDurably(const std::string& path, absl::string_view contents) {
  DQT_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_EXCL));
  DQT_RETURN_IF_ERROR(WriteAll(fd, contents.data(), contents.size(), path));
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync", path);
  return fd.Close(path);
}

absl::StatusOr<std::string> ReadWholeFileAt(const std::string& path) {
  DQT_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat", path);
  std::string contents(static_cast<size_t>(st.st_size), '\0');
  DQT_RETURN_IF_ERROR(PreadAll(fd, contents.data(), contents.size(), 0, path));
  return contents;
}

}  // namespace dqt
