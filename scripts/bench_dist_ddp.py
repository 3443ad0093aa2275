#!/usr/bin/env python3
"""PyTorch DistributedDataParallel peer for scripts/bench_dist.sh: the same model
(tests/reference/llama_ref.py) and step (forward, CE loss, backward, clip 1.0, AdamW) as the
ptune run, launched by torchrun with Gloo, each rank on its share of a global batch. Prints one
JSON line (rank 0).

The all-reduce cost per step is measured as DDP allows: steps with gradient sync minus steps
under DDP's no_sync() (the same hooks, no communication), alternated in blocks.

  torchrun --nproc_per_node 2 bench_dist_ddp.py --hidden 512 --layers 8 ... --batch 4
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
from llama_ref import LlamaForCausalLM  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    for name, default in [("hidden", 512), ("intermediate", 1376), ("layers", 8), ("heads", 8),
                          ("vocab", 8192), ("seq", 256), ("batch", 4), ("steps", 10),
                          ("warmup", 2), ("bucket-mb", 25)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(max(1, os.cpu_count() // local))
    if world > 1:
        dist.init_process_group("gloo")
    torch.manual_seed(0)
    cfg = {"vocab_size": a.vocab, "hidden_size": a.hidden, "intermediate_size": a.intermediate,
           "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
           "num_key_value_heads": a.heads, "max_position_embeddings": a.seq,
           "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": False}
    model = LlamaForCausalLM(cfg)
    ddp = DDP(model, bucket_cap_mb=a.bucket_mb) if world > 1 else model
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    rows = a.batch // world
    g = torch.Generator().manual_seed(1 + rank)
    ids = torch.randint(a.vocab, (rows, a.seq + 1), generator=g)
    inp, tgt = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()

    def step(sync):
        opt.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        ctx = ddp.no_sync() if (world > 1 and not sync) else torch.enable_grad()
        with ctx:
            logits = ddp(inp)
            loss = F.cross_entropy(logits.float().reshape(-1, a.vocab), tgt.reshape(-1))
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return time.perf_counter() - t0

    for _ in range(a.warmup):
        step(True)
    t_sync, t_free = [], []
    for i in range(a.steps):  # alternating blocks of 2: sync, no_sync
        (t_sync if (i // 2) % 2 == 0 else t_free).append(step((i // 2) % 2 == 0))
    sync_s = sum(t_sync) / len(t_sync)
    free_s = sum(t_free) / max(1, len(t_free))
    n_bytes = sum(q.numel() * 4 for q in params)
    if rank == 0:
        print(json.dumps({"impl": "pytorch-ddp", "processes": world, "threads": torch.get_num_threads(),
                          "global_batch": a.batch, "seq": a.seq,
                          "tokens_per_s": a.batch * a.seq / sync_s, "step_s": sync_s,
                          "allreduce_s": max(0.0, sync_s - free_s) if world > 1 else 0.0,
                          "allreduce_mb": n_bytes / 1048576.0 if world > 1 else 0.0}))
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
