#!/usr/bin/env bash
# The GPU checks, run on a GPU machine from the repository root: unpacks the carried Debian
# packages (tests/gpu/prepare_carry.sh) for what the machine lacks, configures and builds the
# GPU-relevant targets (sm_90), and runs the CUDA/CPU SR-update bit-equality test, the NCCL test,
# the host-staged / NCCL multi-rank test under mpirun, device selection, and a dqt_worker smoke.
# Writes env.txt, build.log, checks.log and summary.json under $OUT (default: build-gpu/checks).
#   FULL=1 tests/gpu/run_gpu_checks.sh   # also build everything; ctest without `slow`, style
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${BUILD_DIR:-$root/build-gpu}
out=${OUT:-$build/checks}
deps=${DEPS_DIR:-/tmp/dqt-deps}
jobs=$(nproc)
mkdir -p "$out" "$deps"
log=$out/checks.log
: >"$log"
results=()

# ---------------------------------------------------------------- environment and packages
{
  echo "date: $(date -u +%FT%TZ)"; uname -a; grep PRETTY_NAME /etc/os-release
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  nvcc --version 2>&1 | tail -1; cmake --version | head -1; ninja --version; g++ --version | head -1
  mpirun --version 2>&1 | head -1
  echo "nccl: $(ls /usr/lib/x86_64-linux-gnu/libnccl.so* /usr/local/cuda/lib*/libnccl.so* 2>/dev/null | tr '\n' ' ')"
} >"$out/env.txt" 2>&1

unpack() {  # unpack(debs...): into $deps, once per file
  for f in "$@"; do dpkg -x "$f" "$deps" && echo "unpacked $(basename "$f")"; done >>"$out/env.txt"
}
have_lib() { ldconfig -p | grep -q "$1"; }
unpack .carry/debs/core/*.deb
fallback=.carry/debs/fallback
if [ ! -e /usr/include/gtest/gtest.h ] && [ ! -e /usr/local/include/gtest/gtest.h ]; then
  unpack $fallback/libgtest-dev_*.deb $fallback/libgmock-dev_*.deb
fi
if ! command -v protoc >/dev/null || [ ! -e /usr/include/google/protobuf/message.h ]; then
  unpack $fallback/libprotobuf*.deb $fallback/protobuf-compiler_*.deb $fallback/libprotoc32_*.deb
fi
have_lib 'libgfortran.so.5 ' || unpack $fallback/libgfortran5_*.deb
pkg_config=$(command -v pkg-config || true)
if [ -z "$pkg_config" ]; then
  unpack $fallback/pkgconf*.deb $fallback/libpkgconf3_*.deb
  pkg_config=$deps/usr/bin/pkgconf
fi
# pkg-config files name /usr: point them at the unpacked tree.
find "$deps" -name '*.pc' -exec sed -i -e "s|^prefix=/usr\$|prefix=$deps/usr|" \
  -e "s|=/usr/|=$deps/usr/|" {} +
lib=$deps/usr/lib/x86_64-linux-gnu
export PATH=$deps/usr/bin:$PATH
export LD_LIBRARY_PATH=$lib:$lib/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_PATH=$lib/pkgconfig:$lib/openblas-openmp/pkgconfig
export OMP_NUM_THREADS=4

# NCCL where the toolkit or libnccl-dev put it, else the one in a Python wheel (no libnccl.so).
nccl_args=()
if ! ls /usr/local/cuda/lib*/libnccl.so /usr/lib/x86_64-linux-gnu/libnccl.so >/dev/null 2>&1; then
  header=$(find /usr /opt -path '*nvidia/nccl/include/nccl.h' 2>/dev/null | head -1)
  if [ -n "$header" ]; then
    nccl=$(dirname "$(dirname "$header")")
    nccl_args=(-DDQT_NCCL_INCLUDE_DIR="$nccl/include" -DDQT_NCCL_LIBRARY="$nccl/lib/libnccl.so.2")
    export LD_LIBRARY_PATH=$nccl/lib:$LD_LIBRARY_PATH
  fi
fi
cuda_args=()
command -v nvcc >/dev/null && cuda_args=(-DCMAKE_CUDA_COMPILER="$(command -v nvcc)")

# ---------------------------------------------------------------- build
targets=(sr_update_test nccl_communicator_test device_communicator_mpi_test device_test
         communicator_mpi_test dqt_worker)
