// How much host memory this process may still take: the least of the kernel's MemAvailable and
// the room left under every cgroup memory limit (v2 memory.max, v1 memory.limit_in_bytes) of its
// cgroup and the cgroups above it, so that a run can refuse at start what the OOM killer would
// otherwise end without a message.
#pragma once

#include <string>

namespace dqt {

struct AvailableMemory {
  double bytes = 0;    // +infinity when nothing could be read
  std::string source;  // where the figure came from, e.g. "MemAvailable in /proc/meminfo"
};

// Reads /proc/meminfo, /proc/self/cgroup and the cgroup files under /sys/fs/cgroup, each path
// prefixed by `root` (tests point it at a directory of fake files). A cgroup's room is its limit
// less its usage plus its inactive file pages (reclaimable page cache, as memory.stat reports
// them); "max" (v2) and v1's huge "no limit" value are no limit.
AvailableMemory HostMemoryAvailable(const std::string& root = "");

// "512 B", "3.2 MiB", "1.5 GiB", "2.0 TiB" (binary units).
std::string FormatBytes(double bytes);

}  // namespace dqt
