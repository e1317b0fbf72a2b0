// stdio-based whole-file read and atomic write (see file_io.h).
#include "launch/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace dqt {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is a directory"));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(what, " ", path, " not found"));
  std::string bytes;
  char buf[1 << 16];
  while (size_t n = std::fread(buf, 1, sizeof(buf), f)) bytes.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return absl::DataLossError(absl::StrCat("reading ", what, " ", path, " failed"));
  return bytes;
}

absl::Status WriteFileAtomically(const std::string& path, std::span<const std::string_view> parts) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  bool ok = true;
  for (const std::string_view part : parts) {
    ok = ok && std::fwrite(part.data(), 1, part.size(), f) == part.size();
  }
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat("writing ", path, " failed: ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace dqt
