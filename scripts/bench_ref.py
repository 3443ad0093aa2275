#!/usr/bin/env python3
"""Eager PyTorch reference for scripts/bench.sh: the same model (tests/reference/llama_ref.py),
the same step (forward, CE loss, backward, grad clip 1.0, AdamW) and the same thread count as
`ptune bench`, printing one JSON line with the same keys.

  bench_ref.py --hidden 256 --layers 4 --heads 8 --vocab 4096 --seq 256 --batch 8 [--method lora]
  [--lora-targets all] [--tied]

setup_s is the time from the start of main() (after the imports) to the first step.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
from llama_ref import LlamaForCausalLM  # noqa: E402


class LoRALinear(nn.Module):
    """PEFT's LoRA: W x + (alpha / r) * B(A(x)), A kaiming-uniform, B zero, W frozen."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scale


def main():
    p = argparse.ArgumentParser()
    for name, default in [("hidden", 256), ("layers", 4), ("heads", 8), ("kv-heads", 0), ("vocab", 4096),
                          ("intermediate", 0), ("seq", 256), ("batch", 8), ("steps", 5), ("warmup", 2),
                          ("threads", 0), ("lora-r", 8)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--method", default="full", choices=["full", "lora"])
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--lora-targets", default="qv", choices=["qv", "all"],
                   help="q_proj and v_proj, or all 7 projections")
    p.add_argument("--tied", action="store_true", help="lm_head shares embed_tokens")
    a = p.parse_args()
    t_start = time.perf_counter()
    torch.set_num_threads(a.threads or os.cpu_count())
    torch.manual_seed(0)
    inter = a.intermediate or (a.hidden * 8 // 3 + 63) // 64 * 64
    cfg = {"vocab_size": a.vocab, "hidden_size": a.hidden, "intermediate_size": inter,
           "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
           "num_key_value_heads": a.kv_heads or a.heads, "max_position_embeddings": a.seq,
           "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": a.tied}
    model = LlamaForCausalLM(cfg)
    if a.method == "lora":
        for p_ in model.parameters():
            p_.requires_grad_(False)
        attn = ["q_proj", "v_proj"] if a.lora_targets == "qv" else ["q_proj", "k_proj", "v_proj", "o_proj"]
        mlp = [] if a.lora_targets == "qv" else ["gate_proj", "up_proj", "down_proj"]
        for layer in model.model.layers:
            for parent, names in ((layer.self_attn, attn), (layer.mlp, mlp)):
                for name in names:
                    setattr(parent, name, LoRALinear(getattr(parent, name), a.lora_r, 2 * a.lora_r))
    params = [p_ for p_ in model.parameters() if p_.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    ids = torch.randint(a.vocab, (a.batch, a.seq + 1))
    inp, tgt = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()

    phase = [0.0, 0.0, 0.0]  # forward + loss, backward, clip + optimizer

    def step():
        opt.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            logits = model(inp)
        loss = F.cross_entropy(logits.float().reshape(-1, a.vocab), tgt.reshape(-1), ignore_index=-100)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        t3 = time.perf_counter()
        phase[0] += t1 - t0
        phase[1] += t2 - t1
        phase[2] += t3 - t2

    setup_s = time.perf_counter() - t_start
    for _ in range(a.warmup):
        step()
    phase[:] = [0.0, 0.0, 0.0]
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    s = (time.perf_counter() - t0) / a.steps
    n_total = sum(p_.numel() for p_ in model.parameters())
    n_train = sum(p_.numel() for p_ in params)
    print(json.dumps({"impl": "pytorch", "hidden": a.hidden, "layers": a.layers, "heads": a.heads,
                      "vocab": a.vocab, "seq": a.seq, "batch": a.batch, "method": a.method,
                      "dtype": a.dtype, "params": n_total, "trainable": n_train,
                      "tokens_per_s": a.batch * a.seq / s, "ms_per_step": s * 1e3,
                      "ms_forward": phase[0] * 1e3 / a.steps, "ms_backward": phase[1] * 1e3 / a.steps,
                      "ms_optimizer": phase[2] * 1e3 / a.steps, "setup_s": setup_s,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


if __name__ == "__main__":
    main()
