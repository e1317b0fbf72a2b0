// Grid validation (one all-reduce, so that ranks configured differently fail together instead of
// deadlocking) and the two splits.
#include "dist/process_grid.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/base/status.h"

namespace dqt {

ProcessGrid::ProcessGrid(Communicator* world, int dp, int tp,
                         std::unique_ptr<Communicator> dp_group,
                         std::unique_ptr<Communicator> tp_group)
    : world_(world),
      dp_(dp),
      tp_(tp),
      dp_group_(std::move(dp_group)),
      tp_group_(std::move(tp_group)) {}

absl::StatusOr<ProcessGrid> ProcessGrid::Create(Communicator& world, int dp, int tp) {
  // Agreement first, so that every rank takes the same path: one all-reduce of (dp, -dp, tp,
  // -tp) under MAX gives every rank the range of dp and tp over all ranks.
  double range[4] = {static_cast<double>(dp), -static_cast<double>(dp), static_cast<double>(tp),
                     -static_cast<double>(tp)};
  DQT_RETURN_IF_ERROR(world.AllReduce(range, 4, ReduceOp::kMax));
  if (range[0] != -range[1] || range[2] != -range[3]) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "process grid: ranks disagree on the layout: dp in [%d, %d], tp in [%d, %d]",
        static_cast<int>(-range[1]), static_cast<int>(range[0]), static_cast<int>(-range[3]),
        static_cast<int>(range[2])));
  }
  if (dp < 1 || tp < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("process grid: dp and tp must be >= 1, got dp=%d tp=%d", dp, tp));
  }
  if (static_cast<int64_t>(dp) * tp != world.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "process grid: dp=%d x tp=%d = %d ranks, but the world has %d (launch dp*tp ranks)", dp, tp,
        static_cast<int64_t>(dp) * tp, world.size()));
  }
  const int dp_rank = world.rank() / tp, tp_rank = world.rank() % tp;
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> tp_group, world.Split(dp_rank, tp_rank));
  DQT_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> dp_group, world.Split(tp_rank, dp_rank));
  if (tp_group->size() != tp || tp_group->rank() != tp_rank || dp_group->size() != dp ||
      dp_group->rank() != dp_rank) {
    return absl::InternalError(absl::StrFormat(
        "process grid: split gave tp group rank %d of %d and dp group rank %d of %d, expected "
        "%d of %d and %d of %d",
        tp_group->rank(), tp_group->size(), dp_group->rank(), dp_group->size(), tp_rank, tp,
        dp_rank, dp));
  }
  return ProcessGrid(&world, dp, tp, std::move(dp_group), std::move(tp_group));
}

}  // namespace dqt
