// Rank-aware deterministic sampler: which token window each rank trains on at each sample,
// a pure function of (seed, epoch, rank, world) drawn from Philox.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace dqt {

// The shard's tokens are cut into W = (num_tokens - 1) / seq_len windows; window w covers
// tokens [w * seq_len, w * seq_len + seq_len + 1): seq_len inputs plus the next-token targets,
// so neighbouring windows share one token and the last token of the shard only ever appears
// as a target. Each epoch visits the windows in a Fisher-Yates permutation whose draws are
// Philox(key = seed, counter = (epoch, position)); rank r of `world` takes permuted windows
// r, r + world, r + 2 * world, ..., and the last W % world windows of the epoch are dropped
// so every rank gets windows_per_rank() of them. The ranks' windows are disjoint within an
// epoch and independent of how (or in what order) StartOf is called.
//
// Not thread-safe: StartOf caches the current epoch's permutation (O(W) memory, O(W) time on
// each change of epoch). Use one sampler per thread.
class SequenceSampler {
 public:
  // InvalidArgument for seq_len <= 0, rank outside [0, world), or fewer windows than ranks.
  [[nodiscard]] static absl::StatusOr<SequenceSampler> Create(uint64_t num_tokens, int seq_len,
                                                              uint64_t seed, int rank, int world);

  uint64_t num_windows() const { return num_windows_; }
  uint64_t windows_per_rank() const { return windows_per_rank_; }
  int seq_len() const { return seq_len_; }

  // Token offset of this rank's sample `sample_index`; its epoch is
  // sample_index / windows_per_rank() (below 2^32). The window is tokens
  // [StartOf(i), StartOf(i) + seq_len() + 1).
  uint64_t StartOf(uint64_t sample_index) const;

 private:
  SequenceSampler(uint64_t num_windows, int seq_len, uint64_t seed, int rank, int world);
  void Shuffle(uint32_t epoch) const;

  uint64_t num_windows_;
  uint64_t windows_per_rank_;
  int seq_len_;
  uint64_t seed_;
  int rank_;
  int world_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<uint64_t> permutation_;  // epoch cached_epoch_'s order of all windows
};

}  // namespace dqt
