// The MPI world of a multi-rank test (set by tests/testing/mpi_test_main.cc around
// RUN_ALL_TESTS; null outside it).
#pragma once

#include "dist/mpi_communicator.h"

namespace dqt::testing {

extern MpiCommunicator* g_world;
// The world again, with pieces of at most 100000 elements: large collectives take the split
// paths (pieces, per-root reduce / broadcast).
extern MpiCommunicator* g_world_in_pieces;

}  // namespace dqt::testing
