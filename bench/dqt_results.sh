#!/usr/bin/env bash
# Trains the quickstart model on the quickstart corpus in every mode of issue 3 with the same
# tokens, steps and schedule, scores the held-out books, and writes docs/RESULTS.md,
# docs/loss_curves.png and bench/results/dqt_results.json.
# Usage: bench/dqt_results.sh            (STEPS=480 by default; STEPS=960 = the full quickstart)
#        ONLY="dqt-8" bench/dqt_results.sh  (re-train some runs, reuse the other logs)
# Needs: launch/quickstart.sh run once (build, data_cache/*.bin shards), gnuplot.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bin=${BUILD_DIR:-$here/build}/launch
steps=${STEPS:-480}
out=runs/results
mkdir -p "$out" bench/results docs
for f in data_cache/gutenberg_train.bin data_cache/gutenberg_heldout.bin "$bin/dqt_worker"; do
  [ -e "$f" ] || { echo "missing $f: run launch/quickstart.sh first" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "gnuplot missing: apt-get install gnuplot-nox" >&2; exit 1; }

# name | overrides (same model, data, steps and schedule for all; BitNet adds its two stages)
runs=(
  "fp|"
  "bitnet|--set quant.optimizer=BITNET --set quant.weight_format=TERNARY --set quant.int8_activations=true --set optimizer.stage2_start=0.5 --set optimizer.stage2_lr=0.00267 --set optimizer.stage2_weight_decay=0"
  "dqt-8|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=8 --set quant.int8_activations=true"
  "dqt-4|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=4 --set quant.int8_activations=true"
  "dqt-3|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=3 --set quant.int8_activations=true"
  "dqt-ternary|--set quant.optimizer=DQT --set quant.weight_format=TERNARY --set quant.int8_activations=true"
  "dqt-ternary-all|--set quant.optimizer=DQT --set quant.weight_format=TERNARY --set quant.int8_activations=true --set quant.policy=ALL"
  "dqt-ternary-all-int8-moments|--set quant.optimizer=DQT --set quant.weight_format=TERNARY --set quant.int8_activations=true --set quant.policy=ALL --set quant.moments=INT8"
)
for entry in "${runs[@]}"; do
  name=${entry%%|*}
  args=${entry#*|}
  # ONLY="dqt-8 fp" re-trains just those runs (the others' logs are reused).
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  dir=$out/$name
  rm -rf "$dir"  # a re-trained run replaces its old log and checkpoints
  mkdir -p "$dir"
  echo "dqt_results: $name ($steps steps)" >&2
  # shellcheck disable=SC2086
  "$bin/dqt_worker" --cfg launch/configs/quickstart.pbtxt --set train.steps="$steps" \
    --set train.eval_every=0 --set train.log_every=10 --set checkpoint.dir="$dir" \
    --set log.jsonl_path="$dir/train.jsonl" --set train.progress=false $args
done
# dqt-8 with its linear weights ternarized at load, scored on the held-out shard with the
# trainer's windows (seq_len 128, batches of 8, as launch/configs/quickstart.pbtxt) both ways:
# with int8 activations as trained, and with fp activations (what transformers computes from an
# export). ONLY=none re-scores and re-reports without training.
ckpt=$(ls -d $out/dqt-8/step_* | sort | tail -n 1)
score=("$bin/dqt_eval" --ckpt "$ckpt" --shard data_cache/gutenberg_heldout.bin --seq_len 128
  --batch 8 --ternarize --json)
"${score[@]}" > "$out/dqt-8-ternarized.json"
"${score[@]}" --fp_activations > "$out/dqt-8-ternarized-fp-activations.json"

python3 bench/dqt_results_report.py "$out" "$steps"
gnuplot <<GP
set terminal png size 1000,600
set output "docs/loss_curves.png"
set title "Training loss (mean over each logged step's 1024 tokens), quickstart model, $steps steps"
set xlabel "step"; set ylabel "loss (nats/token)"; set yrange [4:11]; set key top right
plot for [i=0:7] "$out/curves.dat" index i using 1:2 with lines lw 2 title columnheader(1)
GP
cat docs/RESULTS.md
