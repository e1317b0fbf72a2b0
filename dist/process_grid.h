// ProcessGrid: the world as DP x TP with TP ranks adjacent (rank = dp_rank * tp + tp_rank), and
// the data-parallel and tensor-parallel sub-communicators split from it.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "dist/communicator.h"

namespace dqt {

class ProcessGrid {
 public:
  // Collective over `world`, which must outlive the grid. InvalidArgument on every rank unless
  // all ranks passed the same dp and tp, dp, tp >= 1 and dp * tp == world.size().
  [[nodiscard]] static absl::StatusOr<ProcessGrid> Create(Communicator& world, int dp, int tp);

  int dp() const { return dp_; }
  int tp() const { return tp_; }
  int dp_rank() const { return world_->rank() / tp_; }
  int tp_rank() const { return world_->rank() % tp_; }

  Communicator& world() const { return *world_; }
  // The dp ranks holding the same TP shard (same tp_rank); ranked by dp_rank.
  Communicator& dp_group() const { return *dp_group_; }
  // The tp ranks of one model replica (same dp_rank, adjacent world ranks); ranked by tp_rank.
  Communicator& tp_group() const { return *tp_group_; }

 private:
  ProcessGrid(Communicator* world, int dp, int tp, std::unique_ptr<Communicator> dp_group,
              std::unique_ptr<Communicator> tp_group);

  Communicator* world_;  // not owned
  int dp_;
  int tp_;
  std::unique_ptr<Communicator> dp_group_;
  std::unique_ptr<Communicator> tp_group_;
};

}  // namespace dqt
