// MPI collectives on host buffers: one MPI call per collective when the counts fit MPI's ints,
// otherwise pieces of at most max_count_per_call (per-root reduce / broadcast for the v-variants,
// whose int displacements would overflow). Each call is nonblocking, waited for by the watchdog.
#include "dist/mpi_communicator.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "dist/mpi_watchdog.h"

namespace dqt {

absl::Status MpiError(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  int error_class = code;
  if (MPI_Error_class(code, &error_class) != MPI_SUCCESS) error_class = code;
  const std::string message =
      absl::StrFormat("%s failed (%s:%d): %s", call, file, line,
                      length > 0 ? std::string(text, length) : absl::StrCat("MPI error ", code));
  switch (error_class) {
    case MPI_ERR_BUFFER:
    case MPI_ERR_COUNT:
    case MPI_ERR_TYPE:
    case MPI_ERR_ROOT:
    case MPI_ERR_RANK:
    case MPI_ERR_OP:
    case MPI_ERR_COMM:
    case MPI_ERR_ARG:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Adopt(MPI_Comm comm,
                                                                        MpiOptions options) {
  if (comm == MPI_COMM_NULL) return absl::InvalidArgumentError("MPI_COMM_NULL given");
  auto fail = [&comm](absl::Status status) {
    MPI_Comm_free(&comm);
    return status;
  };
  if (options.max_count_per_call < 1 || options.max_count_per_call > INT_MAX) {
    return fail(absl::InvalidArgumentError(absl::StrFormat(
        "max_count_per_call must be in [1, %d], got %d", INT_MAX, options.max_count_per_call)));
  }
  if (!(options.collective_timeout_s >= 0)) {
    return fail(absl::InvalidArgumentError(
        absl::StrFormat("collective_timeout_s must be >= 0 (0: no timeout), got %g",
                        options.collective_timeout_s)));
  }
  auto setup = [&](int* rank, int* size) -> absl::Status {
    DQT_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    DQT_MPI_CHECK(MPI_Comm_rank(comm, rank));
    DQT_MPI_CHECK(MPI_Comm_size(comm, size));
    return absl::OkStatus();
  };
  int rank = 0, size = 0;
  if (absl::Status status = setup(&rank, &size); !status.ok()) return fail(status);
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(comm, rank, size, options));
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
}

template <typename Piece>
absl::Status MpiCommunicator::InPieces(size_t count, Piece piece) const {
  for (size_t done = 0; done < count;) {
    const int n = static_cast<int>(std::min(count - done, options_.max_count_per_call));
    DQT_RETURN_IF_ERROR(piece(done, n));
    done += n;
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Await(MPI_Request* request, const char* name, size_t bytes) {
  return AwaitCollective(request, {.name = name,
                                   .bytes = bytes,
                                   .index = ++collectives_,
                                   .timeout_s = options_.collective_timeout_s});
}

absl::Status MpiCommunicator::DoAllReduce(void* data, size_t count, ReduceType type, ReduceOp op) {
  const MPI_Datatype datatype = type == ReduceType::kFloat32 ? MPI_FLOAT : MPI_DOUBLE;
  const size_t element_bytes = type == ReduceType::kFloat32 ? sizeof(float) : sizeof(double);
  const MPI_Op mpi_op = op == ReduceOp::kSum ? MPI_SUM : MPI_MAX;
  char* bytes = static_cast<char*>(data);
  return InPieces(count, [&](size_t offset, int n) {
    MPI_Request request;
    DQT_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, bytes + offset * element_bytes, n, datatype, mpi_op,
                                 comm_, &request));
    return Await(&request, "allreduce", n * element_bytes);
  });
}

absl::Status MpiCommunicator::DoReduceScatter(const float* send, float* recv,
                                              absl::Span<const size_t> recv_counts) {
  size_t total = 0;
  for (size_t c : recv_counts) total += c;
  if (total <= options_.max_count_per_call) {
    std::vector<int> counts(recv_counts.begin(), recv_counts.end());
    MPI_Request request;
    DQT_MPI_CHECK(
        MPI_Ireduce_scatter(send, recv, counts.data(), MPI_FLOAT, MPI_SUM, comm_, &request));
    return Await(&request, "reduce-scatter", total * sizeof(float));
  }
  size_t offset = 0;
  for (int root = 0; root < size_; ++root) {
    DQT_RETURN_IF_ERROR(InPieces(recv_counts[root], [&](size_t done, int n) {
      float* out = root == rank_ ? recv + done : nullptr;
      MPI_Request request;
      DQT_MPI_CHECK(
          MPI_Ireduce(send + offset + done, out, n, MPI_FLOAT, MPI_SUM, root, comm_, &request));
      return Await(&request, "reduce", n * sizeof(float));
    }));
    offset += recv_counts[root];
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::DoAllGather(const void* send, void* recv,
                                          absl::Span<const size_t> send_bytes) {
  std::vector<size_t> offsets(size_ + 1, 0);
  for (int r = 0; r < size_; ++r) offsets[r + 1] = offsets[r] + send_bytes[r];
  char* out = static_cast<char*>(recv);
  const bool in_place = send == out + offsets[rank_];
  if (offsets[size_] <= options_.max_count_per_call) {
    std::vector<int> counts(send_bytes.begin(), send_bytes.end());
    std::vector<int> displacements(offsets.begin(), offsets.end() - 1);
    MPI_Request request;
    DQT_MPI_CHECK(MPI_Iallgatherv(in_place ? MPI_IN_PLACE : send, counts[rank_], MPI_BYTE, recv,
                                  counts.data(), displacements.data(), MPI_BYTE, comm_, &request));
    return Await(&request, "all-gather", offsets[size_]);
  }
  if (!in_place && send_bytes[rank_] > 0) {
    std::memcpy(out + offsets[rank_], send, send_bytes[rank_]);
  }
  for (int root = 0; root < size_; ++root) {
    DQT_RETURN_IF_ERROR(InPieces(send_bytes[root], [&](size_t done, int n) {
      MPI_Request request;
      DQT_MPI_CHECK(MPI_Ibcast(out + offsets[root] + done, n, MPI_BYTE, root, comm_, &request));
      return Await(&request, "broadcast", n);
    }));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::DoBroadcast(void* data, size_t bytes, int root) {
  char* out = static_cast<char*>(data);
  return InPieces(bytes, [&](size_t offset, int n) {
    MPI_Request request;
    DQT_MPI_CHECK(MPI_Ibcast(out + offset, n, MPI_BYTE, root, comm_, &request));
    return Await(&request, "broadcast", n);
  });
}

absl::Status MpiCommunicator::DoBarrier() {
  MPI_Request request;
  DQT_MPI_CHECK(MPI_Ibarrier(comm_, &request));
  return Await(&request, "barrier", 0);
}

absl::StatusOr<std::unique_ptr<Communicator>> MpiCommunicator::DoSplit(int color, int key) {
  MPI_Comm group = MPI_COMM_NULL;
  DQT_MPI_CHECK(MPI_Comm_split(comm_, color, key, &group));
  return Adopt(group, options_);
}

absl::StatusOr<std::unique_ptr<MpiRuntime>> MpiRuntime::Init(int* argc, char*** argv) {
  int initialized = 0;
  DQT_MPI_CHECK(MPI_Initialized(&initialized));
  int provided = MPI_THREAD_SINGLE;
  if (initialized) {
    DQT_MPI_CHECK(MPI_Query_thread(&provided));
  } else {
    DQT_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided));
  }
  std::unique_ptr<MpiRuntime> runtime(new MpiRuntime(/*owns_mpi=*/!initialized));
  if (provided < MPI_THREAD_SERIALIZED) {
    return absl::FailedPreconditionError(
        absl::StrFormat("MPI provides thread level %d, dqt needs MPI_THREAD_SERIALIZED (%d)",
                        provided, MPI_THREAD_SERIALIZED));
  }
  DQT_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  DQT_RETURN_IF_ERROR(StartMpiWatchdog());
  return runtime;
}

MpiRuntime::~MpiRuntime() {
  StopMpiWatchdog();
  if (!owns_mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiRuntime::World(MpiOptions options) const {
  MPI_Comm world = MPI_COMM_NULL;
  DQT_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &world));
  return MpiCommunicator::Adopt(world, options);
}

}  // namespace dqt
