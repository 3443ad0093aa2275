#!/usr/bin/env bash
# Scale benchmark: `ptune train` on random-weight Hugging Face checkpoints at the shapes of
# real 1B-class models (scripts/make_checkpoint.py), next to an eager PyTorch step of the same
# shape, method and threads (scripts/bench_ref.py) where that fits in memory. Per row: time
# to the first step (checkpoint opened, model built, data and optimizer ready), the first
# step, a later step's time and tokens/s, and the process's peak RSS. Prints one JSON line
# per run, then a Markdown table (the README's) of every shape's latest results (a shape's
# results-<shape>.jsonl in BENCH_DIR is replaced when that shape runs again). Run it on an
# otherwise idle machine.
#   scripts/bench_scale.sh                    every row (about an hour on 2 cores)
#   scripts/bench_scale.sh tinyllama-1.1b     the rows of the named shapes
#   STEPS=3         steps per ptune run (default 2: the first, and one timed step)
#   REF=0           no PyTorch reference
#   LONG=0          without the seq 8192 row
#   BENCH_DIR=DIR   checkpoints and runs (default out/bench-scale; checkpoints are kept)
#   TABLE_ONLY=1    print the table of the results already in BENCH_DIR, run nothing
# Weights are bf16 on disk; LoRA keeps the frozen base in bf16 (method.lora.base_dtype) and
# computes in fp32. The reference keeps fp32 weights (eager PyTorch has no frozen-bf16 base)
# and its attention materialises the T x T probabilities, so it runs only where its estimate
# fits in 80% of RAM.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/ptune ] || PTUNE_SKIP_TESTS_BUILD=1 scripts/setup.sh
ptune=$PWD/build/bin/ptune
py=/usr/bin/python3
threads=${THREADS:-$(nproc)}
steps=${STEPS:-2}
work=${BENCH_DIR:-out/bench-scale}
((steps >= 2)) || { echo "bench_scale: STEPS must be >= 2 (the first step is not timed)" >&2; exit 2; }
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then  # as scripts/bench.sh: the reference gets ptune's kernels
  if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
cpu=$($ptune --version | sed -n 's/^machine: //p')
echo "bench_scale: $cpu; $threads threads; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# shape method seq activation_checkpointing
rows=(
  "tinyllama-1.1b lora 512 0"
  "tinyllama-1.1b lora 512 1"
  "tinyllama-1.1b lora 2048 0"
  "tinyllama-1.1b lora 2048 1"
  "llama-3.2-1b lora 512 0"
  "llama-3.2-1b lora 2048 1"
  "llama-3.2-1b lora 8192 1"
  "smollm2-360m full 512 0"
  "smollm2-360m full 2048 1"
)
selected=("$@")
for s in "${selected[@]}"; do
  $py scripts/make_checkpoint.py --list | grep -q "^$s:" ||
    { echo "bench_scale: unknown shape '$s' ($($py scripts/make_checkpoint.py --list | cut -d: -f1 | tr '\n' ' '))" >&2; exit 2; }
done

mkdir -p "$work"
tok=$work/tok.model
[ -f "$tok" ] || $ptune tokenizer train -i data/wordnet/corpus_train.txt --vocab-size 1000 -o "$tok" >/dev/null

