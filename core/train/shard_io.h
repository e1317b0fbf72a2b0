// POSIX file helpers for the sharded checkpoint store: an owned descriptor, writes and positioned
// reads that finish short transfers, and the fsyncs that make files and renames durable. Every
// error names the path and the failed operation.
#pragma once

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dqt {

// Owns one file descriptor (closed on destruction); move-only.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.Release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  // close(2), reporting its error (data may be lost on close for some file systems).
  [[nodiscard]] absl::Status Close(const std::string& path);

 private:
  int fd_ = -1;
};

// Incremental XXH64 (seed 0) of a byte stream.
class Xxh64Hasher {
 public:
  Xxh64Hasher();
  void Update(const void* data, size_t bytes);
  uint64_t Digest() const;

 private:
  struct FreeState {
    void operator()(XXH64_state_t* state) const { XXH64_freeState(state); }
  };
  std::unique_ptr<XXH64_state_t, FreeState> state_;
};

// The current errno as a Status: "<what> <path>: <strerror>".
absl::Status ErrnoError(absl::string_view what, const std::string& path);

// open(2) with O_CLOEXEC added.
[[nodiscard]] absl::StatusOr<ScopedFd> OpenFile(const std::string& path, int flags,
                                                int mode = 0644);

// All of data (bytes) at the file position.
[[nodiscard]] absl::Status WriteAll(const ScopedFd& fd, const void* data, size_t bytes,
                                    const std::string& path);

// All of [offset, offset + bytes) into data; reaching the end of the file first is DataLoss
// "... truncated".
[[nodiscard]] absl::Status PreadAll(const ScopedFd& fd, void* data, size_t bytes, uint64_t offset,
                                    const std::string& path);

// fsync(2) of a file or a directory (a directory's fsync makes the renames in it durable).
[[nodiscard]] absl::Status FsyncPath(const std::string& path);

// Creates `path` (it must not exist), writes `contents`, fsyncs and closes it.
[[nodiscard]] absl::Status WriteNewFileDurably(const std::string& path, absl::string_view contents);

// The whole of file `path`.
[[nodiscard]] absl::StatusOr<std::string> ReadWholeFileAt(const std::string& path);

}  // namespace dqt
