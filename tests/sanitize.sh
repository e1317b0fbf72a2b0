#!/usr/bin/env bash
# The sanitizer and fuzzing leg of the test command (tests/run.sh runs it after the suite):
# builds dqt with clang, AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer's coverage
# hooks, CUDA off, into BUILD_DIR_ASAN (default build-asan/); runs the CPU suite there (the
# gpu, mpi and ops entries, and the style checks, run in the regular build only), and fuzzes
# every tests/fuzz target for FUZZ_SECONDS (default 25) each. Extra arguments go to ctest.
# Measured on 2 cores with a cold ccache (CCACHE_DISABLE=1): see docs/RELIABILITY.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR_ASAN:-$here/build-asan}
command -v clang++ >/dev/null || { echo "sanitize.sh: clang++ not found (launch/install_deps.sh)" >&2; exit 1; }
CC=clang CXX=clang++ cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" "-DCMAKE_C_FLAGS_DEBUG=-O1 -gline-tables-only" \
  -DDQT_ENABLE_CUDA=OFF -DDQT_SANITIZE=address,undefined -DDQT_FUZZ=ON \
  -DDQT_FUZZ_SECONDS="${FUZZ_SECONDS:-25}" -DDQT_DATA_DIR="$here/data_cache" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
cd "$build"
# Any report ends the process with a failure; leaks are reported too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure --parallel 2 --timeout 600 -LE '^(gpu|mpi|ops|slurm|style)$' "$@"
