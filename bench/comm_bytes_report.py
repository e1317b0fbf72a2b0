"""Markdown tables from bench/results/comm_bytes.json (written by bench/comm_bytes.sh)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import describe, provenance  # noqa: E402

data = json.load(open(sys.argv[1]))
if isinstance(data, list):  # written by the shell part: add where it came from, once
    data = {"provenance": provenance("bench/comm_bytes.sh", ["launch/configs/quickstart.pbtxt"]),
            "rows": data}
    json.dump(data, open(sys.argv[1], "w"), indent=2)
rows, prov = data["rows"], data["provenance"]


def mib(b):
    return f"{b / 2**20:.2f}"


def label(r):
    if r["optimizer"] == "fp":
        return "fp32 weights (ZeRO-style when sharded)"
    return f"DQT {r['grid']}, {r['policy']}"


params = rows[0]["params"]
print("# Bytes per rank: communication and optimizer state\n")
print(describe(prov) + " Raw JSON: `bench/results/comm_bytes.json`. The real "
      f"trainer runs 3 steps of the quickstart model ({params:,} parameters, 94% of them in the "
      "embedding and LM head) under `mpirun -np DP` on CPU ranks; a CountingCommunicator around "
      "the world communicator records every collective the trainer makes. Ring bytes are what a "
      "ring algorithm (NCCL, MPI for large messages) sends per rank: all-reduce 2(p-1)/p S, "
      "reduce-scatter (p-1)/p S, all-gather (p-1) x own block. Per step, largest rank. "
      "`linear_only` keeps embedding, norms and head in fp32 (the default); `all` quantizes them "
      "too.\n")
print("Replicated mode all-reduces fp32 gradients (as reduce-scatter + all-gather, so every rank "
      "gets the same bits) and every rank applies the whole update. Sharded mode reduce-scatters "
      "fp32 gradients, each rank updates its slice of codes and moments, then the codes are "
      "all-gathered as stored: int8, or ternary packed 2 bits each. The fp32 rows in sharded "
      "mode are the ZeRO-style baseline: the same protocol with fp32 weights all-gathered.\n")
print("## Communication per step per rank\n")
print("With TP = 2 the all-reduce column is the tensor-parallel traffic: the o and down partial "
      "outputs and the q/k/v and gate/up input gradients, (tokens x d_model) fp32 each, plus the "
      "per-token absmax of sharded quantized inputs; DP collectives then run over half the "
      "parameters per rank. The counts include the run's final evaluation (two 128-token windows "
      "on the first replica), about 0.3 MiB of that column.\n")
print("| DP x TP | weights | mode | total ring MiB | reduce-scatter MiB | all-gather MiB | all-reduce MiB |")
print("|---|---|---|---:|---:|---:|---:|")
for r in rows:
    if r["world"] == 1:
        continue
    s = r["per_step_per_rank"]
    print(f"| {r['dp']} x {r['tp']} | {label(r)} | {r['dp_mode']} | {mib(s['ring_bytes'])} | "
          f"{mib(s['reduce_scatter_ring_bytes'])} | {mib(s['all_gather_ring_bytes'])} | "
          f"{mib(s['all_reduce_ring_bytes'])} |")
print("\n## Optimizer state per rank\n")
print("Bytes of AdamW moments held by the largest rank (from the allocator ledger), and weights "
      "for reference (TP = 1).\n")
print("| weights | mode | DP=1 MiB | DP=2 MiB | DP=4 MiB | weights per rank MiB |")
print("|---|---|---:|---:|---:|---:|")
keys = []
rows = [r for r in rows if r["tp"] == 1]
for r in rows:
    k = (label(r), r["dp_mode"])
    if k not in keys:
        keys.append(k)
for k in keys:
    by_dp = {r["dp"]: r for r in rows if (label(r), r["dp_mode"]) == k}
    cells = [mib(by_dp[d]["optimizer_bytes_per_rank"]) if d in by_dp else "" for d in (1, 2, 4)]
    print(f"| {k[0]} | {k[1]} | " + " | ".join(cells) +
          f" | {mib(by_dp[1]['weight_bytes_per_rank'])} |")
