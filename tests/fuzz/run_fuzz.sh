#!/usr/bin/env bash
# Fuzzes one libFuzzer target for a bounded time (ctest fuzz/<target> of a DQT_FUZZ build):
#   tests/fuzz/run_fuzz.sh BINARY SEED_CORPUS SECONDS OUT_DIR
# Inputs libFuzzer finds go to OUT_DIR/corpus (never into the repository); a crash leaves its
# input as OUT_DIR/crash-* (fix it, then copy the input into SEED_CORPUS as a regression input).
# OUT_DIR/fuzz.log holds the whole output, with the final stats (executions) bench/reliability.sh
# reads. Exit status: 0 no crash, 1 a crash, leak or timeout (libFuzzer's default error exit code is
# 77, which ctest would read as Skipped), 77 when the target skipped itself.
set -uo pipefail
bin=$1 seeds=$2 seconds=$3 out=$4
mkdir -p "$out/corpus"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*
"$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  -max_len=8192 -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$out/" \
  "$out/corpus" "$seeds" >"$out/fuzz.log" 2>&1
rc=$?
# The first lines (seeds loaded), any crash report and the final stats, not every NEW line.
head -n 12 "$out/fuzz.log"
echo "..."
grep -v -E '^#[0-9]+' "$out/fuzz.log" | tail -n 60
grep -E '^stat::number_of_executed_units' "$out/fuzz.log" || echo "no final stats (rc $rc)"
exit $rc
