#!/usr/bin/env bash
# Configures and builds dqt (Release, ninja, ccache) into BUILD_DIR (default: build/).
# Arguments are build targets (default: everything, tests included).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$here/build}
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDQT_DATA_DIR="$here/data_cache" \
  >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build" --parallel "$(nproc)" "${targets[@]}"
