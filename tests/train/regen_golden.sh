#!/usr/bin/env bash
# Rewrites the golden loss files (tests/train/golden/MODE.txt) from build/tests/golden_record.
# Run it only after an intended numeric change, and say why in the commit; golden_test only
# compares. Usage: tests/train/regen_golden.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
export DQT_DATA_DIR=${DQT_DATA_DIR:-$here/data_cache} DQT_SOURCE_DIR=$here
for mode in fp dqt8 ternary_all bitnet; do
  "$build/tests/golden_record" "$mode" > "$here/tests/train/golden/$mode.txt"
  echo "golden $mode: $(tr '\n' ' ' < "$here/tests/train/golden/$mode.txt")"
done
