#!/usr/bin/env bash
# Data-parallel overhead: ptune train with 1 and 2 worker processes (--nproc) on shape (b) of
# scripts/bench.sh (hidden 512, 8 layers, vocab 8192, seq 256, global batch 4, fp32, full
# fine-tune), next to PyTorch's DistributedDataParallel on the same model (tests/reference/
# llama_ref.py) under torchrun with Gloo. On a 2-core machine the point is the cost of the
# gradient all-reduce, not a speedup: 2 workers get 1 thread each.
# Prints JSON lines: the CPU, then one per implementation and process count, then a summary.
#   allreduce_s   ptune: seconds per step its gradient all-reduce held the step up (packing
#                 buckets in the backward's hooks, and the wait after it), measured in-process;
#                 DDP: step time with gradient sync minus step time under no_sync()
#   allreduce_mb  fp32 gradient bytes reduced per step
# Run it on an otherwise idle machine.   STEPS=20 scripts/bench_dist.sh   (default 12)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/ptune ] || PTUNE_SKIP_TESTS_BUILD=1 scripts/setup.sh
ptune=build/bin/ptune
py=/usr/bin/python3
steps=${STEPS:-12}
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then  # as scripts/bench.sh: the same kernels for PyTorch
  if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
export OMP_WAIT_POLICY=PASSIVE
echo "bench_dist: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
$ptune --version | sed -n 's/^machine: //p' | jq -R -c '{cpu: .}'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Shape (b) from scratch on the shipped corpus (stream packing: every row is 256 tokens, plain
# causal attention as the reference has); the BPE tokenizer's 4096 ids fit the 8192 vocab.
cat > "$tmp/b.yaml" <<YAML
model:
  arch: {hidden_size: 512, intermediate_size: 1376, num_hidden_layers: 8, num_attention_heads: 8,
         num_key_value_heads: 8, vocab_size: 8192, max_position_embeddings: 256,
         rope_theta: 10000.0, rms_norm_eps: 1.0e-5, tie_word_embeddings: false}
tokenizer: {path: data/wordnet-bpe}
data:
  train: {path: data/wordnet/corpus_train.txt, format: text}
  seq_len: 256
  packing: stream
method: {type: full}
precision: {dtype: fp32}
optim: {lr: 1.0e-4, weight_decay: 0.0, grad_clip: 1.0}
train: {steps: $steps, batch_size: 4, log_every: 2, save_every: 0, eval_every: 0, report: false}
output: {dir: $tmp/run}
YAML

ptune_run() {  # $1 = processes
  rm -rf "$tmp/run"
  $ptune --quiet train --config "$tmp/b.yaml" ${2:+--nproc $1} >/dev/null
  # Windows after the first (warm-up) one: mean tokens/s and all-reduce seconds per step.
  $py - "$tmp/run/metrics.jsonl" "$1" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])][1:]
tps = sum(r["tokens_per_s"] for r in recs) / len(recs)
step_s = 4 * 256 / tps
ar = sum(r.get("allreduce_s", 0.0) for r in recs) / len(recs)
print(json.dumps({"impl": "ptune", "processes": int(sys.argv[2]), "global_batch": 4, "seq": 256,
                  "tokens_per_s": round(tps, 1), "step_s": round(step_s, 4),
                  "allreduce_s": round(ar, 4), "allreduce_fraction": round(ar / step_s, 4),
                  "allreduce_mb": round(recs[-1].get("allreduce_mb", 0.0), 2)}))
PY
}

ddp_run() {  # $1 = processes
  $py -m torch.distributed.run --nproc_per_node "$1" --master_port "$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" \
    --redirects 2 --tee 2 --log_dir "$tmp/ddp-logs-$1" \
    scripts/bench_dist_ddp.py --steps "$steps" 2>/dev/null |
    $py -c 'import json, sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1])
r["allreduce_fraction"] = round(r["allreduce_s"] / r["step_s"], 4)
for k in ("tokens_per_s", "step_s", "allreduce_s", "allreduce_mb"): r[k] = round(r[k], 4)
print(json.dumps(r))'
}

ptune_run 1 | tee "$tmp/p1"
ptune_run 2 nproc | tee "$tmp/p2"
ddp_run 1 | tee "$tmp/d1"
ddp_run 2 | tee "$tmp/d2"
$py - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
p1, p2, d1, d2 = (json.load(open(f"{d}/{n}")) for n in ("p1", "p2", "d1", "d2"))
print(json.dumps({"summary": "2 workers vs 1",
                  "ptune_scaling": round(p2["tokens_per_s"] / p1["tokens_per_s"], 3),
                  "ddp_scaling": round(d2["tokens_per_s"] / d1["tokens_per_s"], 3),
                  "ptune_allreduce_fraction": p2["allreduce_fraction"],
                  "ddp_allreduce_fraction": d2["allreduce_fraction"],
                  "ptune_vs_ddp_tokens_per_s": round(p2["tokens_per_s"] / d2["tokens_per_s"], 3)}))
PY
