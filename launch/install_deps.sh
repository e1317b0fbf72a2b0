#!/usr/bin/env bash
# Installs the Debian packages dqt builds and runs with, only those that are missing.
# Needs root (or sudo) on Debian 12; a no-op when everything is present.
#   launch/install_deps.sh            # build, test and run (what tests/run.sh and quickstart use)
#   launch/install_deps.sh --runtime  # only what the built binaries load and mpirun (docker/)
#   launch/install_deps.sh [--runtime] --list  # print the package list, install nothing
set -euo pipefail
runtime=false list=false
for arg in "$@"; do
  case $arg in
    --runtime) runtime=true ;;
    --list) list=true ;;
    *) echo "usage: $0 [--runtime] [--list]" >&2; exit 2 ;;
  esac
done
if $runtime; then
  # The shared libraries of build/launch/dqt_* (ldd), and Open MPI's launcher.
  pkgs=(libabsl20220623 libprotobuf32 libopenblas0-openmp libgomp1 libpcre2-8-0 libxxhash0
        libopenmpi3 openmpi-bin libssl3 libsentencepiece0)
else
  pkgs=(cmake g++ ninja-build ccache pkg-config libprotobuf-dev protobuf-compiler libabsl-dev
        libgtest-dev libgmock-dev libopenblas-openmp-dev libpcre2-dev libxxhash-dev libopenmpi-dev
        libssl-dev openmpi-bin python3 python3-numpy xz-utils clang-format git gnuplot-nox
        slurm-wlm munge chromium  # these three for tests/ops: a private Slurm, report pages
        libsentencepiece-dev
        clang libclang-rt-dev libomp-dev)  # tests/sanitize.sh: ASan, UBSan, libFuzzer
fi
if $list; then
  printf '%s\n' "${pkgs[@]}"
  exit 0
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! $runtime; then
  command -v npm >/dev/null || missing+=(npm)
  command -v node >/dev/null || missing+=(nodejs)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "install_deps: apt-get install ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
