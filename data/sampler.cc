// SequenceSampler: per-epoch Philox Fisher-Yates over the shard's windows, strided over ranks.
#include "data/sampler.h"

#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/base/philox.h"

namespace dqt {
namespace {

// Uniform integer in [0, bound) from 64 random bits (Lemire's multiply-shift; the bias, at most
// bound / 2^64, is far below anything a training run could notice).
uint64_t UniformBelow(uint64_t bits, uint64_t bound) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * bound) >> 64);
}

}  // namespace

absl::StatusOr<SequenceSampler> SequenceSampler::Create(uint64_t num_tokens, int seq_len,
                                                        uint64_t seed, int rank, int world) {
  if (seq_len <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampler: seq_len ", seq_len, " must be > 0"));
  }
  if (world <= 0 || rank < 0 || rank >= world) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler: rank ", rank, " is outside [0, world = ", world, ")"));
  }
  const uint64_t windows = num_tokens > 0 ? (num_tokens - 1) / seq_len : 0;
  if (windows < static_cast<uint64_t>(world)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler: ", num_tokens, " tokens make ", windows, " windows of ", seq_len,
                     "+1 tokens, fewer than the ", world, " ranks (need at least ",
                     static_cast<uint64_t>(world) * seq_len + 1, " tokens)"));
  }
  return SequenceSampler(windows, seq_len, seed, rank, world);
}

SequenceSampler::SequenceSampler(uint64_t num_windows, int seq_len, uint64_t seed, int rank,
                                 int world)
    : num_windows_(num_windows),
      windows_per_rank_(num_windows / world),
      seq_len_(seq_len),
      seed_(seed),
      rank_(rank),
      world_(world) {}

uint64_t SequenceSampler::StartOf(uint64_t sample_index) const {
  const uint64_t epoch = sample_index / windows_per_rank_;
  DQT_CHECK(epoch <= UINT32_MAX) << "sampler: epoch " << epoch << " out of range";
  if (static_cast<int64_t>(epoch) != cached_epoch_) Shuffle(static_cast<uint32_t>(epoch));
  const uint64_t slot = (sample_index % windows_per_rank_) * world_ + rank_;
  return permutation_[slot] * static_cast<uint64_t>(seq_len_);
}

// Fisher-Yates from the top: position i swaps with a uniform j in [0, i], drawn from Philox
// block i of stream (seed, kSampler, step = epoch). Every rank computes the same permutation.
void SequenceSampler::Shuffle(uint32_t epoch) const {
  permutation_.resize(num_windows_);
  std::iota(permutation_.begin(), permutation_.end(), uint64_t{0});
  const RngKey key = MakeRngKey(seed_, /*param_id=*/0);
  for (uint64_t i = num_windows_ - 1; i > 0; --i) {
    const Philox4x32 r = RngBlock(key, RngPurpose::kSampler, epoch, i);
    const uint64_t bits = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
    std::swap(permutation_[i], permutation_[UniformBelow(bits, i + 1)]);
  }
  cached_epoch_ = epoch;
}

}  // namespace dqt