declare -A started=()
for row in "${rows[@]}"; do
  [ "${TABLE_ONLY:-0}" = 1 ] && break
  read -r shape method seq ckpt <<<"$row"
  if ((${#selected[@]})) && [[ ! " ${selected[*]} " =~ " $shape " ]]; then continue; fi
  results=$work/results-$shape.jsonl
  [ -n "${started[$shape]:-}" ] || { : >"$results"; started[$shape]=1; }
  [ "${LONG:-1}" = 0 ] && ((seq > 4096)) && continue
  model=$work/$shape
  [ -f "$model/config.json" ] || $py scripts/make_checkpoint.py "$shape" "$model"
  read -r vocab hidden inter layers heads kv tied < <($py -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c["vocab_size"], c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"],
      c["num_attention_heads"], c["num_key_value_heads"], int(c["tie_word_embeddings"]))' "$model/config.json")
  data=$work/tokens-$seq-$vocab.jsonl
  [ -f "$data" ] || $py -c '
import json, random, sys
n, seq, vocab = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
random.seed(0)
with open(sys.argv[4], "w") as f:
    for _ in range(n):
        f.write(json.dumps({"input_ids": [random.randrange(vocab) for _ in range(seq + 1)]}) + "\n")' \
    "$steps" "$seq" "$vocab" "$data"

  run=$work/run-$shape-$method-$seq-ckpt$ckpt
  rm -rf "$run"
  lora=""
  [ "$method" = lora ] && lora=", lora: {r: 8, alpha: 16.0, targets: [all-linear], base_dtype: bf16}"
  cat >"$run.yaml" <<EOF
model: {path: $model}
tokenizer: {path: $tok}
data: {train: {path: $data, format: tokens}, seq_len: $seq, shuffle: false}
method: {type: $method$lora}
precision: {dtype: fp32}
optim: {lr: 1.0e-4, grad_clip: 1.0}
schedule: {kind: constant, warmup_steps: 0}
train: {steps: $steps, batch_size: 1, log_every: 1, eval_every: 0, save_every: 0, threads: $threads,
        activation_checkpointing: $ckpt}
output: {dir: $run}
EOF
  echo "bench_scale: ptune $shape $method seq $seq checkpointing $ckpt" >&2
  if ! summary=$(/usr/bin/time -f '%M' -o "$run.rss" $ptune train --config "$run.yaml" 2>"$run.log"); then
    echo "bench_scale: ptune failed (see $run.log):" >&2
    tail -3 "$run.log" >&2
    continue
  fi
  $py - "$summary" "$run/metrics.jsonl" "$(cat "$run.rss")" "$row" "$threads" >>"$results" <<'PY'
import json, sys
summary = json.loads(sys.argv[1])
m = [json.loads(l) for l in open(sys.argv[2])]
shape, method, seq, ckpt = sys.argv[4].split()
step_s = (m[-1]["elapsed_s"] - m[0]["elapsed_s"]) / (len(m) - 1)
print(json.dumps({"impl": "ptune", "shape": shape, "method": method, "seq": int(seq),
                  "checkpointing": int(ckpt), "threads": int(sys.argv[5]),
                  "setup_s": round(summary["setup_s"], 2), "first_step_s": round(m[0]["elapsed_s"], 2),
                  "step_s": round(step_s, 2), "tokens_per_s": round(int(seq) / step_s, 1),
                  "peak_rss_mb": round(int(sys.argv[3]) / 1024, 1)}))
PY
  tail -1 "$results"

  [ "${REF:-1}" = 0 ] && continue
  ((ckpt == 0)) || continue  # the reference has no activation checkpointing
  # Eager reference's big terms: fp32 weights, AdamW state of what trains, and per layer the
  # T x T scores and probabilities plus ~12 hidden-sized activations; logits thrice.
  fits=$($py -c '
import sys, os
V, d, I, L, H, kv, tied, T, full = map(int, sys.argv[1:10])
hd = d // H
params = V * d * (1 if tied else 2) + L * (2 * d * d + 2 * d * kv * hd + 3 * d * I)
state = 12 * params if full else 0  # LoRA: A and B are a few MB
act = L * (2 * H * T * T * 4 + T * (12 * d + 3 * I) * 4) + 3 * T * V * 4
need = 4 * params + state + act
ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
print(1 if need < 0.8 * ram else 0, round(need / 2**30, 1))' \
    "$vocab" "$hidden" "$inter" "$layers" "$heads" "$kv" "$tied" "$seq" "$([ "$method" = full ] && echo 1 || echo 0)")
  if [ "${fits%% *}" != 1 ]; then
    echo "bench_scale: no PyTorch reference for $shape seq $seq: needs about ${fits#* } GB" >&2
    continue
  fi
  echo "bench_scale: pytorch $shape $method seq $seq" >&2
  ref_flags=(--hidden "$hidden" --intermediate "$inter" --layers "$layers" --heads "$heads"
             --kv-heads "$kv" --vocab "$vocab" --seq "$seq" --batch 1 --threads "$threads"
             --method "$method" --lora-targets all --steps $((steps - 1)) --warmup 1)
  ((tied)) && ref_flags+=(--tied)
  if ! ref=$($py scripts/bench_ref.py "${ref_flags[@]}" 2>"$run.ref.log"); then
    echo "bench_scale: PyTorch reference failed (see $run.ref.log)" >&2
    continue
  fi
  $py - "$ref" "$row" "$threads" >>"$results" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
shape, method, seq, ckpt = sys.argv[2].split()
print(json.dumps({"impl": "pytorch", "shape": shape, "method": method, "seq": int(seq),
                  "checkpointing": 0, "threads": int(sys.argv[3]), "setup_s": round(r["setup_s"], 2),
                  "step_s": round(r["ms_per_step"] / 1e3, 2), "tokens_per_s": round(r["tokens_per_s"], 1),
                  "peak_rss_mb": round(r["peak_rss_mb"], 1)}))
PY
  tail -1 "$results"
done

# The table: one line per ptune row, the reference beside it where it ran.
$py - "$work" "$cpu" "$threads" <<'PY'
import datetime, glob, json, os, sys
order = ["tinyllama-1.1b", "llama-3.2-1b", "smollm2-360m"]
files = sorted(glob.glob(os.path.join(sys.argv[1], "results-*.jsonl")),
               key=lambda f: order.index(os.path.basename(f)[8:-6]) if os.path.basename(f)[8:-6] in order else 99)
rows = [json.loads(l) for f in files for l in open(f)]
ref = {(r["shape"], r["method"], r["seq"]): r for r in rows if r["impl"] == "pytorch"}
print(f"\n{datetime.date.today()}, {sys.argv[2]}, {sys.argv[3]} threads, batch 1, fp32 compute; "
      "LoRA r 8 on all 7 projections over a bf16 base, full fine-tune with fp32 AdamW")
print()
print("| shape | method | seq | act. ckpt | ptune ready (s) | ptune step (s) | ptune tok/s | ptune peak RSS (GB) "
      "| PyTorch step (s) | PyTorch tok/s | PyTorch peak RSS (GB) | speed-up |")
print("|---|---|---:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    if r["impl"] != "ptune":
        continue
    p = ref.get((r["shape"], r["method"], r["seq"])) if not r["checkpointing"] else None
    cells = [r["shape"], r["method"], str(r["seq"]), "yes" if r["checkpointing"] else "no",
             f"{r['setup_s']:.1f}", f"{r['step_s']:.1f}", f"{r['tokens_per_s']:.0f}",
             f"{r['peak_rss_mb'] / 1024:.2f}"]
    if p:
        cells += [f"{p['step_s']:.1f}", f"{p['tokens_per_s']:.0f}", f"{p['peak_rss_mb'] / 1024:.2f}",
                  f"{r['tokens_per_s'] / p['tokens_per_s']:.2f}x"]
    else:
        cells += ["-", "-", "-", "-"]
    print("| " + " | ".join(cells) + " |")
PY
