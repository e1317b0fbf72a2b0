// Launch records in the run directory (see run_info.h).
#include "launch/run_info.h"

#include <mpi.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/parallel.h"
#include "core/base/status.h"
#include "dist/communicator.h"
#include "google/protobuf/stubs/common.h"
#include "kernels/device.h"
#include "launch/config.h"
#include "launch/file_io.h"
#include "launch/json.h"

extern "C" char* openblas_get_config(void);

namespace dqt {
namespace {

// The OpenMP specification date this file was compiled against (e.g. 201511), "" without it.
std::string OpenMpVersion() {
#ifdef _OPENMP
  return absl::StrCat(_OPENMP);
#else
  return "";
#endif
}

constexpr size_t kRankFactBytes = 192;  // "host\tdevice", NUL-padded, per rank in the gather

std::string Iso8601Now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc = {};
  gmtime_r(&now, &utc);
  std::array<char, 32> text = {};
  std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text.data();
}

std::string ThisRankDevice(const proto::RunProto& run) {
  if (run.train().device() != proto::TrainProto::CPU && CudaDeviceCount() > 0) {
    if (absl::StatusOr<int> d = CurrentCudaDevice(); d.ok()) {
      return absl::StrFormat("cuda:%d of %d", *d, CudaDeviceCount());
    }
  }
  return absl::StrFormat("cpu, %d threads", HostThreads());
}

std::string LibrariesJson() {
  std::array<char, MPI_MAX_LIBRARY_VERSION_STRING> mpi = {};
  int len = 0;
  MPI_Get_library_version(mpi.data(), &len);
  std::string mpi_version(mpi.data(), static_cast<size_t>(std::max(len, 0)));
  mpi_version = mpi_version.substr(0, mpi_version.find_first_of(",\n"));
  const int pb = GOOGLE_PROTOBUF_VERSION;
  return absl::StrCat(
      "{\"compiler\":", JsonQuote(__VERSION__), ",\"protobuf\":",
      JsonQuote(absl::StrFormat("%d.%d.%d", pb / 1000000, pb / 1000 % 1000, pb % 1000)),
      ",\"abseil\":", JsonQuote(absl::StrCat(ABSL_LTS_RELEASE_VERSION)),
      ",\"mpi\":", JsonQuote(mpi_version), ",\"openblas\":", JsonQuote(openblas_get_config()),
      ",\"openmp\":", JsonQuote(OpenMpVersion()), ",\"cuda_devices\":", CudaDeviceCount(), "}");
}

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

}  // namespace

std::string RunDirectory(const proto::RunProto& run) {
  if (!run.checkpoint().dir().empty()) return run.checkpoint().dir();
  if (run.log().jsonl_path().empty()) return "";
  const std::string parent = std::filesystem::path(run.log().jsonl_path()).parent_path().string();
  return parent.empty() ? "." : parent;
}

absl::Status CreateRunDirectories(const proto::RunProto& run) {
  for (const std::string& dir : {run.checkpoint().dir(), RunDirectory(run)}) {
    std::error_code error;
    if (!dir.empty()) std::filesystem::create_directories(dir, error);
    if (error) return absl::PermissionDeniedError("cannot create directory " + dir);
  }
  return absl::OkStatus();
}

absl::Status RecordLaunch(const proto::RunProto& run, const std::vector<std::string>& command_line,
                          const ProcessEnv& env, Communicator* world) {
  std::array<char, 256> host = {};
  gethostname(host.data(), host.size() - 1);
  std::string mine = absl::StrCat(host.data(), "\t", ThisRankDevice(run));
  mine.resize(kRankFactBytes - 1);
  const int ranks = world != nullptr ? world->size() : 1;
  std::string all(kRankFactBytes * ranks, '\0');
  if (world != nullptr) {
    DQT_RETURN_IF_ERROR(world->AllGather(mine.c_str(), all.data(), kRankFactBytes));
  } else {
    all.replace(0, mine.size(), mine);
  }
  const std::string dir = RunDirectory(run);
  if (env.rank != 0 || dir.empty()) return absl::OkStatus();

  const std::string config = RunProtoToText(run);
  const std::string_view config_parts[] = {config};
  DQT_RETURN_IF_ERROR(WriteFileAtomically(dir + "/config.pbtxt", config_parts));

  std::string args, rank_facts;
  for (const std::string& a : command_line)
    absl::StrAppend(&args, args.empty() ? "" : ",", JsonQuote(a));
  for (int r = 0; r < ranks; ++r) {
    const std::string fact(all.c_str() + r * kRankFactBytes);
    const size_t tab = fact.find('\t');
    absl::StrAppend(&rank_facts, r == 0 ? "" : ",", "{\"rank\":", r,
                    ",\"host\":", JsonQuote(fact.substr(0, tab)),
                    ",\"device\":", JsonQuote(tab == std::string::npos ? "" : fact.substr(tab + 1)),
                    "}");
  }
  std::error_code cwd_error;
  const std::string cwd = std::filesystem::current_path(cwd_error).string();
  const std::string log =
      run.log().jsonl_path().empty()
          ? ""
          : std::filesystem::absolute(run.log().jsonl_path(), cwd_error).string();
  const std::string line =
      absl::StrCat("{\"event\":\"launch\",\"time\":", JsonQuote(Iso8601Now()),
                   ",\"git_revision\":", JsonQuote(GitRevision()), ",\"command_line\":[", args, "]",
                   ",\"cwd\":", JsonQuote(cwd), ",\"log\":", JsonQuote(log),
                   ",\"resume\":", JsonQuote(run.checkpoint().resume()),
                   ",\"launcher\":", JsonQuote(env.launcher), ",\"world_size\":", ranks,
                   ",\"dp\":", run.parallel().dp(), ",\"tp\":", run.parallel().tp(),
                   ",\"slurm_job_id\":", JsonQuote(EnvOr("SLURM_JOB_ID", "")),
                   ",\"slurm_restart_count\":", JsonQuote(EnvOr("SLURM_RESTART_COUNT", "")),
                   ",\"ranks\":[", rank_facts, "],\"libraries\":", LibrariesJson(), "}\n");
  const std::string path = dir + "/launches.jsonl";
  std::FILE* f = std::fopen(path.c_str(), run.checkpoint().resume().empty() ? "w" : "a");
  if (f == nullptr) return absl::PermissionDeniedError("cannot write " + path);
  const bool ok = std::fputs(line.c_str(), f) >= 0;
  if (std::fclose(f) != 0 || !ok) return absl::DataLossError("writing " + path + " failed");
  return absl::OkStatus();
}

}  // namespace dqt
