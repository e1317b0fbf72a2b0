#!/usr/bin/env bash
# Module decomposition results (docs/MODULES.md): trains the base model on the mixture of the
# four domains (launch/configs/modules_mixture.pbtxt), learns one module per domain with
# dqt_modules extract, composes single modules and unions of two and three into checkpoints,
# builds the same-size baselines (random masks; magnitude pruning at each module's size), and
# scores every checkpoint with dqt_eval on the held-out excerpt of every domain. Writes
# bench/results/modules/results.jsonl and docs/MODULES.md (bench/modules_report.py); module files
# and logs stay in bench/results/modules/ (ignored by git but for results.jsonl and extract.log).
#   bench/modules.sh                       # everything (fetch_data.sh first)
#   BASE_CKPT=runs/x/step_000200 bench/modules.sh   # reuse a base trained with the same config
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bin=${BUILD_DIR:-$here/build}/launch
out=${OUT:-$here/bench/results/modules}
data=data_cache/domains
domains=(austen chesterton shakespeare sotu)
KEEP=${KEEP:-0.25}      # fraction of each linear tensor a module keeps
STEPS=${STEPS:-60}      # score updates per module
BATCH=${BATCH:-4}       # windows of SEQ tokens per update
SEQ=${SEQ:-64}
SHARE=${SHARE:-1}       # sharing reward (nats per unit of mean overlap)
EVAL_BYTES=${EVAL_BYTES:-8000}  # held-out excerpt per domain (its first ~8 kB, ~2k tokens)
combos=(austen chesterton shakespeare sotu austen+sotu chesterton+shakespeare
        austen+chesterton+shakespeare austen+shakespeare+sotu)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

[ -f "$data/sotu_train.txt" ] || { echo "modules.sh: run launch/fetch_data.sh first" >&2; exit 1; }
for d in "${domains[@]}"; do
  [ -f "$data/${d}_train.bin" ] || "$bin/dqt_prepare" --out "$data/${d}_train.bin" "$data/${d}_train.txt"
done
[ -f "$data/mixture_train.bin" ] || "$bin/dqt_prepare" --out "$data/mixture_train.bin" \
  "$data"/{austen,chesterton,shakespeare,sotu}_train.txt
[ -f "$data/mixture_heldout.bin" ] || "$bin/dqt_prepare" --out "$data/mixture_heldout.bin" \
  "$data"/{austen,chesterton,shakespeare,sotu}_heldout.txt

rm -rf "$out/eval" "$out/modules" "$out/baselines" "$out/composed"
mkdir -p "$out/eval" "$out/modules" "$out/baselines" "$out/composed"
for d in "${domains[@]}"; do  # the excerpt ends at a word end
  head -c "$EVAL_BYTES" "$data/${d}_heldout.txt" | sed '$ s/[^ ]*$//' > "$out/eval/$d.txt"
done

base=${BASE_CKPT:-}
if [ -z "$base" ]; then
  rm -rf "$out/base"
  "$bin/dqt_worker" --cfg launch/configs/modules_mixture.pbtxt --set checkpoint.dir="$out/base" \
    > "$out/train.log"
  base=$(ls -d "$out"/base/step_* | sort | tail -n 1)
fi
echo "modules.sh: base $base" >&2

list=$(IFS=,; echo "${domains[*]}")
"$bin/dqt_modules" extract --ckpt "$base" --data "$data" --domains "$list" --out "$out/modules" \
  --keep "$KEEP" --steps "$STEPS" --batch "$BATCH" --seq "$SEQ" --share "$SHARE" | tee "$out/extract.log"

results=$out/results.jsonl
: > "$results"
score() {  # label kind kept checkpoint (deleted once scored: 50 MB each)
  for d in "${domains[@]}"; do
    "$bin/dqt_eval" --ckpt "$4" --text "$out/eval/$d.txt" --seq_len "$SEQ" --json |
      python3 -c "import json,sys; r=json.load(sys.stdin); print(json.dumps({'model':'$1','kind':'$2','kept':$3,'domain':'$d','loss':r['loss'],'bits_per_byte':r['bits_per_byte'],'tokens':r['tokens']}))" >> "$results"
  done
  [ "$2" = full ] || rm -rf "$(dirname "$4")"
}
kept_of() { sed -n 's/.*kept \([0-9.]*\) of the linear weights.*/\1/p' | tail -n 1; }

score full full 1 "$base"
for c in "${combos[@]}"; do
  name=${c//+/-}
  k=$("$bin/dqt_modules" compose --ckpt "$base" --modules "$out/modules" --domains "${c//+/,}" \
        --out "$out/composed/$name" | kept_of)
  score "$c" module "$k" "$(ls -d "$out/composed/$name"/step_* | tail -n 1)"
  for kind in random magnitude; do
    "$bin/dqt_modules" baseline --ckpt "$base" --kind "$kind" --keep "$k" \
      --out "$out/baselines/${name}_$kind.module" > /dev/null
    "$bin/dqt_modules" compose --ckpt "$base" --modules "$out/baselines" \
      --domains "${name}_$kind" --out "$out/composed/${name}_$kind" > /dev/null
    score "$c" "$kind" "$k" "$(ls -d "$out/composed/${name}_$kind"/step_* | tail -n 1)"
  done
done
python3 bench/modules_report.py "$results" "$out/extract.log" "$base" \
  "keep=$KEEP steps=$STEPS batch=$BATCH seq=$SEQ share=$SHARE eval_bytes=$EVAL_BYTES" \
  > docs/MODULES.md
echo "modules.sh: wrote docs/MODULES.md" >&2
