#!/usr/bin/env bash
# Layering test: core/model, core/optim and core/train are written once against the op
# dispatchers, so none of their files may include a CUDA, cuBLAS(Lt) or NCCL header, a CUDA-only
# header of ours, or a twin's header (kernels/cpu/, kernels/cuda/), nor branch on the device
# build (#if...DQT_HAVE_CUDA) or define a kernel. Self-checked first on a planted violation, so
# the test cannot pass by matching nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pattern='#[[:space:]]*include[[:space:]]*[<"](cuda[a-z_]*\.h|cublas[A-Za-z_]*\.h|nccl\.h|core/base/cuda_status\.h|kernels/(cpu|cuda)/[^">]*)[">]|#[[:space:]]*if.*DQT_HAVE_CUDA|__global__|<<<'

violations() {  # prints the offending lines under the given folders
  grep -rnE --include='*.h' --include='*.cc' "$pattern" "$@" || true
}

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
mkdir -p "$probe/core/model"
printf '#include "kernels/cpu/rmsnorm.h"\n' > "$probe/core/model/a.cc"
printf '#include <cuda_runtime.h>\n' > "$probe/core/model/b.h"
printf '#ifdef DQT_HAVE_CUDA\n#endif\n' > "$probe/core/model/c.cc"
found=$(violations "$probe/core" | wc -l)
if [ "$found" -ne 3 ]; then
  echo "layering_test: the checker found $found of 3 planted violations" >&2
  exit 1
fi

bad=$(violations "$here/core/model" "$here/core/optim" "$here/core/train")
if [ -n "$bad" ]; then
  echo "core/{model,optim,train} must reach devices only through kernels/<op>.h dispatchers:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "layering_test: core/{model,optim,train} include no CUDA or twin header"

# The twins' headers refuse to compile outside the kernels (kernels/internal.h).
cxx=${CXX:-c++}
probe_src="$probe/include_probe.cc"
printf '#include "kernels/cpu/rmsnorm.h"\nint main() { return 0; }\n' > "$probe_src"
if "$cxx" -std=c++20 -fsyntax-only -I "$here" "$probe_src" 2>"$probe/err.txt"; then
  echo "layering_test: kernels/cpu/rmsnorm.h compiled outside the kernels" >&2
  exit 1
fi
grep -q 'internal to the kernels' "$probe/err.txt" || { cat "$probe/err.txt" >&2; exit 1; }
"$cxx" -std=c++20 -fsyntax-only -DDQT_KERNELS_INTERNAL -I "$here" "$probe_src" || exit 1
echo "layering_test: kernels/cpu/ headers compile only inside the kernels"
