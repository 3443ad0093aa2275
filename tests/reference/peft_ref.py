"""PEFT reference for ptune's adapter files, written from PEFT's formulas (peft is not
installed): reads a base checkpoint dir and an adapter dir as PEFT would and computes logits
with tests/reference/llama_ref.py's HF-style LLaMA.

LORA: every targeted nn.Linear becomes base(x) + lora_B(lora_A(x)) * scaling (PEFT
tuners/lora/layer.py), scaling = lora_alpha / r or lora_alpha / sqrt(r) (use_rslora).
PREFIX_TUNING: prompt_embeddings [P, L*2*token_dim] -> view [B, P, 2L, H_kv, D] ->
permute [2, 0, 3, 1, 4] -> split(2) -> past_key_values (PEFT get_prompt); not rotated, real
tokens at positions P.. (llama_ref offsets positions by the past length).

  peft_ref.py BASE_DIR ADAPTER_DIR IN.pt OUT.pt   IN: {"input_ids"}; OUT: {"logits"}
  Optional IN keys "encoder.*" (a projection encoder's weights): OUT also gets
  "prompt_from_encoder", PEFT's PrefixEncoder output recomputed from them.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import LlamaForCausalLM  # noqa: E402

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = bytearray(data[8 + n + begin:8 + n + end])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if buf else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).float()
    return out


class LoraLinear(nn.Module):
    def __init__(self, base, a, b, scaling):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(a.shape[1], a.shape[0], bias=False)
        self.lora_B = nn.Linear(b.shape[1], b.shape[0], bias=False)
        self.lora_A.weight.data.copy_(a)
        self.lora_B.weight.data.copy_(b)
        self.scaling = scaling

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def apply_lora(model, cfg, tensors):
    r = cfg["r"]
    scaling = cfg["lora_alpha"] / (math.sqrt(r) if cfg.get("use_rslora") else r)
    pairs = {}
    for key, t in tensors.items():
        name = key[len("base_model.model."):].replace(".default.", ".")
        if ".lora_A." in name or ".lora_B." in name:
            module, which = name.rsplit(".lora_", 1)
            pairs.setdefault(module, {})[which[0]] = t
        else:  # modules_to_save: a full copy of the module's weight
            model.get_parameter(name).data.copy_(t)
    for module, ab in pairs.items():
        parent_name, child = module.rsplit(".", 1)
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoraLinear(getattr(parent, child), ab["A"], ab["B"], scaling))


def prefix_past(cfg, prompt, batch):
    p, layers, heads = cfg["num_virtual_tokens"], cfg["num_layers"], cfg["num_attention_heads"]
    d = cfg["token_dim"] // heads
    past = prompt.unsqueeze(0).expand(batch, -1, -1)
    past = past.reshape(batch, p, layers * 2, heads, d).permute([2, 0, 3, 1, 4]).split(2)
    return [(kv[0], kv[1]) for kv in past]


def prefix_encoder(data):
    e = {k[len("encoder."):]: v for k, v in data.items() if k.startswith("encoder.")}
    x = e["embedding.weight"]
    h = torch.tanh(x @ e["transform.0.weight"].T + e["transform.0.bias"])
    return h @ e["transform.2.weight"].T + e["transform.2.bias"]


def main(base_dir, adapter_dir, in_path, out_path):
    base_cfg = json.load(open(os.path.join(base_dir, "config.json")))
    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    tensors = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    data = torch.load(in_path)
    model = LlamaForCausalLM(base_cfg)
    model.load_state_dict(read_safetensors(os.path.join(base_dir, "model.safetensors")), strict=True)
    ids = data["input_ids"]
    # Two entries at least: LibTorch 1.13's unpickler lacks SETITEM, which pickle uses for
    # a one-item dict.
    out = {"input_ids": ids}
    with torch.no_grad():
        if cfg["peft_type"] == "LORA":
            apply_lora(model, cfg, tensors)
            out["logits"] = model(ids)
        elif cfg["peft_type"] == "PREFIX_TUNING":
            assert set(tensors) == {"prompt_embeddings"}, sorted(tensors)
            out["logits"] = model(ids, 0, prefix_past(cfg, tensors["prompt_embeddings"], ids.shape[0]))
            if any(k.startswith("encoder.") for k in data):
                out["prompt_from_encoder"] = prefix_encoder(data)
        else:
            raise SystemExit(f"unsupported peft_type {cfg['peft_type']}")
    torch.save(out, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:5])
