#!/usr/bin/env bash
# The test command: installs what is missing, fetches the pinned corpus and tokenizer, builds,
# and runs the whole ctest suite. `.ci/run` calls exactly this.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/launch/install_deps.sh"
"$here/launch/fetch_data.sh" "$here/data_cache"
"$here/launch/fetch_interop.sh" "$here/data_cache"
"$here/launch/build.sh"
cd "${BUILD_DIR:-$here/build}"
ctest --output-on-failure --parallel 2 --timeout 1200 "$@"
