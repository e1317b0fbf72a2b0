# Shared by the tests/ops scripts (sourced): token shards for a tiny run, the worker's arguments
# for a 2-rank run of launch/configs/tiny.pbtxt, and checkpoint comparison.
#   ops_make_shards WORK           # WORK/train.bin, WORK/eval.bin from DQT_DATA_DIR's corpus
#   ops_tiny_args WORK CKPT STEPS  # prints --set overrides of launch/configs/tiny.pbtxt, one
#                                  # per line (not parallel.dp)
#   ops_same_checkpoint A B        # every file of checkpoint dir A equals B's (byte for byte);
#                                  # prints "reliability: compared FILES files, BYTES bytes, 0 differ"
#   ops_wait_for_step LOG STEP SECONDS [PID]  # waits until the JSON-lines log reports STEP
#                                  # (fails early when process PID has ended)

ops_make_shards() {
  local work=$1 data=${DQT_DATA_DIR:?set DQT_DATA_DIR to the fetched corpus (tests/run.sh)}
  local prepare=("$OPS_BUILD/launch/dqt_prepare" --encoder "$data/encoder.json" --vocab "$data/vocab.bpe")
  head -c 80000 "$data/gutenberg_train.txt" > "$work/train.txt"
  head -c 8000 "$data/gutenberg_heldout.txt" > "$work/eval.txt"
  "${prepare[@]}" --out "$work/train.bin" "$work/train.txt" > /dev/null
  "${prepare[@]}" --out "$work/eval.bin" "$work/eval.txt" > /dev/null
}

# DQT-ternary with sharded data parallelism: the mode whose resume has the most state to get right
# (packed codes, per-rank moment slices, the data position).
ops_tiny_args() {
  local work=$1 ckpt=$2 steps=$3
  printf '%s\n' --set data.train_shard="$work/train.bin" \
    --set data.eval_shard="$work/eval.bin" --set train.steps="$steps" --set train.eval_every=0 \
    --set checkpoint.dir="$ckpt" --set checkpoint.every=40 --set checkpoint.keep_last=2 \
    --set parallel.dp_mode=SHARDED --set parallel.digest_every=10 --set quant.optimizer=DQT \
    --set quant.weight_format=TERNARY --set log.jsonl_path="$ckpt.jsonl"
}

ops_same_checkpoint() {
  local a=$1 b=$2 f n=0 bytes=0
  [ -f "$a/manifest.txt" ] || { echo "no checkpoint at $a"; return 1; }
  for f in "$a"/*; do
    cmp "$f" "$b/$(basename "$f")" || { echo "differs: $b/$(basename "$f")"; return 1; }
    n=$((n + 1))
    bytes=$((bytes + $(stat -c %s "$f")))
  done
  [ "$n" -eq "$(ls "$b" | wc -l)" ] || { echo "$b holds other files than $a"; return 1; }
  echo "reliability: compared $n files, $bytes bytes, 0 differ"
}

ops_wait_for_step() {
  local log=$1 step=$2 i
  for ((i = 0; i < $3 * 20; i++)); do
    if [ -f "$log" ] && awk -F'"step":' -v s="$step" \
      'NF > 1 && $0 !~ /"event"/ && $2 + 0 >= s { found = 1 } END { exit !found }' "$log"; then
      return 0
    fi
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2> /dev/null; then
      echo "the run ended before step $2"
      return 1
    fi
    sleep 0.05
  done
  echo "the run did not reach step $step within $3 s"
  return 1
}
