#!/usr/bin/env python3
"""Summarizes bench/ternaryllm_results.sh: writes bench/results/ternaryllm.json and replaces the
block between <!-- ternaryllm:begin --> and <!-- ternaryllm:end --> in docs/RESULTS.md (appends it
when absent), leaving the rest of the file as it is.
Usage: bench/ternaryllm_report.py RUNS_DIR BASE_STEPS STEPS EVAL_BYTES SECONDS COMMIT
"""
import json, os, sys

out, base_steps, steps, eval_bytes, seconds, commit = sys.argv[1:7]
base_steps, steps, eval_bytes, seconds = int(base_steps), int(steps), int(eval_bytes), int(seconds)
names = [("fp", "fp (continued)", False), ("bitnet", "BitNet QAT", True),
         ("dqt-ternary", "DQT ternary", True), ("dqt-8", "DQT-8", False),
         ("dlt", "TernaryLLM DLT", True), ("dlt-off", "TernaryLLM DLT + OFF", True)]


def log_of(name):
    return [json.loads(l) for l in open(f"{out}/{name}/train.jsonl")]


rows = []
for name, label, ternary in names:
    lines = log_of(name)
    mem = next(r for r in lines if r.get("event") == "memory")
    steps_ = [r for r in lines if "event" not in r]
    timed = steps_[1:] or steps_  # step 0 includes the first allocations
    ev = json.load(open(f"{out}/{name}/eval.json"))
    tern = None
    if os.path.exists(f"{out}/{name}/eval_ternarized.json"):
        tern = json.load(open(f"{out}/{name}/eval_ternarized.json"))["bits_per_byte"]
    bpp = mem["bytes_per_param"]
    rows.append(dict(
        name=name, label=label, ternary_as_trained=ternary, bits_per_byte=ev["bits_per_byte"],
        bits_per_byte_ternarized=tern, eval_tokens=ev["tokens"], params=mem["params"],
        bytes_per_param=bpp,
        bytes_per_param_total=bpp["weights"] + bpp["optimizer"] + bpp["gradients"] + bpp["teacher"],
        tokens_per_s=sum(r["tokens_per_s"] for r in timed) / len(timed),
        final_train_loss=steps_[-1]["loss"], final_off_loss=steps_[-1].get("off_loss")))
base_lines = log_of("base")
base_params = next(r for r in base_lines if r.get("event") == "memory")["params"]
with open("launch/configs/quickstart.pbtxt") as f:
    config = f.read()
result = dict(commit=commit, config="launch/configs/quickstart.pbtxt", config_text=config,
              base_steps=base_steps, steps=steps, tokens_per_run=steps * 1024,
              base_tokens=base_steps * 1024, eval_bytes=eval_bytes, seconds=seconds,
              base_params=base_params, runs=rows)
json.dump(result, open("bench/results/ternaryllm.json", "w"), indent=1)


def fmt(x, spec=".4f"):
    return "-" if x is None else format(x, spec)


md = ["<!-- ternaryllm:begin -->",
      "## From an fp checkpoint to ternary weights: fp, BitNet QAT, DQT, TernaryLLM (issue 12)",
      "",
      f"Produced by `bench/ternaryllm_results.sh` on commit `{commit}` in {seconds} s; raw numbers "
      "in `bench/results/ternaryllm.json`. The quickstart model (launch/configs/quickstart.pbtxt, "
      f"{base_params / 1e6:.2f} M parameters) trained in fp32 for {base_steps} steps "
      f"({base_steps * 1024:,} tokens) is the fp checkpoint; each run then starts from its weights "
      f"(`checkpoint.init_from`: a new run, fresh AdamW state) and trains {steps} steps x 1024 "
      f"tokens = **{steps * 1024:,} tokens**, the same sampler seed and the same schedule for all "
      f"(warm-up {steps // 10} steps, cosine from the quickstart's peak lr 4e-3), fp activations "
      "(A16) everywhere. DLT: one alpha and gamma per output channel (`quant.dlt_group = 0`). "
      "OFF: `distill.off_lambda = 1` on the outputs of blocks 0-3, the fp checkpoint as the frozen "
      "teacher. Held-out bits per byte by `dqt_eval` on the first "
      f"{eval_bytes:,} bytes of the held-out books; \"ternarized\" applies BitNet's absmean "
      "ternarizer to every linear weight of a run whose weights are not ternary (post-training "
      "ternarization, the road without QAT). Bytes per parameter: what the run's allocator ledger "
      "holds (weights, AdamW state, gradients, and the OFF teacher: its fp32 weights plus its "
      "activations), divided by the run's parameter count; the DLT runs count alpha and gamma as "
      "parameters. Tokens/s: the mean over the logged steps after step 0, on a shared machine.",
      "",
      "| run | ternary as trained | held-out bits/byte | bits/byte ternarized | bytes/param "
      "(weights + optimizer + gradients + teacher = total) | tokens/s |",
      "|---|---|---|---|---|---|"]
for r in rows:
    b = r["bytes_per_param"]
    md.append(f"| {r['label']} | {'yes' if r['ternary_as_trained'] else 'no'} | "
              f"{fmt(r['bits_per_byte'])} | "
              f"{fmt(r['bits_per_byte'] if r['ternary_as_trained'] else r['bits_per_byte_ternarized'])} | "
              f"{b['weights']:.2f} + {b['optimizer']:.2f} + {b['gradients']:.2f} + "
              f"{b['teacher']:.2f} = {r['bytes_per_param_total']:.2f} | {r['tokens_per_s']:.0f} |")
md += ["",
       "Reading it: \"bits/byte ternarized\" is the number to compare for the ternary goal (for "
       "ternary-trained runs it is the as-trained number). DQT ternary stores int8 codes (1 byte per "
       "parameter in memory, 2 bits packed in checkpoints) and no fp32 copy; BitNet and TernaryLLM "
       "train fp32 latents, and DLT + OFF also holds the teacher. These are short continuations "
       "of a small model: the ranking can change with longer runs.",
       "<!-- ternaryllm:end -->"]
block = "\n".join(md) + "\n"

path = "docs/RESULTS.md"
text = open(path).read() if os.path.exists(path) else ""
begin, end = "<!-- ternaryllm:begin -->", "<!-- ternaryllm:end -->"
if begin in text and end in text:
    head = text[:text.index(begin)]
    tail = text[text.index(end) + len(end):]
    tail = tail[1:] if tail.startswith("\n") else tail
    text = head + block + tail
else:
    text = text + ("" if text.endswith("\n") or not text else "\n") + "\n" + block
open(path, "w").write(text)
