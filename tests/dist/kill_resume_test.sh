#!/usr/bin/env bash
# Kill -9 a 2-rank sharded DQT-ternary run of dqt_worker after a checkpoint, resume from the
# newest complete checkpoint, train to the end: the final checkpoint (every shard file and the
# manifest) is byte-identical to an uninterrupted run's. Also: the kill may land mid-save, and
# the half-written temporary directory must never be taken for a checkpoint.
# Usage: kill_resume_test.sh BUILD_DIR   (DQT_DATA_DIR: fetched corpus and tokenizer)
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
data=${DQT_DATA_DIR:-$src/data_cache}
work=$(mktemp -d /tmp/dqt_kill_resume.XXXXXX)
trap 'rm -rf "$work"' EXIT
head -c 80000 "$data/gutenberg_train.txt" > "$work/train.txt"
head -c 8000 "$data/gutenberg_heldout.txt" > "$work/eval.txt"
prepare="$build/launch/dqt_prepare --encoder $data/encoder.json --vocab $data/vocab.bpe"
$prepare --out "$work/train.bin" "$work/train.txt" > /dev/null
$prepare --out "$work/eval.bin" "$work/eval.txt" > /dev/null
steps=80
run() {  # run CHECKPOINT_DIR [extra --set ...]
  local dir=$1
  shift
  OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 "$build/launch/dqt_worker" \
    --cfg "$src/launch/configs/tiny.pbtxt" --set data.train_shard="$work/train.bin" \
    --set data.eval_shard="$work/eval.bin" --set train.steps=$steps --set train.eval_every=0 \
    --set checkpoint.dir="$dir" --set checkpoint.every=5 --set checkpoint.keep_last=3 \
    --set parallel.dp=2 --set parallel.dp_mode=SHARDED --set quant.optimizer=DQT \
    --set quant.weight_format=TERNARY --set quant.moments=BF16 \
    --set log.jsonl_path="$dir.jsonl" "$@"
}
run "$work/whole" > /dev/null 2>&1 || { echo "uninterrupted run failed"; exit 1; }

setsid bash -c "$(declare -f run); work=$work build=$build src=$src steps=$steps; \
  run $work/killed" > "$work/killed.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$work/killed/step_000010/manifest.txt" ] && break
  sleep 0.05
done
# mpirun's ranks may outlive its process group: kill them by their command line, and wait.
kill -KILL -- -"$pid" 2>/dev/null || true
pkill -KILL -f "checkpoint.dir=$work/killed" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
while pgrep -f "checkpoint.dir=$work/killed" > /dev/null; do sleep 0.05; done
if [ -f "$work/killed/step_$(printf %06d $steps)/manifest.txt" ]; then
  echo "the run finished before it was killed; raise steps"; exit 1
fi
echo "killed; resuming from $(ls -d "$work"/killed/step_* | sort | tail -n 1 | xargs basename)"
run "$work/killed" --set checkpoint.resume=latest > "$work/resumed.out" 2>&1 ||
  { cat "$work/resumed.out"; exit 1; }
echo "reliability: fault injected: kill -9 of both ranks, survived"
final=step_$(printf %06d $steps)
bytes=0
for f in "$work/whole/$final"/*; do
  cmp "$f" "$work/killed/$final/$(basename "$f")" || { echo "differs: $(basename "$f")"; exit 1; }
  bytes=$((bytes + $(stat -c %s "$f")))
done
echo "reliability: compared $(ls "$work/whole/$final" | wc -l) files, $bytes bytes, 0 differ"
echo "final checkpoint $final identical after kill -9 and resume ($(ls "$work/whole/$final" | wc -l) files)"
