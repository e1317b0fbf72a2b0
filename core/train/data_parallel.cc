// Replicated data parallelism: gradient averaging and replica digests.
#include "core/train/data_parallel.h"

#include <xxhash.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"

namespace dqt {

absl::Status AverageGradients(Communicator& comm, float* grads, size_t n, Buffer<float>& scratch) {
  const int world = comm.size();
  if (world == 1) return absl::OkStatus();
  std::vector<size_t> counts(world), bytes(world);
  for (int r = 0; r < world; ++r) {
    counts[r] = n / world + (static_cast<size_t>(r) < n % world ? 1 : 0);
    bytes[r] = counts[r] * sizeof(float);
  }
  const size_t mine = counts[comm.rank()];
  if (scratch.size() < mine) scratch = Buffer<float>(mine, MemoryKind::kWorkspace);
  DQT_RETURN_IF_ERROR(comm.ReduceScatter(grads, scratch.data(), counts));
  const float inv = 1.0f / static_cast<float>(world);
  for (size_t i = 0; i < mine; ++i) scratch[i] *= inv;
  return comm.AllGather(scratch.data(), grads, bytes);
}

std::vector<uint64_t> TensorDigests(const LlamaParams& params) {
  std::vector<uint64_t> digests;
  for (const ParamTensor& t : params.tensors()) {
    if (t.storage == ParamStorage::kCodes) {
      digests.push_back(XXH64(params.codes().data() + t.code_offset, t.numel, t.id));
    } else {
      digests.push_back(
          XXH64(params.values().data() + t.value_offset, t.numel * sizeof(float), t.id));
    }
  }
  return digests;
}

absl::Status CheckReplicaDigests(Communicator& comm, const LlamaParams& params, int step) {
  const std::vector<uint64_t> mine = TensorDigests(params);
  const size_t n = mine.size();
  std::vector<uint64_t> all(n * comm.size());
  DQT_RETURN_IF_ERROR(comm.AllGather(mine.data(), all.data(), n * sizeof(uint64_t)));
  std::vector<std::string> problems;
  for (int r = 1; r < comm.size(); ++r) {
    std::vector<std::string> tensors;
    for (size_t i = 0; i < n; ++i) {
      if (all[r * n + i] != all[i]) tensors.push_back(params.tensors()[i].name);
    }
    if (!tensors.empty()) {
      problems.push_back(absl::StrCat("rank ", r, " differs from rank 0 in ", tensors.size(),
                                      " tensor(s): ", absl::StrJoin(tensors, ", ")));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("replica divergence at step ", step, ": ", absl::StrJoin(problems, "; ")));
}

}  // namespace dqt
