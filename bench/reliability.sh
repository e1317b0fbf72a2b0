#!/usr/bin/env bash
# Writes docs/RELIABILITY.md (and bench/results/reliability.json) from what the tests do
# when run now: the bad inputs tried (every case of the gtest suites named *Adversarial and the
# other bad-input tests, counted from their gtest XML output), the libFuzzer executions per
# target (from libFuzzer's final stats), and the faults injected into training runs (kill -9 and
# preemption signals during checkpoint writes), the runs that survived them and the bytes lost
# (from the byte comparisons of their final checkpoints). Counts whatever tests exist when run.
#   bench/reliability.sh   # BUILD_DIR (build/), BUILD_DIR_ASAN (build-asan/, the fuzz build of
#                          # tests/sanitize.sh; without it fuzzing reads "not measured"),
#                          # FUZZ_SECONDS (20 per target, two at a time), SLURM=1 adds ops/slurm
# About 5 minutes on 2 cores once both builds exist.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$here/build}
export BUILD_DIR_ASAN=${BUILD_DIR_ASAN:-$here/build-asan}
export FUZZ_SECONDS=${FUZZ_SECONDS:-20}
export RESULTS=$BUILD_DIR/reliability  # logs and XML; only the summary is kept in bench/results
rm -rf "$RESULTS"
mkdir -p "$RESULTS/xml" "$RESULTS/fuzz" "$RESULTS/faults"
"$here/launch/build.sh" >/dev/null
start=$SECONDS

# Faults: the kill -9, preemption and stopped-rank (watchdog) tests, each printing
# "reliability: ..." lines.
fault_tests='^(dist/kill_resume|ops/preempt_mpirun|dist/watchdog)$'
[ "${SLURM:-0}" = 1 ] && fault_tests='^(dist/kill_resume|ops/preempt_mpirun|dist/watchdog|ops/slurm)$'
(cd "$BUILD_DIR" && ctest -R "$fault_tests" -V --timeout 600 > "$RESULTS/faults/ctest.log" 2>&1) ||
  echo "reliability.sh: a fault-injection test failed ($RESULTS/faults/ctest.log)" >&2

# Fuzzing: every libFuzzer target of the ASan build, FUZZ_SECONDS each, two at a time.
if ls "$BUILD_DIR_ASAN"/tests/*_fuzz >/dev/null 2>&1; then
  targets=()
  for f in "$here"/tests/fuzz/*_fuzz.cc; do targets+=(--target "$(basename "$f" .cc)"); done
  cmake --build "$BUILD_DIR_ASAN" --parallel 2 "${targets[@]}" >/dev/null
  for bin in "$BUILD_DIR_ASAN"/tests/*_fuzz; do
    echo "$bin"
  done | xargs -P 2 -I{} sh -c 't=$(basename {} _fuzz); DQT_DATA_DIR='"$here"'/data_cache \
    OMP_NUM_THREADS=1 '"$here"'/tests/fuzz/run_fuzz.sh {} '"$here"'/tests/fuzz/corpus/$t \
    '"$FUZZ_SECONDS"' '"$RESULTS"'/fuzz/$t > '"$RESULTS"'/fuzz/$t.out 2>&1 || true'
fi

# Bad inputs, then the document.
python3 "$here/bench/reliability_report.py" "$here" "$((SECONDS - start))"
echo "wrote docs/RELIABILITY.md in $((SECONDS - start)) s"
