#!/usr/bin/env bash
# The main job end to end on the shipped WordNet data: setup, tokenizer training, pretraining
# a tiny base model from scratch, held-out evaluation. Re-running reuses finished outputs
# (remove out/ to start over); nothing finished is overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
PTUNE_SKIP_TESTS_BUILD=${PTUNE_SKIP_TESTS_BUILD:-1} scripts/setup.sh
ptune=build/bin/ptune
start=$(date +%s)

# 1. Tokenizer (trained by the recipe when missing) + pretraining.
if [ -f out/base/final/model.safetensors ]; then
  echo "quickstart: out/base/final exists; skipping pretraining (rm -rf out/base to redo it)" >&2
else  # an interrupted run resumes from its newest checkpoint
  $ptune train --config configs/quickstart.yaml --resume-if-exists
fi

# 2. Held-out evaluation of the base model: glosses, and word -> definition.
$ptune eval --config configs/quickstart.yaml >out/base/eval.json
$ptune info --model out/base/final >&2
$ptune eval --model out/base/final --data data/wordnet/instruct_eval.jsonl --format instruct \
  --seq-len 128 >out/base/eval_instruct.json

# 3. LoRA fine-tune on word -> definition (PEFT adapter + merged model), then eval after.
if [ -f out/lora/merged/model.safetensors ]; then
  echo "quickstart: out/lora exists; skipping the LoRA fine-tune (rm -rf out/lora to redo it)" >&2
else
  $ptune train --config configs/lora.yaml --resume-if-exists
fi
$ptune eval --config configs/lora.yaml >out/lora/eval_adapter.json
$ptune eval --model out/lora/merged --data data/wordnet/instruct_eval.jsonl --format instruct \
  --seq-len 128 >out/lora/eval_merged.json
# The prompt as the instruct data formats it (data.train.template "{prompt}\n"): newline included.
$ptune generate --model out/lora/merged --prompt $'Define the word "harbor" (noun).\n' --max-new-tokens 24 \
  >out/lora/sample.txt || true
# Both runs' curves in one page (each run dir also has its own report.html).
$ptune -q report out/base out/lora -o out/report.html >/dev/null

echo
echo "quickstart finished in $(( $(date +%s) - start )) s"
echo "  tokenizer:   out/tok/wordnet.model"
echo "  base model:  out/base/final   (HF layout: config.json, model.safetensors, tokenizer.model)"
echo "  metrics:     out/base/metrics.jsonl   report (open in a browser): out/report.html"
echo "  eval (held-out WordNet glosses): $(cat out/base/eval.json)"
echo "  LoRA adapter (PEFT): out/lora/final   merged: out/lora/merged"
echo "  word -> definition eval, base:        $(cat out/base/eval_instruct.json)"
echo "  word -> definition eval, LoRA:        $(cat out/lora/eval_adapter.json)"
echo "  word -> definition eval, LoRA merged: $(cat out/lora/eval_merged.json)"
echo "  sample: Define the word \"harbor\" (noun). -> $(cat out/lora/sample.txt)"
