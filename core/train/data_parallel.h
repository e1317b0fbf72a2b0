// Data-parallel plumbing: gradients averaged so every rank holds the same bits (replicated mode),
// the reduce-scatter / slice update / all-gather of the sharded mode, the global gradient norm
// over DP x TP, and the replica digest that turns a silent divergence into a loud error.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "core/base/buffer.h"
#include "core/model/llama_params.h"
#include "core/optim/adamw.h"
#include "dist/communicator.h"

namespace dqt {

// grads (n) <- mean over the ranks of `comm`, in buckets of at most bucket_elements (0: one
// bucket). Per bucket a reduce-scatter then an all-gather, so each chunk is summed once (by its
// owner) and every rank receives the same bits, whatever MPI's algorithm; scratch holds one
// rank's chunk of one bucket.
[[nodiscard]] absl::Status AverageGradients(Communicator& comm, float* grads, size_t n,
                                            Buffer<float>& scratch, size_t bucket_elements = 0);

// Sharded mode: this rank's slices. Each tensor's (shard-local) elements are split into dp
// contiguous parts whose bounds are multiples of kMomentBlock, so block-8 moments and packed
// ternary codes never straddle two ranks; small tensors belong to the first rank(s) whole.
std::vector<OwnedSlice> DpSlices(const LlamaParams& params, int dp, int dp_rank);
std::vector<OwnedSlice> DpSlices(const std::vector<ParamTensor>& tensors, int dp, int dp_rank);

// The collectives of sharded data parallelism over the DP group `comm` (which must outlive it).
class ShardedDataParallel {
 public:
  // Gradients are reduce-scattered in buckets of whole tensors holding about bucket_elements
  // (0: one bucket; a larger tensor is a bucket of its own).
  ShardedDataParallel(const LlamaParams& params, Communicator& comm, int64_t bucket_elements = 0);

  // This rank's slices (DpSlices of its DP rank).
  const std::vector<OwnedSlice>& owned() const { return slices_[comm_->rank()]; }

  // Reduce-scatter: this rank's owned slices of params.grads() become the mean over the group of
  // the ranks' gradients; the rest of params.grads() is stale afterwards.
  [[nodiscard]] absl::Status ReduceGradients(LlamaParams& params);

  // All-gather of the updated weights: every rank's slices reach every rank as stored (int8
  // codes, ternary codes packed 2 bits each, fp32 values).
  [[nodiscard]] absl::Status GatherWeights(LlamaParams& params);

 private:
  // Tensors [first, end) and their gradient floats per rank.
  struct Bucket {
    uint32_t first = 0, end = 0;
    std::vector<size_t> counts;
  };

  Communicator* comm_;
  std::vector<std::vector<OwnedSlice>> slices_;  // per DP rank
  std::vector<Bucket> buckets_;
  std::vector<size_t> weight_bytes_;     // stored bytes per rank
  Buffer<float> grad_send_, grad_recv_;  // one bucket
  std::vector<uint8_t> weight_recv_;
};

// Global L2 norm of the gradient. `owned`: the slices of params.grads() this rank holds final
// values of; `dp_sharded`: they differ between the DP ranks (sharded mode), so partial sums are
// added over `dp`; TP-split tensors' sums are added over `tp`. Identical on every rank.
[[nodiscard]] absl::StatusOr<double> GlobalGradNorm(const LlamaParams& params,
                                                    const std::vector<OwnedSlice>& owned,
                                                    bool dp_sharded, Communicator& dp,
                                                    Communicator& tp);

// xxHash64 of each tensor's stored state: codes and scales for DQT tensors, fp32 values otherwise
// (BitNet's latent weights included).
std::vector<uint64_t> TensorDigests(const LlamaParams& params);

// xxHash64 of the optimizer's moments of each tensor (m, v and block scales as stored; 0 for a
// tensor it does not own). Host memory only, like TensorDigests.
std::vector<uint64_t> MomentDigests(const AdamW& optimizer, const LlamaParams& params);

// Compares every rank's digests with rank 0's; an error naming the ranks and tensors that differ.
// `group` names the group in the message ("data-parallel"), `world_rank` is this rank's world
// rank for it (-1: its rank in comm); `replicated_only` compares only the tensors that TP does
// not split (for the tensor-parallel group, whose shards differ). With `optimizer` (replicated
// data parallelism, where every rank holds the whole moments) its moments are compared too.
[[nodiscard]] absl::Status CheckReplicaDigests(Communicator& comm, const LlamaParams& params,
                                               int step, const char* group = "data-parallel",
                                               bool replicated_only = false, int world_rank = -1,
                                               const AdamW* optimizer = nullptr);

}  // namespace dqt
