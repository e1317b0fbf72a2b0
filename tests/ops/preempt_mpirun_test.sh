#!/usr/bin/env bash
# Preemption of a 2-rank dqt_worker run under plain mpirun: SIGUSR1 to one rank only (the ranks
# agree and stop at the same step), then, after resuming, SIGUSR1 to mpirun (which passes it to
# every rank); each time signals keep arriving at both ranks until they exit, so some land while
# the checkpoint is written. Each stop must exit with status 75 after a checkpoint; the twice
# resumed run must end on a final checkpoint byte-identical to an uninterrupted run's.
# Usage: preempt_mpirun_test.sh BUILD_DIR   (DQT_DATA_DIR: fetched corpus and tokenizer)
set -euo pipefail
OPS_BUILD=$(cd "$1" && pwd)
OPS_SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$OPS_SRC/tests/ops/common.sh"
work=$(mktemp -d /tmp/dqt_preempt.XXXXXX)
mpirun_pid=
trap '[ -z "$mpirun_pid" ] || kill -KILL "$mpirun_pid" 2> /dev/null; rm -rf "$work"' EXIT
ops_make_shards "$work"
steps=120
final=step_$(printf %06d $steps)
run() {  # run CKPT_DIR [--set ...]: a 2-rank run in the background, its pid in mpirun_pid
  local ckpt=$1
  shift
  mapfile -t args < <(ops_tiny_args "$work" "$ckpt" $steps)
  OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 "$OPS_BUILD/launch/dqt_worker" \
    --cfg "$OPS_SRC/launch/configs/tiny.pbtxt" "${args[@]}" --set parallel.dp=2 "$@" \
    >> "$ckpt.out" 2>&1 &
  mpirun_pid=$!
}
rank_pid() {  # rank_pid RANK: the pid of that rank of the running job
  local p
  for p in $(pgrep -P "$mpirun_pid"); do
    tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && echo "$p"
  done
}
# stop_and_check HOW: signals the running job, keeps signalling its ranks until mpirun exits,
# checks status 75, both ranks at the same step with one digest, the checkpoint of that step.
stop_and_check() {
  local ckpt=$work/stopped status=0 ranks step lines
  ranks="$(rank_pid 0) $(rank_pid 1)"
  case $1 in
    one_rank) kill -USR1 "$(rank_pid 1)" ;;
    mpirun) kill -USR1 "$mpirun_pid" ;;
  esac
  while kill -0 "$mpirun_pid" 2> /dev/null; do
    kill -TERM $ranks 2> /dev/null || true
    kill -USR1 $ranks 2> /dev/null || true
    sleep 0.02
  done
  wait "$mpirun_pid" || status=$?
  mpirun_pid=
  [ "$status" -eq 75 ] || { echo "stop ($1): exit status $status, not 75"; cat "$ckpt.out"; return 1; }
  step=$(sed -n 's/.*"event":"stopped","step":\([0-9]*\).*/\1/p' "$ckpt.jsonl" | tail -n 1)
  lines=$(grep -E "^dqt_worker: rank [01] of 2 .*: step $step, " "$ckpt.out" | tail -n 2)
  if [ "$(wc -l <<< "$lines")" -ne 2 ] || [ "$(sed 's/.*digest //' <<< "$lines" | sort -u | wc -l)" -ne 1 ]; then
    echo "stop ($1): the ranks did not both stop at step $step with one digest:"; cat "$ckpt.out"
    return 1
  fi
  [ -f "$ckpt/step_$(printf %06d "$step")/manifest.txt" ] || { echo "no checkpoint of step $step"; return 1; }
  echo "stop ($1): both ranks stopped after step $step, checkpoint written, exit status 75"
  echo "reliability: fault injected: preemption signals ($1), survived"
  stopped_step=$step
}

run "$work/whole"
wait "$mpirun_pid" || { echo "uninterrupted run failed"; cat "$work/whole.out"; exit 1; }
mpirun_pid=

run "$work/stopped"
ops_wait_for_step "$work/stopped.jsonl" 30 60
stop_and_check one_rank
run "$work/stopped" --set checkpoint.resume=latest
ops_wait_for_step "$work/stopped.jsonl" $((stopped_step + 20)) 60
stop_and_check mpirun
run "$work/stopped" --set checkpoint.resume=latest
wait "$mpirun_pid" || { echo "the last resume failed"; cat "$work/stopped.out"; exit 1; }
mpirun_pid=
ops_same_checkpoint "$work/whole/$final" "$work/stopped/$final"
echo "stopped twice, resumed twice: final checkpoint $final identical to the uninterrupted run's"
