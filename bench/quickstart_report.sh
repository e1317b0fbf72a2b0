#!/usr/bin/env bash
# Runs launch/quickstart.sh end to end (wall time included) and writes what it measured to
# bench/results/quickstart.json and docs/QUICKSTART.md. Usage: bench/quickstart_report.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
mkdir -p bench/results docs runs
out=${QUICKSTART_OUTPUT:-}
if [ -z "$out" ]; then  # QUICKSTART_OUTPUT=file reuses the printed output of an earlier run
  out=runs/quickstart_output.txt
  launch/quickstart.sh 2>&1 | tee "$out"
fi
log=runs/quickstart/train.jsonl
python3 - "$log" "$out" <<'PY'
import json, sys, platform, os, re, subprocess
sys.path.insert(0, "bench")
from provenance import provenance, describe
log, out = sys.argv[1], sys.argv[2]
prov = provenance("bench/quickstart_report.sh", ["launch/configs/quickstart.pbtxt"])
rows = [json.loads(l) for l in open(log)]
steps = [r for r in rows if "event" not in r]
evals = [r for r in rows if r.get("event") == "eval"]
final = [r for r in evals if r.get("whole_shard")][-1]
text = open(out).read()
wall = int(re.search(r"quickstart: done in (\d+) s", text).group(1))
sample = text.split("=== sample (temperature 0.8, top-k 40) ===", 1)[1].split("quickstart: done", 1)[0].strip()
cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
model = re.search(r"Model name:\s*(.*)", cpu)
result = {
    "command": "bench/quickstart_report.sh",
    "wall_seconds_total": wall,
    "train_seconds": steps[-1]["elapsed_s"],
    "steps": len(steps) and steps[-1]["step"] + 1,
    "final_train_loss": steps[-1]["loss"],
    "heldout": {k: final[k] for k in ("loss", "perplexity", "bits_per_byte", "tokens")},
    "baseline_bits_per_byte": {"bigram": 2.08, "unigram": 2.52},
    "mean_tokens_per_s": sum(r["tokens_per_s"] for r in steps) / len(steps),
    "cpu": model.group(1) if model else platform.processor(),
    "threads": os.cpu_count(),
    "provenance": prov,
}
json.dump(result, open("bench/results/quickstart.json", "w"), indent=2)
h = result["heldout"]
md = f"""# Quickstart result

{describe(prov)} The script runs `launch/quickstart.sh` from install to sample; raw numbers
in `bench/results/quickstart.json`.

| what | value |
|---|---|
| whole quickstart, wall clock | {wall} s |
| training ({result['steps']} steps) | {result['train_seconds']:.0f} s, {result['mean_tokens_per_s']:.0f} tokens/s |
| held-out loss (3 books, {h['tokens']} tokens) | {h['loss']:.4f} nats/token |
| held-out perplexity | {h['perplexity']:.1f} |
| held-out bits per byte | **{h['bits_per_byte']:.4f}** |
| bigram / unigram baseline (given) | 2.08 / 2.52 bits per byte |

Periodic evaluations (64 held-out windows each):

| step | loss | bits/byte |
|---:|---:|---:|
""" + "".join(f"| {e['step']} | {e['loss']:.4f} | {e['bits_per_byte']:.4f} |\n" for e in evals if not e.get("whole_shard")) + f"""
Sample (`dqt_generate`, temperature 0.8, top-k 40, seed 1):

```
{sample}
```
"""
open("docs/QUICKSTART.md", "w").write(md)
print(md)
PY
