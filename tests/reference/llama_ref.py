#!/usr/bin/env python3
"""PyTorch reference of HF LlamaForCausalLM (and Qwen2ForCausalLM, LLaMA with q/k/v biases) for
ptune's parity tests and scripts/bench_ref.py.

Written from the HF LLaMA definition (modeling_llama.py / modeling_rope_utils.py) as plain
nn.Modules: rotate_half RoPE, GQA through repeat_kv, eager attention with an additive
finfo.min causal mask and fp32 softmax, RMSNorm in fp32. Prefix K/V follow PEFT prefix
tuning: they act as past_key_values, are not rotated, and shift the real tokens' positions.

  llama_ref.py CONFIG.json IN.pt OUT.pt   logits, mean CE loss (ignore -100), gradients
"""
import json
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def inv_frequencies(cfg):
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "linear":
        inv = inv / rs["factor"]
    elif kind == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old_len = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old_len / low, old_len / high
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old_len / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, inv_l)
    else:
        assert kind == "default", kind
    return inv


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, kv, s, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kv, n_rep, s, d).reshape(b, kv * n_rep, s, d)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        var = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(var + self.eps)
        return self.weight * x.to(dtype)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.h = cfg["num_attention_heads"]
        self.kv = cfg["num_key_value_heads"]
        self.hd = cfg.get("head_dim") or d // self.h
        # Qwen2Attention: q/k/v biases, none on o_proj; LlamaAttention: attention_bias on all four.
        qwen2 = cfg.get("model_type") == "qwen2"
        qkv_bias = qwen2 or cfg.get("attention_bias", False)
        o_bias = not qwen2 and cfg.get("attention_bias", False)
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=qkv_bias)
        self.k_proj = nn.Linear(d, self.kv * self.hd, bias=qkv_bias)
        self.v_proj = nn.Linear(d, self.kv * self.hd, bias=qkv_bias)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=o_bias)

    def forward(self, x, cos, sin, mask, past=None):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        cos, sin = cos[None, None], sin[None, None]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        k = repeat_kv(k, self.h // self.kv)
        v = repeat_kv(v, self.h // self.kv)
        w = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd)
        w = w + mask
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(w, v).transpose(1, 2).reshape(b, t, self.h * self.hd)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, f = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])

    def forward(self, x, cos, sin, mask, past=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, past)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        pad = cfg.get("pad_token_id")
        pad = pad if pad is not None and 0 <= pad < cfg["vocab_size"] else None
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"], pad)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.register_buffer("inv_freq", inv_frequencies(cfg), persistent=False)

    def forward(self, input_ids, position_offset=0, past=None):
        b, t = input_ids.shape
        x = self.embed_tokens(input_ids)
        past_len = past[0][0].shape[2] if past else 0
        # HF: position_ids = arange(past_len, past_len + t), plus any explicit offset.
        pos = torch.arange(position_offset + past_len, position_offset + past_len + t).float()
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        mask = torch.full((t, past_len + t), torch.finfo(x.dtype).min, dtype=x.dtype)
        mask = torch.triu(mask, diagonal=past_len + 1)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, past[i] if past else None)
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.model = LlamaModel(cfg)
        self.tied = cfg.get("tie_word_embeddings", False)
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def forward(self, input_ids, position_offset=0, past=None):
        h = self.model(input_ids, position_offset, past)
        w = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return F.linear(h, w).float()


def parity(cfg_path, in_path, out_path):
    cfg = json.load(open(cfg_path))
    data = torch.load(in_path)
    model = LlamaForCausalLM(cfg)
    weights = {k: v for k, v in data.items() if k.startswith(("model.", "lm_head."))}
    model.load_state_dict(weights, strict=True)
    n_prefix = cfg.get("num_prefix_layers", 0)
    past = None
    if n_prefix:
        past = [(data[f"prefix.{i}.k"].clone().requires_grad_(),
                 data[f"prefix.{i}.v"].clone().requires_grad_()) for i in range(n_prefix)]
    logits = model(data["input_ids"], cfg.get("pos_offset", 0), past)
    v = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, v), data["targets"].reshape(-1), ignore_index=-100)
    loss.backward()
    out = {"logits": logits.detach(), "loss": loss.detach()}
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad
    for i, (k, v_) in enumerate(past or []):
        out[f"grad.prefix.{i}.k"] = k.grad
        out[f"grad.prefix.{i}.v"] = v_.grad
    torch.save(out, out_path)


if __name__ == "__main__":
    parity(sys.argv[1], sys.argv[2], sys.argv[3])
