// Data parallelism (replicated and sharded), gradient norm and replica digests.
#include "core/train/data_parallel.h"

#include <xxhash.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/packed_ternary.h"
#include "core/base/parallel.h"
#include "core/base/status.h"
#include "kernels/moments.h"
#include "kernels/reduce.h"

namespace dqt {

absl::Status AverageGradients(Communicator& comm, float* grads, size_t n, Buffer<float>& scratch,
                              size_t bucket_elements) {
  const int world = comm.size();
  if (world == 1) return absl::OkStatus();
  const size_t bucket = bucket_elements > 0 ? std::min(bucket_elements, n) : n;
  std::vector<size_t> counts(world), bytes(world);
  const float inv = 1.0f / static_cast<float>(world);
  for (size_t begin = 0; begin < n; begin += bucket) {
    const size_t len = std::min(bucket, n - begin);
    for (int r = 0; r < world; ++r) {
      counts[r] = len / world + (static_cast<size_t>(r) < len % world ? 1 : 0);
      bytes[r] = counts[r] * sizeof(float);
    }
    const size_t mine = counts[comm.rank()];
    if (scratch.size() < mine) scratch = Buffer<float>(mine, MemoryKind::kWorkspace);
    DQT_RETURN_IF_ERROR(comm.ReduceScatter(grads + begin, scratch.data(), counts));
    Scale(ExecContext::Cpu(),
          {.x = RefOf(scratch.data(), Device::kCpu, {static_cast<int64_t>(mine)}), .factor = inv});
    DQT_RETURN_IF_ERROR(comm.AllGather(scratch.data(), grads + begin, bytes));
  }
  return absl::OkStatus();
}

std::vector<OwnedSlice> DpSlices(const LlamaParams& params, int dp, int dp_rank) {
  return DpSlices(params.tensors(), dp, dp_rank);
}

std::vector<OwnedSlice> DpSlices(const std::vector<ParamTensor>& tensors, int dp, int dp_rank) {
  std::vector<OwnedSlice> owned;
  for (const ParamTensor& t : tensors) {
    auto bound = [&](int64_t r) {
      const int64_t at = (t.numel * r / dp + kMomentBlock - 1) / kMomentBlock * kMomentBlock;
      return std::min(at, t.numel);
    };
    const int64_t begin = bound(dp_rank), end = bound(dp_rank + 1);
    if (begin < end) owned.push_back({t.id, begin, end});
  }
  return owned;
}

namespace {

// Bytes of `n` elements of `t` as the weight all-gather sends them.
int64_t StoredBytes(const LlamaParams& params, const ParamTensor& t, int64_t n) {
  if (t.storage != ParamStorage::kCodes) return n * static_cast<int64_t>(sizeof(float));
  return params.config().quant.grid.kind == QuantGrid::Kind::kTernary ? PackedTernaryBytes(n) : n;
}

}  // namespace

ShardedDataParallel::ShardedDataParallel(const LlamaParams& params, Communicator& comm,
                                         int64_t bucket_elements)
    : comm_(&comm) {
  const int dp = comm.size();
  for (int r = 0; r < dp; ++r) {
    slices_.push_back(DpSlices(params, dp, r));
    size_t bytes = 0;
    for (const OwnedSlice& s : slices_.back()) {
      bytes += StoredBytes(params, params.tensors()[s.tensor], s.end - s.begin);
    }
    weight_bytes_.push_back(bytes);
  }
  // Buckets of consecutive tensors, closed once they hold bucket_elements.
  const uint32_t tensors = static_cast<uint32_t>(params.tensors().size());
  int64_t held = 0;
  for (uint32_t t = 0; t < tensors; ++t) {
    if (buckets_.empty() || (bucket_elements > 0 && held >= bucket_elements)) {
      buckets_.push_back({t, t, std::vector<size_t>(dp, 0)});
      held = 0;
    }
    buckets_.back().end = t + 1;
    held += params.tensors()[t].numel;
  }
  size_t largest = 0, mine = 0;
  for (Bucket& b : buckets_) {
    for (int r = 0; r < dp; ++r) {
      for (const OwnedSlice& s : slices_[r]) {
        if (s.tensor >= b.first && s.tensor < b.end) b.counts[r] += s.end - s.begin;
      }
    }
    size_t total = 0;
    for (size_t c : b.counts) total += c;
    largest = std::max(largest, total);
    mine = std::max(mine, b.counts[comm.rank()]);
  }
  size_t total_bytes = 0;
  for (size_t b : weight_bytes_) total_bytes += b;
  grad_send_ = Buffer<float>(largest, MemoryKind::kWorkspace);
  grad_recv_ = Buffer<float>(mine, MemoryKind::kWorkspace);
  weight_recv_.resize(total_bytes);
}

absl::Status ShardedDataParallel::ReduceGradients(LlamaParams& params) {
  const float inv = 1.0f / static_cast<float>(comm_->size());
  for (const Bucket& b : buckets_) {
    // Rank-major packing: rank 0's slices of the bucket in tensor order, then rank 1's, ...
    float* out = grad_send_.data();
    for (const std::vector<OwnedSlice>& slices : slices_) {
      for (const OwnedSlice& s : slices) {
        if (s.tensor < b.first || s.tensor >= b.end) continue;
        const float* g = params.grads().data() + params.tensors()[s.tensor].offset;
        out = std::copy(g + s.begin, g + s.end, out);
      }
    }
    DQT_RETURN_IF_ERROR(comm_->ReduceScatter(grad_send_.data(), grad_recv_.data(), b.counts));
    const float* in = grad_recv_.data();
    for (const OwnedSlice& s : owned()) {
      if (s.tensor < b.first || s.tensor >= b.end) continue;
      const TensorRef g =
          params.grad_ref(params.tensors()[s.tensor]).Flat(s.begin, s.end - s.begin);
      CopyBytes(g.data, Device::kCpu, in, Device::kCpu, g.bytes());
      Scale(ExecContext::Cpu(), {.x = g, .factor = inv});
      in += g.numel();
    }
  }
  return absl::OkStatus();
}

absl::Status ShardedDataParallel::GatherWeights(LlamaParams& params) {
  const bool ternary = params.config().quant.grid.kind == QuantGrid::Kind::kTernary;
  size_t offset = 0;
  for (int r = 0; r < comm_->rank(); ++r) offset += weight_bytes_[r];
  // Pack this rank's slices in place at its block of the receive buffer (an in-place gather).
  uint8_t* out = weight_recv_.data() + offset;
  for (const OwnedSlice& s : owned()) {
    const ParamTensor& t = params.tensors()[s.tensor];
    const int64_t n = s.end - s.begin;
    if (t.storage != ParamStorage::kCodes) {
      std::memcpy(out, params.values().data() + t.value_offset + s.begin, n * sizeof(float));
    } else if (ternary) {
      PackTernary(params.codes().data() + t.code_offset + s.begin, n, out);
    } else {
      std::memcpy(out, params.codes().data() + t.code_offset + s.begin, n);
    }
    out += StoredBytes(params, t, n);
  }
  DQT_RETURN_IF_ERROR(comm_->AllGather(weight_recv_.data() + offset, weight_recv_.data(),
                                       absl::MakeConstSpan(weight_bytes_)));
  const uint8_t* in = weight_recv_.data();
  for (int r = 0; r < comm_->size(); ++r) {
    for (const OwnedSlice& s : slices_[r]) {
      const ParamTensor& t = params.tensors()[s.tensor];
      const int64_t n = s.end - s.begin;
      if (r != comm_->rank()) {
        if (t.storage != ParamStorage::kCodes) {
          std::memcpy(params.values().data() + t.value_offset + s.begin, in, n * sizeof(float));
        } else if (ternary) {
          UnpackTernary(in, n, params.codes().data() + t.code_offset + s.begin);
        } else {
          std::memcpy(params.codes().data() + t.code_offset + s.begin, in, n);
        }
      }
      in += StoredBytes(params, t, n);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> GlobalGradNorm(const LlamaParams& params,
                                      const std::vector<OwnedSlice>& owned, bool dp_sharded,
                                      Communicator& dp, Communicator& tp) {
  // sums[0]: tensors split by TP, sums[1]: the others.
  double sums[2] = {0, 0};
  for (const OwnedSlice& s : owned) {
    sums[params.tensors()[s.tensor].split == TpSplit::kNone ? 1 : 0] += GradSquares(params, s);
  }
  if (dp_sharded && dp.size() > 1) DQT_RETURN_IF_ERROR(dp.AllReduce(sums, 2, ReduceOp::kSum));
  if (tp.size() > 1) DQT_RETURN_IF_ERROR(tp.AllReduce(sums, 1, ReduceOp::kSum));
  return std::sqrt(sums[0] + sums[1]);
}

std::vector<uint64_t> TensorDigests(const LlamaParams& params) {
  std::vector<uint64_t> digests;
  for (const ParamTensor& t : params.tensors()) {
    if (t.storage == ParamStorage::kCodes) {
      std::vector<float> scales(t.scale_count);
      for (int64_t r = 0; r < t.scale_count; ++r) scales[r] = params.scale(t, r);
      const uint64_t scale_hash = XXH64(scales.data(), scales.size() * sizeof(float), t.id);
      digests.push_back(XXH64(params.codes().data() + t.code_offset, t.numel, scale_hash));
    } else {
      digests.push_back(
          XXH64(params.values().data() + t.value_offset, t.numel * sizeof(float), t.id));
    }
  }
  return digests;
}

std::vector<uint64_t> MomentDigests(const AdamW& optimizer, const LlamaParams& params) {
  std::vector<uint64_t> digests;
  for (const ParamTensor& t : params.tensors()) {
    const MomentsView m = optimizer.moments(t.id).ConstView();
    uint64_t h = XXH64(m.m, MomentArrayBytes(m.format, m.n), t.id);
    h = XXH64(m.v, MomentArrayBytes(m.format, m.n), h);
    const size_t scale_bytes = MomentScaleCount(m.format, m.n) * sizeof(float);
    if (scale_bytes > 0) h = XXH64(m.v_max, scale_bytes, XXH64(m.m_absmax, scale_bytes, h));
    digests.push_back(m.n > 0 ? h : 0);
  }
  return digests;
}

absl::Status CheckReplicaDigests(Communicator& comm, const LlamaParams& params, int step,
                                 const char* group, bool replicated_only, int world_rank,
                                 const AdamW* optimizer) {
  // Each rank sends its digests followed by its world rank, so messages name world ranks.
  std::vector<uint64_t> mine = TensorDigests(params);
  const size_t tensors = mine.size();
  if (optimizer != nullptr) {
    const std::vector<uint64_t> moments = MomentDigests(*optimizer, params);
    mine.insert(mine.end(), moments.begin(), moments.end());
  }
  const size_t n = mine.size();
  mine.push_back(static_cast<uint64_t>(world_rank >= 0 ? world_rank : comm.rank()));
  std::vector<uint64_t> all((n + 1) * comm.size());
  DQT_RETURN_IF_ERROR(comm.AllGather(mine.data(), all.data(), (n + 1) * sizeof(uint64_t)));
  std::vector<std::string> problems;
  for (int r = 1; r < comm.size(); ++r) {
    std::vector<std::string> names;
    for (size_t i = 0; i < n; ++i) {
      const ParamTensor& t = params.tensors()[i % tensors];
      if (replicated_only && t.split != TpSplit::kNone) continue;
      if (all[r * (n + 1) + i] != all[i])
        names.push_back((i < tensors ? "" : "moments of ") + t.name);
    }
    if (!names.empty()) {
      problems.push_back(absl::StrCat("rank ", all[r * (n + 1) + n], " differs from rank ", all[n],
                                      " (", group, " group) in ", names.size(),
                                      " tensor(s): ", absl::StrJoin(names, ", ")));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("replica divergence at step ", step, ": ", absl::StrJoin(problems, "; ")));
}

}  // namespace dqt
