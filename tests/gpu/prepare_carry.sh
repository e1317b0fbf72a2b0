#!/usr/bin/env bash
# Fetches, here, the Debian 12 packages the build needs that the GPU machine (Ubuntu 24.04, CUDA,
# NCCL, Open MPI, CMake, ninja; no network) lacks, as .deb files under .carry/debs (git-ignored);
# tests/gpu/run_gpu_checks.sh unpacks them there. Debs travel compressed: OpenBLAS alone unpacks
# to ~100 MB, over the 64 MiB a device call may carry.
#   core:     always unpacked there (abseil, OpenBLAS OpenMP build, xxHash, PCRE2, OpenSSL dev)
#   fallback: unpacked only for what the machine turns out to lack (GoogleTest, protobuf,
#             pkg-config, libgfortran)
set -euo pipefail
cd "$(dirname "$0")/../.."
core=(libabsl-dev libabsl20220623 libopenblas-openmp-dev libopenblas0-openmp libxxhash-dev
      libxxhash0 libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
      libssl-dev libssl3)
fallback=(libgtest-dev libgmock-dev libprotobuf-dev libprotobuf32 libprotobuf-lite32
          protobuf-compiler libprotoc32 pkgconf pkgconf-bin libpkgconf3 libgfortran5)
rm -rf .carry/debs
mkdir -p .carry/debs/core .carry/debs/fallback
# apt's sandbox user cannot write here; the download then runs as the calling user.
(cd .carry/debs/core && apt-get download -o APT::Sandbox::User=root "${core[@]}")
(cd .carry/debs/fallback && apt-get download -o APT::Sandbox::User=root "${fallback[@]}")
du -sh .carry/debs/core .carry/debs/fallback
