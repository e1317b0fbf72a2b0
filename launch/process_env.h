// Rank discovery: where this process sits in the job, read from the launcher's environment
// (Open MPI's mpirun, Slurm's srun) or a plain single process.
#pragma once

#include <string>

namespace dqt {

struct ProcessEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string launcher = "plain";  // "mpirun", "srun" or "plain"
};

// Reads OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK}, then SLURM_{PROCID,NTASKS,LOCALID}.
ProcessEnv DiscoverProcessEnv();

}  // namespace dqt
