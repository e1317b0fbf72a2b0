#!/usr/bin/env bash
# Installs the Debian packages dqt builds and runs with, only those that are missing.
# Needs root (or sudo) on Debian 12; a no-op when everything is present.
set -euo pipefail
pkgs=(cmake g++ ninja-build ccache pkg-config libprotobuf-dev protobuf-compiler libabsl-dev
      libgtest-dev libgmock-dev libopenblas-openmp-dev libpcre2-dev libxxhash-dev libopenmpi-dev libssl-dev
      openmpi-bin python3 python3-numpy xz-utils clang-format git gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null || missing+=(npm)
command -v node >/dev/null || missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "install_deps: apt-get install ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
