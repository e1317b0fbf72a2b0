#!/usr/bin/env bash
# Issue 12: from a trained fp checkpoint, which road to ternary weights costs least? Trains the
# quickstart model in fp for BASE_STEPS (the "fp checkpoint"), then continues from its weights
# (checkpoint.init_from: a new run, fresh optimizer) for STEPS steps each, the same tokens for all:
# fp (continued), BitNet QAT, DQT ternary, DQT-8, TernaryLLM DLT, DLT + OFF (the fp checkpoint as
# frozen teacher). Scores every final checkpoint with dqt_eval on the first EVAL_BYTES of the
# held-out books (as trained, and absmean-ternarized for the runs whose weights are not ternary),
# reads bytes/parameter from each run's ledger line and tokens/s from its log, and writes
# bench/results/ternaryllm.json and the block between <!-- ternaryllm:begin --> and
# <!-- ternaryllm:end --> in docs/RESULTS.md (appended when absent; the rest is left untouched).
# Usage: bench/ternaryllm_results.sh   (BASE_STEPS=200 STEPS=100 EVAL_BYTES=200000: ~8 minutes on
#        an idle 2-core machine). Needs: launch/quickstart.sh run once (build, data_cache shards).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bin=${BUILD_DIR:-$here/build}/launch
base_steps=${BASE_STEPS:-200}
steps=${STEPS:-100}
eval_bytes=${EVAL_BYTES:-200000}
out=runs/ternaryllm
cfg=launch/configs/quickstart.pbtxt
for f in data_cache/gutenberg_train.bin data_cache/gutenberg_heldout.txt "$bin/dqt_worker" \
  "$bin/dqt_eval" "$bin/dqt_prepare"; do
  [ -e "$f" ] || { echo "missing $f: run launch/quickstart.sh first" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out" bench/results docs
start=$(date +%s)

# The held-out text scored by every run (and the trainer's own final evaluation shard).
head -c "$eval_bytes" data_cache/gutenberg_heldout.txt > "$out/heldout.txt"
"$bin/dqt_prepare" --out "$out/heldout.bin" "$out/heldout.txt" >/dev/null

common=(--cfg "$cfg" --set data.eval_shard="$out/heldout.bin" --set train.eval_every=0
        --set train.log_every=10 --set train.progress=false)
echo "ternaryllm_results: fp base ($base_steps steps)" >&2
"$bin/dqt_worker" "${common[@]}" --set train.steps="$base_steps" \
  --set optimizer.warmup_steps=$((base_steps / 10)) --set checkpoint.dir="$out/base" \
  --set log.jsonl_path="$out/base/train.jsonl" 2>"$out/base.log"
base=$(ls -d "$out"/base/step_* | sort | tail -n 1)

# name | overrides. Every run: init_from the base, the same STEPS x 1024 tokens from the same
# sampler seed, warm-up STEPS/10 then cosine from the quickstart's peak lr, A16 (no activation
# quantization: the question is the weights).
runs=(
  "fp|"
  "bitnet|--set quant.optimizer=BITNET --set quant.weight_format=TERNARY"
  "dqt-ternary|--set quant.optimizer=DQT --set quant.weight_format=TERNARY"
  "dqt-8|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=8"
  "dlt|--set quant.optimizer=TERNARYLLM --set quant.weight_format=TERNARY"
  "dlt-off|--set quant.optimizer=TERNARYLLM --set quant.weight_format=TERNARY --set distill.off_lambda=1 --set distill.off_layers=0,1,2,3"
)
for entry in "${runs[@]}"; do
  name=${entry%%|*}
  args=${entry#*|}
  echo "ternaryllm_results: $name ($steps steps from $base)" >&2
  # shellcheck disable=SC2086
  "$bin/dqt_worker" "${common[@]}" --set train.steps="$steps" \
    --set optimizer.warmup_steps=$((steps / 10)) --set checkpoint.init_from="$base" \
    --set checkpoint.dir="$out/$name" --set log.jsonl_path="$out/$name/train.jsonl" $args \
    2>"$out/$name.log"
  ckpt=$(ls -d "$out/$name"/step_* | sort | tail -n 1)
  "$bin/dqt_eval" --ckpt "$ckpt" --text "$out/heldout.txt" --json > "$out/$name/eval.json"
  case $name in
    fp | dqt-8)
      "$bin/dqt_eval" --ckpt "$ckpt" --text "$out/heldout.txt" --ternarize --json \
        > "$out/$name/eval_ternarized.json" ;;
  esac
done
seconds=$(( $(date +%s) - start ))
python3 bench/ternaryllm_report.py "$out" "$base_steps" "$steps" "$eval_bytes" "$seconds" \
  "$(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!docs' ':!bench/results' || echo -dirty)"
sed -n '/<!-- ternaryllm:begin -->/,/<!-- ternaryllm:end -->/p' docs/RESULTS.md