[ "${FULL:-0}" = 1 ] && targets=(all)
start=$SECONDS
{
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_PREFIX_PATH="$deps/usr" -DPKG_CONFIG_EXECUTABLE="$pkg_config" \
    -DDQT_OPENBLAS_OPENMP_DIR="$lib/openblas-openmp" \
    -DDQT_OPENBLAS_OPENMP_INCLUDE_DIR="$deps/usr/include/x86_64-linux-gnu/openblas-openmp" \
    "${nccl_args[@]}" "${cuda_args[@]}" &&
    ninja -C "$build" -k 0 -j"$jobs" "${targets[@]}"  # -k 0: one broken target stops no other
} >"$out/build.log" 2>&1
build_rc=$?
build_s=$((SECONDS - start))
cuda_on=$(grep -q 'dqt: CUDA twins ON' "$out/build.log" && echo true || echo false)
nccl_on=$(grep -q 'dqt: NCCL ON' "$out/build.log" && echo true || echo false)
echo "build: rc $build_rc in ${build_s}s; CUDA $cuda_on, NCCL $nccl_on" | tee -a "$log"
grep -E '^FAILED' "$out/build.log" | tee -a "$log"

# ---------------------------------------------------------------- checks
# check NAME COMMAND...: runs it with a limit of $limit seconds (default 150), output to
# checks.log, one summary row.
check() {
  local name=$1; shift
  local t0=$SECONDS
  echo "===== $name: $*" >>"$log"
  local text
  text=$(timeout "${limit:-150}" "$@" 2>&1)
  local rc=$?
  printf '%s\n' "$text" >>"$log"
  local passed skipped failed
  passed=$(printf '%s\n' "$text" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | head -1)
  skipped=$(printf '%s\n' "$text" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | head -1)
  failed=$(printf '%s\n' "$text" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | head -1)
  local ctest_counts  # ctest's "NN% tests passed, F tests failed out of T" or "... passed out of T"
  ctest_counts=$(printf '%s\n' "$text" | sed -n -e 's/.* \([0-9]*\) tests* failed out of \([0-9]*\)$/\1 \2/p' \
    -e 's/.*tests passed out of \([0-9]*\)$/0 \1/p')
  if [ -n "$ctest_counts" ]; then
    failed=${ctest_counts% *}
    passed=$((${ctest_counts#* } - failed))
  fi
  results+=("{\"name\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - t0)), \"passed\": ${passed:-0}, \"skipped\": ${skipped:-0}, \"failed\": ${failed:-0}}")
  echo "$name: rc $rc, passed ${passed:-0}, skipped ${skipped:-0}, failed ${failed:-0}" | tee -a "$log"
}

mpi=(mpirun --allow-run-as-root --oversubscribe -x LD_LIBRARY_PATH -x OMP_NUM_THREADS=1)
t=$build/tests
if [ "$cuda_on" = true ]; then
  check sr_update_cuda_vs_cpu "$t/sr_update_test" --gtest_filter='DqtUpdateCuda.*' --gtest_color=no
  check device_selection "$t/device_test" --gtest_color=no
  check nccl_one_rank "$t/nccl_communicator_test" --gtest_color=no
  # One rank: the NCCL tests bootstrap over MPI; two and four ranks share the one GPU: the
  # host-staged backend runs, and NCCL's refusal of a shared GPU must come back as a Status.
  check device_comm_mpi_np1 "${mpi[@]}" -np 1 "$t/device_communicator_mpi_test" --gtest_color=no
  check device_comm_mpi_np2 "${mpi[@]}" -np 2 "$t/device_communicator_mpi_test" --gtest_color=no
  check device_comm_mpi_np4 "${mpi[@]}" -np 4 "$t/device_communicator_mpi_test" --gtest_color=no
  check host_mpi_np2 "${mpi[@]}" -np 2 "$t/communicator_mpi_test" --gtest_color=no
  check worker_device_smoke "${mpi[@]}" -np 2 "$build/launch/dqt_worker" \
    --cfg launch/configs/tiny.pbtxt --print_config
  grep -h "on CUDA device" "$log" | head -2
  if [ "${FULL:-0}" = 1 ]; then
    limit=420 check ctest_not_slow ctest --test-dir "$build" --output-on-failure --parallel 8 \
      --timeout 240 -LE slow -E '^style/'  # clang-format is not on GPU machines
  fi
fi

{
  echo "{\"build_rc\": $build_rc, \"build_seconds\": $build_s, \"cuda\": $cuda_on, \"nccl\": $nccl_on,"
  echo " \"checks\": ["
  for i in "${!results[@]}"; do
    [ "$i" -gt 0 ] && echo ","
    printf '  %s' "${results[$i]}"
  done
  echo ""; echo "]}"
} >"$out/summary.json"
cat "$out/summary.json"
