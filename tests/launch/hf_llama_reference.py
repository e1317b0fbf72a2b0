#!/usr/bin/env python3
"""Logits of a Hugging Face LlamaForCausalLM directory, computed from the math with numpy alone.

usage: hf_llama_reference.py MODEL_DIR TOKENS_FILE OUT_FILE

Reads MODEL_DIR/config.json and MODEL_DIR/model.safetensors (the format is parsed here, no
safetensors or transformers package), runs the causal LM over the whitespace-separated token
ids of TOKENS_FILE in float64, and writes the logits (T, vocab_size) to OUT_FILE as raw
little-endian float64. The semantics are those of transformers' modeling_llama.py, restated:
  RMSNorm(x) = x / sqrt(mean(x^2) + eps) * w
  RoPE: inv_freq_i = theta^(-2i/hd), i < hd/2; angle = position * inv_freq, duplicated over both
        halves; x' = x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1]
  GQA: key/value head j serves query heads j*n_rep .. (j+1)*n_rep-1 (repeat_kv)
  attention: softmax(q k^T / sqrt(hd) + causal mask) v, then o_proj
  MLP: down(silu(gate(x)) * up(x)); blocks are pre-norm with residuals; final norm; lm_head.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2"}


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    data = raw[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        values = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]])
        tensors[name] = values.reshape(info["shape"]).astype(np.float64)
    return tensors


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def silu(x):
    return x / (1.0 + np.exp(-x))


def llama_logits(cfg, w, tokens):
    seq = len(tokens)
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // heads
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    n_rep = heads // kv_heads

    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)  # (hd/2)
    angles = np.outer(np.arange(seq, dtype=np.float64), inv_freq)          # (T, hd/2)
    emb = np.concatenate([angles, angles], axis=-1)                         # (T, hd)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]             # (T, 1, hd)
    mask = np.triu(np.full((seq, seq), -np.inf), k=1)                       # (T, T)

    x = w["model.embed_tokens.weight"][np.asarray(tokens)]                   # (T, d)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(seq, heads, hd)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(seq, kv_heads, hd)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(seq, kv_heads, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = np.repeat(k, n_rep, axis=1)                                      # (T, H, hd)
        v = np.repeat(v, n_rep, axis=1)
        scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask       # (H, T, T)
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        att = np.einsum("hts,shd->thd", probs, v).reshape(seq, heads * hd)
        x = x + att @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T                                                        # (T, V)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model_dir, tokens_file, out_file = sys.argv[1:]
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    if cfg.get("architectures") != ["LlamaForCausalLM"] or cfg.get("model_type") != "llama":
        sys.exit("config.json does not describe a LlamaForCausalLM")
    if cfg.get("hidden_act") != "silu" or cfg.get("attention_bias") or cfg.get("mlp_bias"):
        sys.exit("only silu, bias-free Llama models are modelled here")
    weights = load_safetensors(f"{model_dir}/model.safetensors")
    with open(tokens_file) as f:
        tokens = [int(t) for t in f.read().split()]
    logits = llama_logits(cfg, weights, tokens)
    logits.astype("<f8").tofile(out_file)


if __name__ == "__main__":
    main()
