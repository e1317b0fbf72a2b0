#!/usr/bin/env bash
# The test command: installs what is missing, fetches the pinned corpus and tokenizer, builds,
# runs the whole ctest suite, then the sanitizer and fuzzing leg (tests/sanitize.sh: ASan +
# UBSan build of the CPU suite, each libFuzzer target for a bounded time; SANITIZE=0 leaves it
# out). Fails when either fails. `.ci/run` calls exactly this.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/launch/install_deps.sh"
"$here/launch/fetch_data.sh" "$here/data_cache"
"$here/launch/fetch_interop.sh" "$here/data_cache"
"$here/launch/build.sh"
cd "${BUILD_DIR:-$here/build}"
rc=0
ctest --output-on-failure --parallel 2 --timeout 1200 "$@" || rc=$?
if [ "${SANITIZE:-1}" != 0 ]; then
  "$here/tests/sanitize.sh" || rc=$((rc ? rc : 1))
fi
exit $rc
