// /proc and cgroup readers (see host_memory.h).
#include "core/base/host_memory.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dqt {
namespace {

constexpr double kNoLimit = 1ull << 60;  // v1 reports "no limit" as about 2^63

std::optional<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The number a one-value file holds ("max" and unreadable files: none).
std::optional<double> ReadNumber(const std::string& path) {
  const std::optional<std::string> text = ReadText(path);
  uint64_t value = 0;
  if (!text || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &value)) return std::nullopt;
  return static_cast<double>(value);
}

// The value of `key` in a "key value [unit]" file (meminfo, memory.stat); `scale` per unit.
std::optional<double> ReadField(const std::string& path, const std::string& key, double scale) {
  const std::optional<std::string> text = ReadText(path);
  if (!text) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (words.size() < 2 || absl::StripSuffix(words[0], ":") != key) continue;
    uint64_t value = 0;
    if (absl::SimpleAtoi(words[1], &value)) return static_cast<double>(value) * scale;
  }
  return std::nullopt;
}

// `dir` and its parents up to `mount` (each a cgroup directory that may hold limit files).
std::vector<std::string> SelfAndParents(const std::string& mount, std::string path) {
  std::vector<std::string> dirs;
  while (true) {
    dirs.push_back(mount + path);
    if (path.empty() || path == "/") break;
    const size_t slash = path.rfind('/');
    path = slash == std::string::npos || slash == 0 ? "" : path.substr(0, slash);
  }
  return dirs;
}

struct Room {
  double bytes = std::numeric_limits<double>::infinity();
  std::string where;
};

// The least room under the limits of `dirs` (files named by v1 or v2).
void LeastRoom(const std::vector<std::string>& dirs, const char* limit_file, const char* usage_file,
               const char* inactive_key, const char* version, Room* room) {
  for (const std::string& dir : dirs) {
    const std::optional<double> limit = ReadNumber(dir + "/" + limit_file);
    const std::optional<double> usage = ReadNumber(dir + "/" + usage_file);
    if (!limit || *limit >= kNoLimit || !usage) continue;
    const double inactive = ReadField(dir + "/memory.stat", inactive_key, 1).value_or(0);
    const double left = std::max(0.0, *limit - *usage + inactive);
    if (left < room->bytes) {
      room->bytes = left;
      room->where = absl::StrFormat("cgroup %s %s/%s %s - %s %s + %s %s", version, dir, limit_file,
                                    FormatBytes(*limit), usage_file, FormatBytes(*usage),
                                    inactive_key, FormatBytes(inactive));
    }
  }
}

}  // namespace

std::string FormatBytes(double bytes) {
  if (std::isinf(bytes)) return "unlimited";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (std::fabs(bytes) >= 1024 && u < 6) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrFormat("%.0f B", bytes) : absl::StrFormat("%.1f %s", bytes, units[u]);
}

AvailableMemory HostMemoryAvailable(const std::string& root) {
  AvailableMemory out{std::numeric_limits<double>::infinity(), ""};
  if (const std::optional<double> avail = ReadField(root + "/proc/meminfo", "MemAvailable", 1024)) {
    out.bytes = *avail;
    out.source = absl::StrCat("MemAvailable ", FormatBytes(*avail), " in /proc/meminfo");
  }
  Room room;
  const std::string mount = root + "/sys/fs/cgroup";
  const std::optional<std::string> cgroups = ReadText(root + "/proc/self/cgroup");
  for (absl::string_view line : absl::StrSplit(cgroups.value_or(""), '\n')) {
    // "0::/path" (v2) or "N:controllers:/path" (v1, the memory controller's line).
    const std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3) continue;
    if (f[0] == "0" && f[1].empty()) {
      LeastRoom(SelfAndParents(mount, f[2]), "memory.max", "memory.current", "inactive_file", "v2",
                &room);
    } else if (absl::StrContains(f[1], "memory")) {
      // In a container the v1 hierarchy is often mounted at the cgroup itself: try both.
      std::vector<std::string> dirs = SelfAndParents(mount + "/memory", f[2]);
      dirs.push_back(mount + "/memory");
      LeastRoom(dirs, "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file", "v1",
                &room);
    }
  }
  if (out.source.empty()) out.source = "no MemAvailable in /proc/meminfo";
  if (room.where.empty()) {
    absl::StrAppend(&out.source, "; no cgroup memory limit");
  } else if (room.bytes < out.bytes) {
    out.source = absl::StrCat(room.where, " (the least; ", out.source, ")");
    out.bytes = room.bytes;
  } else {
    absl::StrAppend(&out.source, " (the least; ", room.where, ")");
  }
  return out;
}

}  // namespace dqt
