#!/usr/bin/env bash
# Configures and builds dqt (Release, ninja, ccache) into BUILD_DIR (default: build/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$here/build}
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDQT_DATA_DIR="$here/data_cache" \
  "$@" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
