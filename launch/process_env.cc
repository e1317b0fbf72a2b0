// Environment-variable rank discovery for mpirun, srun and plain runs.
#include "launch/process_env.h"

#include <cstdlib>

namespace dqt {
namespace {

bool ReadInt(const char* name, int* out) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return false;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0) return false;
  *out = static_cast<int>(x);
  return true;
}

}  // namespace

ProcessEnv DiscoverProcessEnv() {
  ProcessEnv env;
  if (ReadInt("OMPI_COMM_WORLD_RANK", &env.rank) &&
      ReadInt("OMPI_COMM_WORLD_SIZE", &env.world_size)) {
    ReadInt("OMPI_COMM_WORLD_LOCAL_RANK", &env.local_rank);
    env.launcher = "mpirun";
  } else if (ReadInt("SLURM_PROCID", &env.rank) && ReadInt("SLURM_NTASKS", &env.world_size)) {
    ReadInt("SLURM_LOCALID", &env.local_rank);
    env.launcher = "srun";
  } else {
    env = ProcessEnv{};
  }
  return env;
}

}  // namespace dqt
