#!/usr/bin/env bash
# dqt_report on a shortened quickstart run (the quickstart model, DQT-ternary so that every plot
# has data): a report written while the run is going shows it unfinished; the finished run's page,
# opened in headless Chromium, has every plot in its DOM with data and every plot colour painted
# in its screenshot (tests/ops/report_check.py). Exit status 77 (skipped) without Chromium.
# Usage: report_test.sh BUILD_DIR   (DQT_DATA_DIR: fetched corpus and tokenizer)
set -euo pipefail
OPS_BUILD=$(cd "$1" && pwd)
OPS_SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$OPS_SRC/tests/ops/common.sh"
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "SKIPPED: no chromium (Debian package chromium; launch/install_deps.sh installs it)"
  exit 77
fi
work=$(mktemp -d /tmp/dqt_report.XXXXXX)
worker_pid=
trap '[ -z "$worker_pid" ] || kill "$worker_pid" 2> /dev/null; rm -rf "$work"' EXIT
ops_make_shards "$work"
run=$work/run
steps=20
OMP_NUM_THREADS=2 "$OPS_BUILD/launch/dqt_worker" --cfg "$OPS_SRC/launch/configs/quickstart.pbtxt" \
  --set data.train_shard="$work/train.bin" --set data.eval_shard="$work/eval.bin" \
  --set train.steps=$steps --set optimizer.warmup_steps=5 --set train.log_every=1 --set train.eval_every=5 \
  --set train.eval_sequences=4 --set checkpoint.dir="$run" --set checkpoint.every=10 \
  --set log.jsonl_path="$run/train.jsonl" --set quant.optimizer=DQT \
  --set quant.weight_format=TERNARY > "$work/worker.out" 2>&1 &
worker_pid=$!

# While it runs: the page is written and says how far the run got.
ops_wait_for_step "$run/train.jsonl" 3 120 "$worker_pid" || { cat "$work/worker.out"; exit 1; }
"$OPS_BUILD/launch/dqt_report" "$run" --out "$work/running.html"
if kill -0 "$worker_pid" 2> /dev/null; then
  grep -q "running, or ended without its final evaluation" "$work/running.html" ||
    { echo "the report of a running run does not say so"; exit 1; }
  grep -Eq "[0-9]+ of $steps steps logged" "$work/running.html" || { echo "no progress row"; exit 1; }
  echo "report while running: $(grep -Eo "[0-9]+ of $steps steps logged" "$work/running.html")"
else
  echo "the run ended before the mid-run report; the mid-run check did not happen"; exit 1
fi
wait "$worker_pid" || { echo "the run failed"; cat "$work/worker.out"; exit 1; }
worker_pid=
"$OPS_BUILD/launch/dqt_report" "$run"
grep -q "finished: held-out loss" "$run/report.html" || { echo "the finished run's page says otherwise"; exit 1; }

browser=("$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars
         --user-data-dir="$work/chromium" --window-size=1200,2200)
timeout 120 "${browser[@]}" --dump-dom "file://$run/report.html" > "$work/dom.html" 2> "$work/chromium.err" ||
  { echo "chromium --dump-dom failed"; cat "$work/chromium.err"; exit 1; }
timeout 120 "${browser[@]}" --screenshot="$work/report.png" "file://$run/report.html" \
  > /dev/null 2>> "$work/chromium.err" ||
  { echo "chromium --screenshot failed"; cat "$work/chromium.err"; exit 1; }
/usr/bin/python3 "$OPS_SRC/tests/ops/report_check.py" "$work/dom.html" "$work/report.png" \
  loss lr grad_norm tokens_per_s flip zero clip memory
[ -z "${DQT_REPORT_SCREENSHOT:-}" ] || cp "$work/report.png" "$DQT_REPORT_SCREENSHOT"
