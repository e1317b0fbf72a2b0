#!/usr/bin/env bash
# SIGSTOP one rank of a 3-rank dqt_worker run once training is under way: the collective timeout
# (parallel.collective_timeout_s = 5) must end the job with a non-zero exit, and both live ranks
# must name the stopped rank (world rank 2, with its pid) as the silent one. Without the watchdog
# the live ranks wait in their collective forever: a guard of 120 s then fails the test.
# Usage: watchdog_test.sh BUILD_DIR   (DQT_DATA_DIR: fetched corpus and tokenizer)
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
data=${DQT_DATA_DIR:-$src/data_cache}
timeout_s=${DQT_WATCHDOG_TEST_TIMEOUT_S:-5}  # 0 shows the hang without the watchdog
work=$(mktemp -d /tmp/dqt_watchdog.XXXXXX)
stopped=""
# The job's processes: every process whose command line names this test's directory.
job_pids() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -q -- "$work/" && echo "${p#/proc/}"
  done
  return 0
}
cleanup() {
  [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
  local p
  for p in $(job_pids); do [ "$p" != $$ ] && kill -KILL "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
head -c 80000 "$data/gutenberg_train.txt" > "$work/train.txt"
head -c 8000 "$data/gutenberg_heldout.txt" > "$work/eval.txt"
prepare="$build/launch/dqt_prepare --encoder $data/encoder.json --vocab $data/vocab.bpe"
$prepare --out "$work/train.bin" "$work/train.txt" > /dev/null
$prepare --out "$work/eval.bin" "$work/eval.txt" > /dev/null

# Enough steps that the run cannot finish before the stop; a guard in case the job never ends.
OMP_NUM_THREADS=1 timeout -s KILL 120 mpirun --allow-run-as-root --oversubscribe -np 3 \
  "$build/launch/dqt_worker" --cfg "$src/launch/configs/tiny.pbtxt" \
  --set data.train_shard="$work/train.bin" --set data.eval_shard="$work/eval.bin" \
  --set train.steps=1000000 --set train.eval_every=0 --set parallel.dp=3 \
  --set parallel.collective_timeout_s="$timeout_s" --set log.jsonl_path="$work/log.jsonl" \
  > "$work/out.txt" 2>&1 &
job=$!

# Rank 2 is the process of the job whose environment says so; stop it after step 2 is logged.
for _ in $(seq 1 1200); do
  steps=$(grep -c '"step"' "$work/log.jsonl" 2> /dev/null || true)
  [ "${steps:-0}" -ge 3 ] && break
  kill -0 "$job" 2>/dev/null || { cat "$work/out.txt"; echo "the job ended before training"; exit 1; }
  sleep 0.05
done
for p in $(job_pids); do
  if tr '\0' '\n' 2>/dev/null < "/proc/$p/environ" | grep -qx OMPI_COMM_WORLD_RANK=2 &&
    tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline" | grep -q dqt_worker; then
    stopped=$p
  fi
done
[ -n "$stopped" ] || { cat "$work/out.txt"; echo "rank 2 not found"; exit 1; }
kill -STOP "$stopped"
start=$(date +%s.%N)
echo "stopped rank 2 (pid $stopped) after $(grep -c '"step"' "$work/log.jsonl") logged steps"

status=0
wait "$job" || status=$?
end=$(date +%s.%N)
grep '^dqt: collective' "$work/out.txt" || true
if [ "$status" -eq 0 ]; then
  cat "$work/out.txt"; echo "the job exited 0 with a rank stopped"; exit 1
fi
if [ "$status" -eq 137 ]; then
  echo "the job did not end within 120 s of a rank being stopped (killed by the guard)"; exit 1
fi
for r in 0 1; do
  grep -q "on rank $r\b.*; silent rank(s): 2 (host [^,]*, pid $stopped);" \
    "$work/out.txt" || { cat "$work/out.txt"; echo "rank $r did not name rank 2 as silent"; exit 1; }
done
# The launcher's abort resumes the stopped rank (SIGCONT) before killing it: if it gets to print,
# it must name itself, the rank the others waited for.
if grep "on rank 2\b" "$work/out.txt" | grep -qv "rank(s): 2 (host [^,]*, pid $stopped"; then
  cat "$work/out.txt"; echo "the stopped rank blamed another"; exit 1
fi
took=$(awk "BEGIN { printf \"%.1f\", $end - $start }")
echo "job exited $status $took s after rank 2 was stopped (timeout ${timeout_s} s); both live" \
  "ranks named rank 2"
# Read by bench/reliability_report.py.
echo "reliability: hang injected: SIGSTOP of rank 2 of 3 ranks after step 2, job ended (exit" \
  "$status) in $took s with a ${timeout_s} s collective timeout, the silent rank named by both others"
