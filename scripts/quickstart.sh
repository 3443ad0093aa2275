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
elif ls -d out/base/checkpoint-* >/dev/null 2>&1; then
  $ptune train --config configs/quickstart.yaml --resume
else
  $ptune train --config configs/quickstart.yaml
fi

# 2. Held-out evaluation of the base model.
$ptune eval --config configs/quickstart.yaml >out/base/eval.json
$ptune info --model out/base/final >&2

echo
echo "quickstart finished in $(( $(date +%s) - start )) s"
echo "  tokenizer:   out/tok/wordnet.model"
echo "  base model:  out/base/final   (HF layout: config.json, model.safetensors, tokenizer.model)"
echo "  metrics:     out/base/metrics.jsonl"
echo "  eval (held-out WordNet glosses): $(cat out/base/eval.json)"
