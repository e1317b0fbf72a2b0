#!/usr/bin/env bash
# Bytes communicated per training step per rank (replicated vs sharded DP, int8 and packed
# ternary codes, against fp32 ZeRO-style sharding), and optimizer-state bytes per rank at
# DP = 1, 2, 4, for the quickstart model. Real trainer steps under mpirun on this machine's CPU;
# the counts do not depend on the machine. Writes bench/results/comm_bytes.json and
# docs/DISTRIBUTED_BYTES.md.
# Usage: bench/comm_bytes.sh [BUILD_DIR]   (needs launch/fetch_data.sh's data_cache/)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
bench=$build/bench/comm_bytes_bench
[ -x "$bench" ] || { echo "build first: launch/build.sh comm_bytes_bench" >&2; exit 1; }
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The trainer ends with a whole-shard evaluation (its TP all-reduces count too): give it a
# held-out shard of two 128-token windows.
head -c 1200 data_cache/gutenberg_heldout.txt > "$tmp/eval.txt"
"$build/launch/dqt_prepare" --out "$tmp/eval.bin" "$tmp/eval.txt" > /dev/null
common=(--cfg launch/configs/quickstart.pbtxt --set train.steps=3 --set optimizer.warmup_steps=1
        --set train.eval_every=0 --set parallel.digest_every=0 --set data.eval_shard="$tmp/eval.bin"
        --set log.jsonl_path="$tmp/log.jsonl" --set checkpoint.dir= --set checkpoint.every=0)
dqt8=(--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=8)
ternary=(--set quant.optimizer=DQT --set quant.weight_format=TERNARY)
fp=(--set quant.optimizer=FP)
run() {  # run NP TP MODE POLICY ARGS...
  local np=$1 tp=$2 mode=$3 policy=$4
  shift 4
  OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np "$np" "$bench" "${common[@]}" \
    --set parallel.dp=$((np / tp)) --set parallel.tp="$tp" --set parallel.dp_mode="$mode" \
    --set quant.policy="$policy" "$@" 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
}
emit() {  # emit RUN_ARGS...: one JSON line, comma-separated from the previous one
  local line
  line=$(run "$@")
  [ $first -eq 0 ] && echo ","
  first=0
  echo "  $line"
}
{
  echo "["
  first=1
  for np in 1 2 4; do
    for policy in LINEAR_ONLY ALL; do
      for mode in REPLICATED SHARDED; do
        for q in dqt8 ternary fp; do
          [ "$q" = fp ] && [ "$policy" = ALL ] && continue  # fp has no policy
          declare -n args=$q
          emit "$np" 1 "$mode" "$policy" "${args[@]}"
        done
      done
    done
  done
  # Tensor parallelism adds activation all-reduces (o/down outputs, input gradients, absmax).
  for mode in REPLICATED SHARDED; do
    for q in dqt8 ternary fp; do
      declare -n args=$q
      emit 4 2 "$mode" LINEAR_ONLY "${args[@]}"
    done
  done
  echo "]"
} > bench/results/comm_bytes.json
python3 bench/comm_bytes_report.py bench/results/comm_bytes.json > docs/DISTRIBUTED_BYTES.md
echo "wrote bench/results/comm_bytes.json and docs/DISTRIBUTED_BYTES.md"
