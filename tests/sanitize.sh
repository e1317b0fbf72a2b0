#!/usr/bin/env bash
# The sanitizer and fuzzing leg of the test command (tests/run.sh runs it after the suite):
# builds dqt with clang, AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer's coverage
# hooks, CUDA off, into BUILD_DIR_ASAN (default build-asan/), and runs there the ctest entries of
# the areas that read outside input (LABELS below: configs, flags, tokenizers, token shards,
# checkpoints, safetensors, the tools, the communicators' host paths) plus every libFuzzer target
# for FUZZ_SECONDS (default 25) each and the corpus replays. Left to the regular build, to keep
# CI within its time: the numeric areas (kernels, model, modules), the training runs of EXCLUDE,
# and the gpu, mpi, ops, interop and style entries. Only the targets those entries run are built.
# Extra arguments go to ctest. Timing: docs/RELIABILITY.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR_ASAN:-$here/build-asan}
labels='^(base|data|dist|launch|optim|train|fuzz|fuzz_replay)$'
exclude='^(train/golden_test|train/resume_test|train/quant_training_test)$'
command -v clang++ >/dev/null || { echo "sanitize.sh: clang++ not found (launch/install_deps.sh)" >&2; exit 1; }
CC=clang CXX=clang++ cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" "-DCMAKE_C_FLAGS_DEBUG=-O1 -gline-tables-only" \
  -DDQT_ENABLE_CUDA=OFF -DDQT_SANITIZE=address,undefined -DDQT_FUZZ=ON \
  -DDQT_FUZZ_SECONDS="${FUZZ_SECONDS:-25}" -DDQT_DATA_DIR="$here/data_cache" >/dev/null
cd "$build"
# The executables of the chosen entries (gtest binaries and fuzz targets, which ctest lists with
# their paths before they exist; the corpus replays, which it does not) and the tools they run.
mapfile -t targets < <(ctest -N -L "$labels" -E "$exclude" --show-only=json-v1 | python3 -c '
import json, os, sys
names = set()
for t in json.load(sys.stdin)["tests"]:
    for arg in t.get("command") or []:
        if arg.startswith(os.getcwd()) and "/tests/" in arg and "." not in os.path.basename(arg):
            names.add(os.path.basename(arg))
print("\n".join(sorted(names)))')
for f in "$here"/launch/bin/*.cc; do targets+=("$(basename "$f" .cc)"); done
for f in "$here"/tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$f" .cc)_replay"); done
args=()
for t in "${targets[@]}"; do args+=(--target "$t"); done
cmake --build . --parallel "$(nproc)" "${args[@]}"
# Any report ends the process with a failure; leaks are reported too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure --parallel 2 --timeout 600 -L "$labels" -E "$exclude" "$@"
