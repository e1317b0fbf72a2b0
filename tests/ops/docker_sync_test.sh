#!/usr/bin/env bash
# The Dockerfiles stay in step with the scripts they call (no container engine runs in CI):
# each builds with launch/install_deps.sh and launch/build.sh and repeats none of their package
# lists; the runtime stages install `install_deps.sh --runtime` and copy every binary of
# launch/bin/; what they COPY exists and .dockerignore keeps build trees and data out; and the
# runtime package list (with what apt pulls in for it) provides every shared library the built
# binaries load (ldd on BUILD_DIR's binaries, dpkg -S for the owning package).
# Usage: docker_sync_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
fail=0
problem() { echo "FAIL: $*"; fail=1; }

mapfile -t all_pkgs < <(launch/install_deps.sh --list)
mapfile -t runtime_pkgs < <(launch/install_deps.sh --runtime --list)
binaries=$(ls launch/bin/*.cc | xargs -n1 basename | sed 's/\.cc$//' | sort)
for dockerfile in docker/Dockerfile docker/Dockerfile.cpu; do
  [ -f "$dockerfile" ] || { problem "$dockerfile missing"; continue; }
  text=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile")  # continuation lines joined
  grep -Eq '^RUN launch/install_deps\.sh$' <<< "$text" || problem "$dockerfile: no RUN launch/install_deps.sh"
  grep -Eq '^RUN .*launch/build\.sh' <<< "$text" || problem "$dockerfile: does not build with launch/build.sh"
  grep -Eq '^RUN /opt/dqt/install_deps\.sh --runtime' <<< "$text" ||
    problem "$dockerfile: the runtime stage does not run install_deps.sh --runtime"
  # Packages belong to install_deps.sh: a Dockerfile installing one of them duplicates the list.
  installs=$(grep -Eo 'apt-get install[^&;]*' <<< "$text" | tr ' ' '\n' | grep -Ev '^-|^$|apt-get|install' || true)
  for p in "${all_pkgs[@]}" "${runtime_pkgs[@]}"; do
    grep -qx -- "$p" <<< "$installs" && problem "$dockerfile installs $p itself; install_deps.sh lists it"
  done
  copied=$(grep -Eo '/dqt/build/launch/dqt_[a-z_]+' <<< "$text" | sed 's|.*/||' | sort -u)
  [ "$copied" = "$binaries" ] ||
    problem "$dockerfile copies [$(echo $copied)], launch/bin/ has [$(echo $binaries)]"
  for path in $(grep -E '^COPY [^-]' <<< "$text" | awk '{for (i = 2; i < NF; ++i) print $i}'); do
    [ "$path" = . ] || [ -e "$path" ] || problem "$dockerfile copies $path, which does not exist"
  done
done
for pattern in build data_cache runs .git; do
  grep -qx "$pattern" .dockerignore || problem ".dockerignore does not exclude $pattern"
done

# Every library the binaries load comes from a runtime package, a package apt installs with
# them, or a package of Debian's required priority (present in every debian:12 image).
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${runtime_pkgs[@]}" 2> /dev/null | grep -Ev '^ |^<' | sed 's/:amd64$//' | sort -u)
libs=()
for bin in $binaries; do
  [ -x "$build/launch/$bin" ] || { problem "$build/launch/$bin not built"; continue; }
  libs+=($(ldd "$build/launch/$bin" | awk '/=>/ { print $3 }'))
done
mapfile -t libs < <(printf '%s\n' "${libs[@]}" | sort -u)
# One dpkg query for all: each library under the names the package database may use for it
# (Debian 12 merged /lib into /usr/lib; packages record either).
declare -A owner_of
while IFS= read -r line; do
  owner_of[${line#*: }]=${line%%: *}
done < <(for lib in "${libs[@]}"; do
           real=$(readlink -f "$lib")
           printf '%s\n' "$lib" "$real" "${lib#/usr}" "/usr${lib#/usr}" "${real#/usr}" "/usr${real#/usr}"
         done | sort -u | xargs dpkg -S 2> /dev/null | sed 's/:amd64: /: /')
for lib in "${libs[@]}"; do
  real=$(readlink -f "$lib")
  # The CUDA runtime and cuBLASLt come from the CUDA toolkit (the GPU image's CUDA base), not from
  # Debian; a CPU-only build does not load them.
  case "$real" in /usr/local/cuda*) continue ;; esac
  owner=""
  for candidate in "$lib" "$real" "${lib#/usr}" "/usr${lib#/usr}" "${real#/usr}" "/usr${real#/usr}"; do
    owner=${owner_of[$candidate]:-} && [ -n "$owner" ] && break
  done
  owner=${owner%%,*}
  [ -n "$owner" ] || { problem "the binaries load $lib, which no Debian package owns"; continue; }
  if ! grep -qx "$owner" <<< "$closure" &&
    [ "$(dpkg-query -W -f='${Priority}' "$owner" 2> /dev/null)" != required ]; then
    problem "the binaries load $lib from $owner, which install_deps.sh --runtime does not bring"
  fi
done
[ "$fail" -eq 0 ] || exit 1
echo "docker/Dockerfile and docker/Dockerfile.cpu in step with launch/install_deps.sh and launch/build.sh; the ${#libs[@]} shared libraries of the $(wc -w <<< "$binaries") binaries come with the runtime packages"
