// NCCL collectives on device buffers: native collectives for equal counts, one NCCL group of
// per-root reduce / broadcast calls for uneven ones, each call waited for before returning.
#include "dist/nccl_communicator.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/base/cuda_status.h"
#include "core/base/status.h"

namespace dqt {
namespace {

ncclDataType_t NcclType(ReduceType type) {
  return type == ReduceType::kFloat32 ? ncclFloat32 : ncclFloat64;
}

ncclRedOp_t NcclOp(ReduceOp op) { return op == ReduceOp::kSum ? ncclSum : ncclMax; }

// What rank 0 broadcasts over the bootstrap: the id, or that it could not make one.
struct IdMessage {
  ncclUniqueId id;
  int32_t ok;
};

}  // namespace

absl::Status NcclError(ncclResult_t code, const char* call, const char* file, int line) {
  const char* last = ncclGetLastError(nullptr);
  const std::string message =
      absl::StrFormat("%s failed (%s:%d): %s%s%s", call, file, line, ncclGetErrorString(code),
                      last != nullptr && last[0] != '\0' ? "; " : "", last != nullptr ? last : "");
  switch (code) {
    case ncclInvalidArgument:
      return absl::InvalidArgumentError(message);
    case ncclInvalidUsage:
      return absl::FailedPreconditionError(message);
    case ncclRemoteError:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(Communicator& bootstrap,
                                                                           NcclOptions options) {
  IdMessage message;
  std::memset(&message, 0, sizeof message);
  absl::Status id_status;
  if (bootstrap.rank() == 0) {
    id_status = [&]() -> absl::Status {
      DQT_NCCL_CHECK(ncclGetUniqueId(&message.id));
      return absl::OkStatus();
    }();
    message.ok = id_status.ok() ? 1 : 0;
  }
  DQT_RETURN_IF_ERROR(bootstrap.Broadcast(&message, sizeof message, 0));
  if (!message.ok) {
    if (!id_status.ok()) return id_status;
    return absl::UnavailableError("rank 0 could not create the NCCL unique id");
  }

  std::unique_ptr<NcclCommunicator> comm(new NcclCommunicator(options));
  const absl::Status prepared = comm->PrepareDevice();
  float failed = prepared.ok() ? 0.0f : 1.0f;
  DQT_RETURN_IF_ERROR(bootstrap.AllReduce(&failed, 1, ReduceOp::kMax));
  if (!prepared.ok()) return prepared;
  if (failed != 0.0f) {
    return absl::UnavailableError("another rank could not prepare its CUDA device for NCCL");
  }
  DQT_NCCL_CHECK(ncclCommInitRank(&comm->comm_, bootstrap.size(), message.id, bootstrap.rank()));
  comm->rank_ = bootstrap.rank();
  comm->size_ = bootstrap.size();
  return comm;
}

NcclCommunicator::~NcclCommunicator() {
  // Teardown errors have nowhere to go: the resources are released as far as CUDA lets us.
  if (comm_ != nullptr) ncclCommDestroy(comm_);
  if (barrier_scratch_ != nullptr) cudaFree(barrier_scratch_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::Status NcclCommunicator::PrepareDevice() {
  DQT_CUDA_CHECK(cudaGetDevice(&device_));
  DQT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  DQT_CUDA_CHECK(cudaMalloc(&barrier_scratch_, sizeof(float)));
  DQT_CUDA_CHECK(cudaMemsetAsync(barrier_scratch_, 0, sizeof(float), stream_));
  DQT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

absl::Status NcclCommunicator::Usable() const {
  if (comm_ == nullptr) {
    return absl::FailedPreconditionError("the NCCL communicator was aborted after an error");
  }
  return absl::OkStatus();
}

absl::Status NcclCommunicator::AfterLegacyStream() {
  DQT_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
  return absl::OkStatus();
}

void NcclCommunicator::Abort() {
  if (comm_ == nullptr) return;
  ncclCommAbort(comm_);
  comm_ = nullptr;
}

absl::Status NcclCommunicator::Wait() {
  // Polling instead of cudaStreamSynchronize: a peer that died leaves the stream unfinished
  // forever, and only ncclCommGetAsyncError tells.
  for (;;) {
    const cudaError_t done = cudaStreamQuery(stream_);
    if (done == cudaSuccess) return absl::OkStatus();
    if (done != cudaErrorNotReady) {
      Abort();
      return CudaError(done, "cudaStreamQuery(stream_)", __FILE__, __LINE__);
    }
    ncclResult_t async = ncclSuccess;
    DQT_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess) {
      const absl::Status error = NcclError(async, "ncclCommGetAsyncError", __FILE__, __LINE__);
      Abort();
      return error;
    }
    std::this_thread::yield();
  }
}

template <typename Enqueue>
absl::Status NcclCommunicator::Grouped(Enqueue enqueue) {
  DQT_NCCL_CHECK(ncclGroupStart());
  const absl::Status enqueued = enqueue();
  const ncclResult_t ended = ncclGroupEnd();  // closed even when a call inside failed
  DQT_RETURN_IF_ERROR(enqueued);
  if (ended != ncclSuccess) return NcclError(ended, "ncclGroupEnd()", __FILE__, __LINE__);
  return Wait();
}

bool NcclCommunicator::UsePerRoot(absl::Span<const size_t> counts) const {
  if (options_.always_per_root) return true;
  for (size_t c : counts) {
    if (c != counts[0]) return true;
  }
  return false;
}

absl::Status NcclCommunicator::DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) {
  DQT_RETURN_IF_ERROR(Usable());
  if (count == 0) return absl::OkStatus();
  DQT_RETURN_IF_ERROR(AfterLegacyStream());
  DQT_NCCL_CHECK(ncclAllReduce(data, data, count, NcclType(type), NcclOp(op), comm_, stream_));
  return Wait();
}

absl::Status NcclCommunicator::DoReduceScatter(const float* send, float* recv,
                                               absl::Span<const size_t> recv_counts) {
  DQT_RETURN_IF_ERROR(Usable());
  DQT_RETURN_IF_ERROR(AfterLegacyStream());
  if (!UsePerRoot(recv_counts)) {
    if (recv_counts[0] == 0) return absl::OkStatus();
    DQT_NCCL_CHECK(
        ncclReduceScatter(send, recv, recv_counts[0], ncclFloat32, ncclSum, comm_, stream_));
    return Wait();
  }
  return Grouped([&]() -> absl::Status {
    size_t offset = 0;
    for (int root = 0; root < size_; ++root) {
      const size_t count = recv_counts[root];
      if (count > 0) {
        // recvbuff matters on the root only.
        DQT_NCCL_CHECK(ncclReduce(send + offset, root == rank_ ? recv : nullptr, count, ncclFloat32,
                                  ncclSum, root, comm_, stream_));
      }
      offset += count;
    }
    return absl::OkStatus();
  });
}

absl::Status NcclCommunicator::DoAllGather(const void* send, void* recv,
                                           absl::Span<const size_t> send_bytes) {
  DQT_RETURN_IF_ERROR(Usable());
  DQT_RETURN_IF_ERROR(AfterLegacyStream());
  if (!UsePerRoot(send_bytes)) {
    if (send_bytes[0] == 0) return absl::OkStatus();
    // NCCL is in place exactly when send == recv + rank * count, the interface's rule.
    DQT_NCCL_CHECK(ncclAllGather(send, recv, send_bytes[0], ncclUint8, comm_, stream_));
    return Wait();
  }
  return Grouped([&]() -> absl::Status {
    char* out = static_cast<char*>(recv);
    size_t offset = 0;
    for (int root = 0; root < size_; ++root) {
      const size_t bytes = send_bytes[root];
      if (bytes > 0) {
        // sendbuff matters on the root only; there it may be the destination (in place).
        const void* from = root == rank_ ? send : out + offset;
        DQT_NCCL_CHECK(ncclBroadcast(from, out + offset, bytes, ncclUint8, root, comm_, stream_));
      }
      offset += bytes;
    }
    return absl::OkStatus();
  });
}

absl::Status NcclCommunicator::DoBroadcast(void* data, size_t bytes, int root) {
  DQT_RETURN_IF_ERROR(Usable());
  if (bytes == 0) return absl::OkStatus();
  DQT_RETURN_IF_ERROR(AfterLegacyStream());
  DQT_NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_));
  return Wait();
}

absl::Status NcclCommunicator::DoBarrier() {
  DQT_RETURN_IF_ERROR(Usable());
  DQT_RETURN_IF_ERROR(AfterLegacyStream());
  DQT_NCCL_CHECK(
      ncclAllReduce(barrier_scratch_, barrier_scratch_, 1, ncclFloat32, ncclMax, comm_, stream_));
  return Wait();
}

absl::StatusOr<std::unique_ptr<Communicator>> NcclCommunicator::DoSplit(int color, int key) {
  DQT_RETURN_IF_ERROR(Usable());
  std::unique_ptr<NcclCommunicator> group(new NcclCommunicator(options_));
  DQT_NCCL_CHECK(ncclCommSplit(comm_, color, key, &group->comm_, /*config=*/nullptr));
  auto setup = [&]() -> absl::Status {
    DQT_NCCL_CHECK(ncclCommUserRank(group->comm_, &group->rank_));
    DQT_NCCL_CHECK(ncclCommCount(group->comm_, &group->size_));
    return group->PrepareDevice();
  };
  if (absl::Status status = setup(); !status.ok()) {
    group->Abort();  // its peers may be gone or never use it: do not wait for them
    return status;
  }
  return std::unique_ptr<Communicator>(std::move(group));
}

}  // namespace dqt
