#!/usr/bin/env bash
# Trains the quickstart model on the quickstart corpus in every mode of issue 3 with the same
# tokens, steps and schedule, scores the held-out books, and writes docs/RESULTS.md,
# docs/loss_curves.png and bench/results/dqt_results.json.
# Usage: bench/dqt_results.sh            (STEPS=480 by default; STEPS=960 = the full quickstart)
# Needs: launch/quickstart.sh run once (build, data_cache/*.bin shards), gnuplot.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bin=${BUILD_DIR:-$here/build}/launch
steps=${STEPS:-480}
out=runs/results
mkdir -p "$out" bench/results docs
for f in data_cache/gutenberg_train.bin data_cache/gutenberg_heldout.bin "$bin/dqt_worker"; do
  [ -e "$f" ] || { echo "missing $f: run launch/quickstart.sh first" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "gnuplot missing: apt-get install gnuplot-nox" >&2; exit 1; }

# name | overrides (same model, data, steps and schedule for all; BitNet adds its two stages)
runs=(
  "fp|"
  "bitnet|--set quant.optimizer=BITNET --set quant.weight_format=TERNARY --set quant.int8_activations=true --set optimizer.stage2_start=0.5 --set optimizer.stage2_lr=0.00267 --set optimizer.stage2_weight_decay=0"
  "dqt-8|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=8 --set quant.int8_activations=true"
  "dqt-4|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=4 --set quant.int8_activations=true"
  "dqt-3|--set quant.optimizer=DQT --set quant.weight_format=INTEGER --set quant.weight_bits=3 --set quant.int8_activations=true"
  "dqt-ternary|--set quant.optimizer=DQT --set quant.weight_format=TERNARY --set quant.int8_activations=true"
  "dqt-ternary-all|--set quant.optimizer=DQT --set quant.weight_format=TERNARY --set quant.int8_activations=true --set quant.policy=ALL"
)
for entry in "${runs[@]}"; do
  name=${entry%%|*}
  args=${entry#*|}
  dir=$out/$name
  mkdir -p "$dir"
  echo "dqt_results: $name ($steps steps)" >&2
  # shellcheck disable=SC2086
  "$bin/dqt_worker" --cfg launch/configs/quickstart.pbtxt --set train.steps="$steps" \
    --set train.eval_every=0 --set train.log_every=10 --set checkpoint.dir="$dir" \
    --set log.jsonl_path="$dir/train.jsonl" --set train.progress=false $args
done
ckpt=$(ls $out/dqt-8/step_*.dqt | tail -n 1)
"$bin/dqt_eval" --ckpt "$ckpt" --text data_cache/gutenberg_heldout.txt --ternarize --json \
  > "$out/dqt-8-ternarized.json"

python3 - "$out" "$steps" <<'PY'
import json, sys, os
out, steps = sys.argv[1], int(sys.argv[2])
names = ["fp", "bitnet", "dqt-8", "dqt-4", "dqt-3", "dqt-ternary", "dqt-ternary-all"]
rows, curves = [], {}
for n in names:
    lines = [json.loads(l) for l in open(f"{out}/{n}/train.jsonl")]
    steps_ = [r for r in lines if "event" not in r]
    mem = next(r for r in lines if r.get("event") == "memory")
    final = [r for r in lines if r.get("event") == "eval" and r.get("whole_shard")][-1]
    curves[n] = [(r["step"], r["loss"]) for r in steps_]
    rows.append(dict(name=n, tokens=final["tokens"], loss=final["loss"], ppl=final["perplexity"], bpb=final["bits_per_byte"],
                     tokens_per_s=sum(r["tokens_per_s"] for r in steps_) / len(steps_),
                     bytes_per_param=mem["bytes_per_param"], params=mem["params"],
                     last_health=steps_[-1].get("health")))
tern = json.load(open(f"{out}/dqt-8-ternarized.json"))
rows.append(dict(name="dqt-8, ternarized at eval", tokens=tern["tokens"], loss=tern["loss"], ppl=tern["perplexity"],
                 bpb=tern["bits_per_byte"], tokens_per_s=None, bytes_per_param=None, params=None,
                 last_health=None))
json.dump(dict(steps=steps, runs=rows), open("bench/results/dqt_results.json", "w"), indent=1)
with open(f"{out}/curves.dat", "w") as f:
    for n in names:
        f.write(f'"{n}"\n')
        for s, l in curves[n]:
            f.write(f"{s} {l}\n")
        f.write("\n\n")
bitnet = next(r for r in rows if r["name"] == "bitnet")
md = [f"# DQT vs BitNet b1.58 vs fp32 on the quickstart corpus\n",
      f"Produced by `bench/dqt_results.sh` (STEPS={steps}); raw numbers in "
      "`bench/results/dqt_results.json`. Every run: the quickstart model "
      f"({rows[0]['params']/1e6:.1f} M parameters, launch/configs/quickstart.pbtxt), the same "
      f"{steps} steps x 1024 tokens from the same sampler seed, the same warm-up + cosine "
      "schedule (peak lr 4e-3), AdamW betas (0.9, 0.95). BitNet adds its two-stage split "
      "(lr x 2/3 and weight decay 0 from the midpoint). Quantized runs use int8 per-token "
      "activations. `linear_only` quantizes q, k, v, o, gate, up, down and keeps embeddings, "
      "LM head and norms in fp32 (AdamW); `all` puts every tensor on the grid.\n",
      "Held-out: the three whole books (Persuasion, The Man Who Was Thursday, Alice), "
      f"{rows[0]['tokens']} scored tokens. Bytes per parameter are read from the allocator "
      "(memory ledger) after the first step; the untied LM head and embeddings, most of this "
      "small model's parameters, stay fp32 under `linear_only`, which is why its weights stay "
      "near 4 B/param there.\n",
      "| run | policy | held-out loss | perplexity | bits/byte | loss vs BitNet | weights B/param | optimizer B/param | grads B/param | tokens/s |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    pol = "all" if r["name"].endswith("-all") else ("-" if r["name"] == "fp" else "linear_only")
    b = r["bytes_per_param"]
    rel = f"{100 * (r['loss'] / bitnet['loss'] - 1):+.1f}%"
    mem = (f"{b['weights']:.2f} | {b['optimizer']:.2f} | {b['gradients']:.2f}" if b
           else "- | - | -")
    tps = f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] else "-"
    md.append(f"| {r['name']} | {pol} | {r['loss']:.4f} | {r['ppl']:.1f} | {r['bpb']:.4f} | {rel} | {mem} | {tps} |")
md.append("\nBaselines fitted to the training books (given): bigram 2.08, unigram 2.52 bits/byte.\n")
md.append("Code health at the last step (fraction of codes that flipped this step / are zero / "
          "sit at a clip level), per layer type:\n")
for r in rows:
    if r["last_health"]:
        h = ", ".join(f"{k} {v['flip']:.4f}/{v['zero']:.3f}/{v['clip']:.3f}"
                      for k, v in sorted(r["last_health"].items()))
        md.append(f"- {r['name']}: {h}")
md.append("\n![training loss](loss_curves.png)\n")
open("docs/RESULTS.md", "w").write("\n".join(md) + "\n")
PY
gnuplot <<GP
set terminal png size 1000,600
set output "docs/loss_curves.png"
set title "Training loss (mean over each logged step's 1024 tokens), quickstart model, $steps steps"
set xlabel "step"; set ylabel "loss (nats/token)"; set yrange [4:11]; set key top right
plot for [i=0:6] "$out/curves.dat" index i using 1:2 with lines lw 2 title columnheader(1)
GP
cat docs/RESULTS.md
