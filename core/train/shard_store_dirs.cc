// Checkpoint directories under a parent: step_<N> names, which ones are complete (hold a
// manifest), and pruning to the newest few.
#include <algorithm>
#include <filesystem>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "core/train/shard_store.h"

namespace dqt {
namespace {

namespace fs = std::filesystem;

std::optional<int64_t> StepOfDirName(absl::string_view name) {
  constexpr absl::string_view kPrefix = "step_";
  if (name.size() <= kPrefix.size() || name.substr(0, kPrefix.size()) != kPrefix) return {};
  int64_t step = 0;
  for (char c : name.substr(kPrefix.size())) {
    if (c < '0' || c > '9' || step > (std::numeric_limits<int64_t>::max() - 9) / 10) return {};
    step = step * 10 + (c - '0');
  }
  return step;
}

struct FoundCheckpoint {
  int64_t step;
  fs::path path;
};

// Complete checkpoints under parent_dir by ascending step, the stale temporary directories and
// the step directories without a manifest.
absl::Status ScanParent(const std::string& parent_dir, std::vector<FoundCheckpoint>& complete,
                        std::vector<fs::path>* stale, std::vector<fs::path>* incomplete = nullptr) {
  std::error_code ec;
  if (!fs::exists(parent_dir, ec)) return absl::OkStatus();
  for (fs::directory_iterator it(parent_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_directory(ec)) continue;
    if (const std::optional<int64_t> step = StepOfDirName(name)) {
      if (fs::exists(it->path() / kManifestFileName, ec)) {
        complete.push_back({*step, it->path()});
      } else if (incomplete != nullptr) {
        incomplete->push_back(it->path());
      }
    } else if (stale != nullptr && name.starts_with(".step_") &&
               name.find(".tmp.") != std::string::npos) {
      stale->push_back(it->path());
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", parent_dir, ": ", ec.message()));
  std::sort(complete.begin(), complete.end(),
            [](const FoundCheckpoint& a, const FoundCheckpoint& b) { return a.step < b.step; });
  return absl::OkStatus();
}

}  // namespace

std::string CheckpointDirName(int64_t step) { return absl::StrFormat("step_%06d", step); }

std::string CheckpointDir(const std::string& parent_dir, int64_t step) {
  return absl::StrCat(parent_dir, "/", CheckpointDirName(step));
}

absl::StatusOr<std::vector<int64_t>> ListCheckpoints(const std::string& parent_dir) {
  std::vector<FoundCheckpoint> complete;
  DQT_RETURN_IF_ERROR(ScanParent(parent_dir, complete, nullptr));
  std::vector<int64_t> steps;
  for (const FoundCheckpoint& found : complete) steps.push_back(found.step);
  return steps;
}

absl::StatusOr<int64_t> LatestCheckpoint(const std::string& parent_dir) {
  DQT_ASSIGN_OR_RETURN(const std::vector<int64_t> steps, ListCheckpoints(parent_dir));
  if (steps.empty()) {
    return absl::NotFoundError(absl::StrCat("no complete checkpoint under ", parent_dir));
  }
  return steps.back();
}

absl::StatusOr<std::vector<std::string>> IncompleteCheckpoints(const std::string& parent_dir) {
  std::vector<FoundCheckpoint> complete;
  std::vector<fs::path> incomplete;
  DQT_RETURN_IF_ERROR(ScanParent(parent_dir, complete, nullptr, &incomplete));
  std::vector<std::string> paths;
  for (const fs::path& path : incomplete) paths.push_back(path.string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

absl::Status PruneCheckpoints(const std::string& parent_dir, int keep_last) {
  if (keep_last < 1) {
    return absl::InvalidArgumentError(absl::StrCat("keep_last must be >= 1, got ", keep_last));
  }
  std::vector<FoundCheckpoint> complete;
  std::vector<fs::path> doomed;
  DQT_RETURN_IF_ERROR(ScanParent(parent_dir, complete, &doomed));
  if (doomed.empty() && complete.size() <= static_cast<size_t>(keep_last)) {
    return absl::OkStatus();
  }
  const size_t excess = complete.size() > static_cast<size_t>(keep_last)
                            ? complete.size() - static_cast<size_t>(keep_last)
                            : 0;
  // Each old checkpoint is first renamed to a temporary name, so that an interrupted prune
  // leaves a stale temporary directory, never a step_N with missing shards.
  for (size_t i = 0; i < excess; ++i) {
    const fs::path hidden = complete[i].path.parent_path() /
                            absl::StrCat(".", complete[i].path.filename().string(), ".tmp.prune");
    std::error_code ec;
    fs::remove_all(hidden, ec);
    fs::rename(complete[i].path, hidden, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("prune ", complete[i].path.string(), ": ", ec.message()));
    }
    doomed.push_back(hidden);
  }
  for (const fs::path& path : doomed) {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) return absl::InternalError(absl::StrCat("remove ", path.string(), ": ", ec.message()));
  }
  return FsyncPath(parent_dir);
}

}  // namespace dqt
