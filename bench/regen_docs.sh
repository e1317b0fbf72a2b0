#!/usr/bin/env bash
# Regenerates every CPU-made document under docs/ (and its JSON under bench/results/) on the
# checked-out commit, one generator after another, and logs how long each took to
# runs/regen_docs/times.txt. Each generator records the commit it ran on; this script refuses a
# tree whose tracked sources differ from HEAD, so that commit is the code that made the numbers.
#   bench/regen_docs.sh                 # all of them, in the order below
#   bench/regen_docs.sh results memory  # some of them (names as in the list below)
# Order: the throughput table first (it wants an idle machine), then the short ones, then the
# long trainings. docs/GPU.md is made on a GPU machine by tests/gpu/run_gpu_checks.sh, not here.
# About 80 minutes on an idle 2-core machine with modules; the training ones dominate.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
all=(performance memory comm quickstart small_vocab results ternaryllm reliability modules)
want=("$@")
[ ${#want[@]} -gt 0 ] || want=("${all[@]}")
for w in "${want[@]}"; do
  [[ " ${all[*]} " == *" $w "* ]] || { echo "regen_docs: unknown generator '$w' (${all[*]})" >&2; exit 2; }
done
if [ -n "$(git status --porcelain --untracked-files=no -- . ':!docs' ':!bench/results')" ]; then
  echo "regen_docs: tracked sources differ from HEAD; commit first so the documents name the code" >&2
  exit 1
fi
launch/build.sh >/dev/null
log=runs/regen_docs
mkdir -p "$log"
echo "# bench/regen_docs.sh on $(git rev-parse --short=12 HEAD), $(date -u '+%F %H:%M UTC')" \
  >> "$log/times.txt"
for w in "${want[@]}"; do
  start=$(date +%s)
  echo "regen_docs: $w" >&2
  case $w in
    performance) bench/cpu_train_step.sh ;;
    memory) bench/memory_ledger.sh ;;
    comm) bench/comm_bytes.sh ;;
    quickstart) bench/quickstart_report.sh ;;
    small_vocab) bench/small_vocab.sh ;;
    results) bench/dqt_results.sh ;;
    ternaryllm) bench/ternaryllm_results.sh ;;
    reliability) bench/reliability.sh ;;
    modules) bench/modules.sh ;;
  esac > "$log/$w.log" 2>&1 || { echo "regen_docs: $w failed, see $log/$w.log" >&2; exit 1; }
  echo "$w $(( $(date +%s) - start )) s" | tee -a "$log/times.txt" >&2
done
