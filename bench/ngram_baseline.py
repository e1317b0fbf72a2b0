#!/usr/bin/env python3
"""Unigram and interpolated bigram baselines on the quickstart token shards.

Fits counts on the training shard, scores every held-out token (bits per byte of the held-out
text, the same unit dqt reports), and writes bench/results/ngram_baseline.json.
Unigram: add-one over the 50257-token vocabulary. Bigram: Witten-Bell interpolation with that
unigram (lambda(prev) = c(prev) / (c(prev) + distinct followers of prev)); no tuning on held-out.
Usage: bench/ngram_baseline.py [train.bin heldout.bin]   (needs python3-numpy)
"""
import json
import struct
import sys

import numpy as np

VOCAB = 50257


def read_shard(path):
    with open(path, "rb") as f:
        header = f.read(40)
        assert header[:8] == b"DQTSHARD", f"{path}: not a dqt token shard"
        _, width, count, source_bytes = struct.unpack("<IIQQ", header[8:32])
        data = np.frombuffer(f.read(), dtype=np.uint16 if width == 2 else np.uint32)
    assert len(data) == count, f"{path}: truncated"
    return data.astype(np.int64), source_bytes


def main():
    train_path, eval_path = (sys.argv[1:3] if len(sys.argv) == 3 else
                             ("data_cache/gutenberg_train.bin", "data_cache/gutenberg_heldout.bin"))
    train, _ = read_shard(train_path)
    held, held_bytes = read_shard(eval_path)
    uni = np.bincount(train, minlength=VOCAB).astype(np.float64)
    p_uni = (uni + 1) / (uni.sum() + VOCAB)
    keys, counts = np.unique(train[:-1] * VOCAB + train[1:], return_counts=True)
    prev_total = np.bincount(train[:-1], minlength=VOCAB).astype(np.float64)
    followers = np.bincount(keys // VOCAB, minlength=VOCAB).astype(np.float64)
    prev, cur = held[:-1], held[1:]
    q = prev * VOCAB + cur
    idx = np.clip(np.searchsorted(keys, q), 0, len(keys) - 1)
    c_pair = np.where(keys[idx] == q, counts[idx], 0).astype(np.float64)
    c_prev, t_prev = prev_total[prev], followers[prev]
    lam = np.where(c_prev > 0, c_prev / np.maximum(c_prev + t_prev, 1), 0.0)
    p_bi = lam * np.where(c_prev > 0, c_pair / np.maximum(c_prev, 1), 0.0) + (1 - lam) * p_uni[cur]
    # Both models score the same tokens (all but the first); bytes scaled to those tokens.
    scored_bytes = held_bytes * (len(held) - 1) / len(held)
    result = {
        "command": "bench/ngram_baseline.py",
        "heldout_tokens_scored": int(len(held) - 1),
        "unigram_bits_per_byte": float(-np.log2(p_uni[cur]).sum() / scored_bytes),
        "bigram_witten_bell_bits_per_byte": float(-np.log2(p_bi).sum() / scored_bytes),
    }
    with open("bench/results/ngram_baseline.json", "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
