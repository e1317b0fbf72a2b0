#!/usr/bin/env bash
# launch/slurm/dqt.sbatch under a real single-node Slurm (slurmctld, slurmd and munge started
# here and stopped at the end): 2 tasks in the srun form and in the mpirun form, each checked
# for both ranks, identical replicas and the written checkpoint; then preemption of both forms
# (the time-limit warning SIGUSR1 to the batch shell; `scontrol requeue`, which sends SIGTERM),
# requeue and resume, each ending on a final checkpoint byte-identical to the uninterrupted job's.
# Usage: slurm_test.sh BUILD_DIR   (DQT_DATA_DIR: fetched corpus and tokenizer)
set -euo pipefail
OPS_BUILD=$(cd "$1" && pwd)
OPS_SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$OPS_SRC/tests/ops/common.sh"
source "$OPS_SRC/tests/ops/slurm_cluster.sh"
for tool in slurmctld slurmd munged sbatch; do
  command -v "$tool" > /dev/null || { echo "$tool missing: launch/install_deps.sh installs it"; exit 1; }
done
work=$(mktemp -d /tmp/dqt_slurm.XXXXXX)
trap 'slurm_cluster_stop; rm -rf "$work"' EXIT
ops_make_shards "$work"
slurm_cluster_start "$work/slurm" 2
# CI runs as root; Open MPI's mpirun refuses root unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 BUILD_DIR=$OPS_BUILD
steps=120
final=step_$(printf %06d $steps)

submit() {  # submit NAME LAUNCHER: starts the job, prints its id
  local name=$1
  mapfile -t args < <(ops_tiny_args "$work" "$work/$name" $steps)
  DQT_LAUNCHER=$2 sbatch --parsable --ntasks=2 --chdir="$OPS_SRC" --job-name="$name" \
    --output="$work/$name.out" launch/slurm/dqt.sbatch launch/configs/tiny.pbtxt "${args[@]}"
}

job_field() {  # job_field JOB FIELD: e.g. JobState, Restarts
  scontrol show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

wait_done() {  # wait_done JOB NAME SECONDS: until the job has ended for good
  local state i
  for ((i = 0; i < $3 * 10; i++)); do
    state=$(job_field "$1" JobState)
    case $state in
      COMPLETED) return 0 ;;
      FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
        echo "job $2 ($1) ended $state:"; cat "$work/$2.out"; return 1 ;;
    esac
    sleep 0.1
  done
  echo "job $2 ($1) still $state after $3 s:"; cat "$work/$2.out"; return 1
}

# check_job NAME LAUNCHER: both ranks report the last step through LAUNCHER with one digest.
check_job() {
  local out=$work/$1.out lines
  lines=$(grep -E "^dqt_worker: rank [01] of 2 \($2, .*\): step $steps, " "$out" | tail -n 2) || true
  if [ "$(cut -d' ' -f3 <<< "$lines" | sort | tr '\n' ' ')" != "0 1 " ]; then
    echo "job $1: expected the final lines of ranks 0 and 1 under $2:"; cat "$out"; return 1
  fi
  if [ "$(sed 's/.*weights digest //' <<< "$lines" | sort -u | wc -l)" -ne 1 ]; then
    echo "job $1: the replicas differ:"; echo "$lines"; return 1
  fi
  [ -f "$work/$1/$final/manifest.txt" ] || { echo "job $1: no checkpoint $final"; return 1; }
  echo "job $1 ($2): ranks 0 and 1 ran, replicas identical ($(sed 's/.*weights digest //' <<< "$lines" | head -n 1)), $final written"
}

start=$(date +%s)
for form in srun mpirun; do
  job=$(submit "$form" "$form")
  wait_done "$job" "$form" 120
  check_job "$form" "$form"
done
ops_same_checkpoint "$work/srun/$final" "$work/mpirun/$final"
echo "srun and mpirun jobs wrote identical checkpoints ($(( $(date +%s) - start )) s)"

# preempt NAME LAUNCHER HOW: stops the job mid-run, waits for its requeued run to finish.
preempt() {
  local name=$1 job
  job=$(submit "$name" "$2")
  ops_wait_for_step "$work/$name.jsonl" 50 120
  case $3 in
    warning) scancel --batch --signal=USR1 "$job" ;;  # what --signal=B:USR1@300 sends
    requeue) scontrol requeue "$job" ;;
  esac
  wait_done "$job" "$name" 180
  [ "$(job_field "$job" Restarts)" = 1 ] || { echo "job $name: not requeued once"; cat "$work/$name.out"; return 1; }
  grep -q '"event":"stopped"' "$work/$name.jsonl" ||
    { echo "job $name: no stop in its log"; cat "$work/$name.out"; return 1; }
  grep -q "restart 1: resuming from the newest checkpoint" "$work/$name.out" ||
    { echo "job $name: the requeued job did not resume"; cat "$work/$name.out"; return 1; }
  check_job "$name" "$2"
  echo "reliability: fault injected: Slurm preemption ($3), survived"
  ops_same_checkpoint "$work/srun/$final" "$work/$name/$final"
  echo "job $name ($2, $3): stopped at $(sed -n 's/.*"event":"stopped","step":\([0-9]*\).*/step \1/p' \
    "$work/$name.jsonl"), requeued, resumed; final checkpoint identical to the uninterrupted job's"
}
preempt warned srun warning
preempt requeued mpirun requeue
echo "slurm_test: passed in $(( $(date +%s) - start )) s"
