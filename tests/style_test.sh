#!/usr/bin/env bash
# Style gate run by ctest: every C++/CUDA source is clang-formatted (Google base, .clang-format).
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "clang-format not installed (apt-get install clang-format)"; exit 1
fi
bad=0
# Without git (a source tree copied into an image), every source outside build trees and data.
for f in $(git ls-files '*.cc' '*.h' '*.cu' '*.cuh' 2>/dev/null ||
           find . \( -path './build*' -o -path ./data_cache -o -path ./runs \) -prune -o \
             \( -name '*.cc' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -print); do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not clang-formatted: $f (fix: clang-format -i $f)"; bad=1
  fi
done
exit $bad
