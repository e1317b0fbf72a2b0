// Data-parallel plumbing of the replicated mode: gradients averaged so every rank holds the same
// bits, and the replica digest that turns a silent divergence of weights into a loud error.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "core/base/buffer.h"
#include "core/model/llama_params.h"
#include "dist/communicator.h"

namespace dqt {

// grads (n) <- mean over the ranks of `comm`. Reduce-scatter then all-gather, so each chunk is
// summed once (by its owner) and every rank receives the same bits, whatever MPI's algorithm.
[[nodiscard]] absl::Status AverageGradients(Communicator& comm, float* grads, size_t n,
                                            Buffer<float>& scratch);

// xxHash64 of each tensor's stored weights (codes for DQT tensors, fp32 values otherwise).
std::vector<uint64_t> TensorDigests(const LlamaParams& params);

// Compares every rank's digests with rank 0's; an error naming the ranks and tensors that differ.
[[nodiscard]] absl::Status CheckReplicaDigests(Communicator& comm, const LlamaParams& params,
                                               int step);

}  // namespace dqt
