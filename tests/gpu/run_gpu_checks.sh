#!/usr/bin/env bash
# The GPU checks, run on a GPU machine from the repository root in one call (budget: 8 minutes):
# unpacks the carried Debian packages (tests/gpu/prepare_carry.sh) for what the machine lacks,
# builds everything for sm_90, then runs
#   1. every ctest entry labelled gpu (the CPU/CUDA twin tests of every op, NCCL, devices);
#   2. compute-sanitizer memcheck and racecheck over the twin tests, where the machine runs it
#      (Firecracker yes, gVisor no: the script probes and records which ran);
#   3. the tiny config trained 50 steps on CUDA next to the CPU: fp, DQT-8 with the INT8 forward,
#      DQT-4 with the FP8 forward (FP8 is exact for codes of at most 4 bits, so DQT-8 has no FP8
#      forward), in bf16 and in fp32 activations, losses compared by tests/gpu/compare_losses.py;
#   4. the multi-rank device communicator tests under mpirun, as before.
# Writes env.txt, build.log, checks.log, tiny_*.jsonl, losses_*.json and summary.json under $OUT
# (default: build-gpu/checks); every count in summary.json is read from ctest's or gtest's output.
#   FULL=1 tests/gpu/run_gpu_checks.sh   # also the whole ctest suite (without slow and style)
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
targets=(all)
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
  # 1. Every gpu-labelled ctest entry; ctest prints its own pass/skip/fail counts.
  limit=240 check ctest_gpu ctest --test-dir "$build" --output-on-failure --parallel 4 -L gpu \
    --timeout 200
  # 2. compute-sanitizer over the twin tests, where it works on this machine.
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
  sanitizer_ran=false
  if [ -n "$sanitizer" ] && timeout 60 "$sanitizer" --tool memcheck "$t/device_test" \
      --gtest_filter='*Gpu.*' >"$out/sanitizer_probe.log" 2>&1; then
    sanitizer_ran=true
    for f in "$t"/*_test; do
      grep -q 'Twin' <(strings "$f" 2>/dev/null) || continue
      for tool in memcheck racecheck; do
        limit=60 check "sanitizer_${tool}_$(basename "$f")" "$sanitizer" --tool "$tool" \
          --error-exitcode 99 "$f" --gtest_filter='*Twin.*' --gtest_color=no
      done
    done
  fi
  echo "compute-sanitizer ran: $sanitizer_ran (probe: $out/sanitizer_probe.log)" | tee -a "$log"
  # 3. The tiny config, 50 steps, CUDA next to the CPU.
  head -c 3000000 data_cache/gutenberg_train.txt >"$out/tiny_train.txt"
  head -c 300000 data_cache/gutenberg_heldout.txt >"$out/tiny_eval.txt"
  "$build/launch/dqt_prepare" --out "$out/tiny_train.bin" "$out/tiny_train.txt" >>"$log" 2>&1
  "$build/launch/dqt_prepare" --out "$out/tiny_eval.bin" "$out/tiny_eval.txt" >>"$log" 2>&1
  modes=("fp|"
         "dqt8_int8|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=8 --set quant.int8_activations=true --set quant.forward_gemm=GEMM_INT8"
         "dqt4_fp8|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=4 --set quant.int8_activations=true --set quant.forward_gemm=GEMM_FP8")
  for entry in "${modes[@]}"; do
    name=${entry%%|*}
    read -r -a extra <<<"${entry#*|}"
    common=(--cfg launch/configs/tiny.pbtxt --set train.steps=50 --set train.eval_every=0
            --set data.train_shard="$out/tiny_train.bin" --set data.eval_shard="$out/tiny_eval.bin"
            "${extra[@]}")
    for dev in CPU CUDA_BF16 CUDA_FP32; do
      device=${dev%%_*}
      acts=(); [ "$dev" = CUDA_FP32 ] && acts=(--set train.cuda_activations=FP32)
      limit=120 check "tiny_${name}_${dev}" "$build/launch/dqt_worker" "${common[@]}" \
        --set train.device="$device" "${acts[@]}" --set log.jsonl_path="$out/tiny_${name}_${dev}.jsonl"
    done
    check "losses_${name}" python3 tests/gpu/compare_losses.py "$out/tiny_${name}_CPU.jsonl" \
      "$out/tiny_${name}_CUDA_FP32.jsonl" "$out/tiny_${name}_CUDA_BF16.jsonl" \
      --json "$out/losses_${name}.json"
  done
  # 3b. Resume on CUDA is bit-exact: 20 steps straight vs 10 steps, stop, resume to 20; every file
  # of the two step_000020 checkpoints must be equal (DQT-ternary, block-8 moments).
  resume_args=(--cfg launch/configs/tiny.pbtxt --set train.device=CUDA --set train.eval_every=0
               --set data.train_shard="$out/tiny_train.bin" --set data.eval_shard="$out/tiny_eval.bin"
               --set quant.optimizer=DQT --set quant.weight_format=TERNARY --set quant.moments=INT8
               --set checkpoint.every=10)
  rm -rf "$out/resume_straight" "$out/resume_split"
  limit=120 check cuda_train_20 "$build/launch/dqt_worker" "${resume_args[@]}" --set train.steps=20 \
    --set checkpoint.dir="$out/resume_straight" --set log.jsonl_path="$out/resume_straight.jsonl"
  mkdir -p "$out/resume_split"
  cp -r "$out/resume_straight/step_000010" "$out/resume_split/"
  limit=120 check cuda_resume_10_to_20 "$build/launch/dqt_worker" "${resume_args[@]}" \
    --set train.steps=20 --set checkpoint.dir="$out/resume_split" \
    --set checkpoint.resume="$out/resume_split/step_000010" --set log.jsonl_path="$out/resume_split.jsonl"
  check cuda_resume_bit_exact diff -r "$out/resume_straight/step_000020" "$out/resume_split/step_000020"
  # 4. Device communicators over several ranks sharing the one GPU (host-staged), as before.
  check device_comm_mpi_np2 "${mpi[@]}" -np 2 "$t/device_communicator_mpi_test" --gtest_color=no
  check device_comm_mpi_np4 "${mpi[@]}" -np 4 "$t/device_communicator_mpi_test" --gtest_color=no
  if [ "${FULL:-0}" = 1 ]; then
    limit=420 check ctest_not_slow ctest --test-dir "$build" --output-on-failure --parallel 8 \
      --timeout 240 -LE 'slow|gpu' -E '^style/'  # clang-format is not on GPU machines
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
