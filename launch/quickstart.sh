#!/usr/bin/env bash
# The quickstart: installs what is missing, builds, fetches the pinned Gutenberg corpus and the
# GPT-2 tokenizer, prepares token shards, trains the default small LLaMA on CPU, reports
# held-out loss / perplexity / bits per byte against the bigram baseline, and prints a sample.
# Extra arguments go to dqt_worker, e.g. launch/quickstart.sh --set train.steps=100
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=${BUILD_DIR:-$here/build}
bin=$build/launch
data=$here/data_cache
cfg=${DQT_CONFIG:-launch/configs/quickstart.pbtxt}
run_dir=runs/quickstart
start=$(date +%s)

launch/install_deps.sh
launch/fetch_data.sh "$data"
echo "quickstart: building" >&2
launch/build.sh dqt_worker dqt_prepare dqt_generate dqt_eval >/dev/null

for split in train heldout; do
  shard=$data/gutenberg_$split.bin
  if [ ! -f "$shard" ] || [ "$shard" -ot "$data/gutenberg_$split.txt" ]; then
    "$bin/dqt_prepare" --encoder "$data/encoder.json" --vocab "$data/vocab.bpe" --out "$shard" \
      "$data/gutenberg_$split.txt"
  fi
done

# A fresh run replaces the previous quickstart's checkpoints; a resumed one keeps them.
if [[ "$*" != *checkpoint.resume* ]]; then rm -rf "$run_dir"; fi
mkdir -p "$run_dir"
echo "quickstart: training (log: $run_dir/train.jsonl)" >&2
"$bin/dqt_worker" --cfg "$cfg" --set log.jsonl_path="$run_dir/train.jsonl" \
  --set checkpoint.dir="$run_dir" "$@"

ckpt=$(ls -d "$run_dir"/step_* | sort | tail -n 1)
result=$(grep '"whole_shard":true' "$run_dir/train.jsonl" | tail -n 1)
bpb=$(sed -E 's/.*"bits_per_byte":([0-9.]+).*/\1/' <<<"$result")
loss=$(sed -E 's/.*"loss":([0-9.]+).*/\1/' <<<"$result")
ppl=$(sed -E 's/.*"perplexity":([0-9.]+).*/\1/' <<<"$result")
echo
echo "=== held-out (Persuasion, The Man Who Was Thursday, Alice) ==="
echo "loss $loss nats/token, perplexity $ppl, $bpb bits/byte"
echo "baselines fitted to the training books: bigram 2.08 bits/byte, unigram 2.52 bits/byte"
awk -v b="$bpb" 'BEGIN { if (b < 2.08) print "the model beats the bigram baseline"; else print "the model does NOT beat the bigram baseline" }'
echo
echo "=== sample (temperature 0.8, top-k 40) ==="
"$bin/dqt_generate" --ckpt "$ckpt" --encoder "$data/encoder.json" --vocab "$data/vocab.bpe" \
  --prompt "It was a bright cold day in April, and" --max_tokens 80 --temperature 0.8 --top_k 40
echo
echo "quickstart: done in $(( $(date +%s) - start )) s; checkpoint $ckpt"
