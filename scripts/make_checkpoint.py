#!/usr/bin/env python3
"""Random-weight Hugging Face checkpoints at the shapes of real 1B-class models, for scale
benchmarks (weights cannot be downloaded here). Writes DIR/config.json and bf16 safetensors
shards with model.safetensors.index.json, streaming one tensor at a time: the model is never
held in memory (the largest tensor is Llama-3.2-1B's 128,256 x 2,048 embedding, 525 MB).

  scripts/make_checkpoint.py tinyllama-1.1b out/ckpt/tinyllama [--shard-gb 1] [--seed 0]
  scripts/make_checkpoint.py --list

Weights are normal(0, 0.02) like HF's _init_weights (norms 1); token ids, not text, are what
such a model is good for. No tokenizer is written.
"""
import argparse
import json
import os
import struct
import sys

import torch

SHAPES = {
    # TinyLlama/TinyLlama-1.1B-Chat-v1.0
    "tinyllama-1.1b": dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                           num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
                           max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-5,
                           tie_word_embeddings=False, bos_token_id=1, eos_token_id=2),
    # meta-llama/Llama-3.2-1B: tied embeddings, llama3 rope scaling
    "llama-3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                         num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                         head_dim=64, max_position_embeddings=131072, rope_theta=500000.0,
                         rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=128000,
                         eos_token_id=128001,
                         rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                           high_freq_factor=4.0,
                                           original_max_position_embeddings=8192)),
    # HuggingFaceTB/SmolLM2-360M
    "smollm2-360m": dict(vocab_size=49152, hidden_size=960, intermediate_size=2560,
                         num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5,
                         max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2),
}


def tensor_shapes(c):
    """(name, shape, is_norm) in HF's state_dict order."""
    d, f, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    hd = c.get("head_dim", d // c["num_attention_heads"])
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    out = [("model.embed_tokens.weight", (c["vocab_size"], d), False)]
    for i in range(L):
        p = f"model.layers.{i}."
        out += [(p + "self_attn.q_proj.weight", (q, d), False),
                (p + "self_attn.k_proj.weight", (kv, d), False),
                (p + "self_attn.v_proj.weight", (kv, d), False),
                (p + "self_attn.o_proj.weight", (d, q), False),
                (p + "mlp.gate_proj.weight", (f, d), False),
                (p + "mlp.up_proj.weight", (f, d), False),
                (p + "mlp.down_proj.weight", (d, f), False),
                (p + "input_layernorm.weight", (d,), True),
                (p + "post_attention_layernorm.weight", (d,), True)]
    out.append(("model.norm.weight", (d,), True))
    if not c["tie_word_embeddings"]:
        out.append(("lm_head.weight", (c["vocab_size"], d), False))
    return out


def nbytes(shape):
    n = 2  # bf16
    for s in shape:
        n *= s
    return n


def shards(tensors, shard_bytes):
    groups, cur, size = [], [], 0
    for t in tensors:
        if cur and size + nbytes(t[1]) > shard_bytes:
            groups.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += nbytes(t[1])
    if cur:
        groups.append(cur)
    return groups


def write_shard(path, group, gen):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in group:
        header[name] = {"dtype": "BF16", "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes(shape)]}
        offset += nbytes(shape)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for name, shape, is_norm in group:
            t = torch.ones(shape) if is_norm else torch.empty(shape).normal_(0.0, 0.02, generator=gen)
            out.write(t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes())
            del t
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shape", nargs="?", choices=sorted(SHAPES))
    ap.add_argument("out", nargs="?")
    ap.add_argument("--shard-gb", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="print the shapes and exit")
    a = ap.parse_args()
    if a.list:
        for k, c in SHAPES.items():
            n = sum(nbytes(s) // 2 for _, s, _ in tensor_shapes(c))
            print(f"{k}: {n / 1e9:.2f}B parameters, {2 * n / 2**30:.2f} GiB in bf16")
        return 0
    if not a.shape or not a.out:
        ap.error("give a shape and an output dir (or --list)")
    if os.path.exists(a.out) and os.listdir(a.out):
        sys.exit(f"make_checkpoint: '{a.out}' exists and is not empty; choose a new dir")
    os.makedirs(a.out, exist_ok=True)
    c = SHAPES[a.shape]
    config = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
                  torch_dtype="bfloat16", attention_bias=False, mlp_bias=False, **c)
    groups = shards(tensor_shapes(c), int(a.shard_gb * 2**30))
    gen = torch.Generator().manual_seed(a.seed)
    weight_map, total = {}, 0
    for i, group in enumerate(groups):
        name = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        write_shard(os.path.join(a.out, name), group, gen)
        for t, shape, _ in group:
            weight_map[t] = name
            total += nbytes(shape)
        print(f"make_checkpoint: wrote {name} ({len(group)} tensors)", file=sys.stderr)
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
