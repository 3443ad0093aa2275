#!/usr/bin/env bash
# The README's comparison tables, measured: trains what is missing (on the quickstart base,
# out/base/final: run scripts/quickstart.sh first), evaluates on the held-out WordNet
# word -> definition split and prints markdown tables on stdout.
#   scripts/compare.sh methods     full / LoRA / adapter / prefix: same data, steps and batch
#   scripts/compare.sh precision   LoRA in fp32 / bf16 / fp16 (configs/bf16.yaml, fp16.yaml)
#   scripts/compare.sh             both
# Finished runs are reused (rm -rf out/<name> to redo one).
set -euo pipefail
cd "$(dirname "$0")/.."
ptune=${PTUNE:-build/bin/ptune}
[ -x "$ptune" ] || PTUNE_SKIP_TESTS_BUILD=1 scripts/setup.sh
[ -f out/base/final/model.safetensors ] || { echo "compare: no out/base/final; run scripts/quickstart.sh first" >&2; exit 1; }
base_eval=$($ptune -q eval --model out/base/final --data data/wordnet/instruct_eval.jsonl --format instruct --seq-len 128)

train() {  # $1 recipe, $2 output dir, rest: --set overrides
  local recipe=$1 dir=$2; shift 2
  if [ -d "$dir/final" ]; then echo "compare: $dir/final exists, reusing it" >&2; return; fi
  local sets=(--set output.dir="$dir")
  for s in "$@"; do sets+=(--set "$s"); done
  $ptune train --config "$recipe" "${sets[@]}" --resume-if-exists >/dev/null
}
# "total trainable" of a run's final model (+ adapter), from `ptune info`.
params() {
  local dir=$1
  if [ -f "$dir/final/adapter_config.json" ]; then $ptune -q info --model out/base/final --adapter "$dir/final"
  else $ptune -q info --model "$dir/final"; fi | awk '/^parameters:/{gsub(",","",$2); gsub(",","",$4); print $2, $4}'
}
# train seconds, mean train loss of the last 5 log lines, skipped steps, from metrics.jsonl
run_stats() {
  jq -s -r '[.[-1].elapsed_s, ([.[-5:][].loss] | add / length), (.[-1].skipped_steps // 0)] | @tsv' "$1/metrics.jsonl"
}
fmt() { jq -r '"\(.loss * 1000 | round / 1000) | \(.perplexity * 10 | round / 10) | \(.accuracy * 1000 | round / 1000)"'; }

methods() {
  train configs/full.yaml out/full
  [ -d out/lora/final ] || train configs/lora.yaml out/lora
  train configs/adapter.yaml out/adapter
  train configs/prefix.yaml out/prefix
  echo "| model | trainable params (as saved) | eval loss | perplexity | top-1 acc |"
  echo "|---|---:|---:|---:|---:|"
  echo "| base (no fine-tune) | 0 | $(echo "$base_eval" | fmt) |"
  for m in full lora adapter prefix; do
    local recipe=configs/$m.yaml dir=out/$m
    read -r total trainable <<<"$(params "$dir")"
    echo "| $m | $trainable of $total | $($ptune -q eval --config "$recipe" | fmt) |"
  done
}

precision() {
  train configs/bf16.yaml out/lora-fp32 precision.dtype=fp32
  train configs/bf16.yaml out/bf16
  train configs/fp16.yaml out/fp16
  # The same with the scale started too high (2^24): overflowing steps are skipped and the
  # scale backs off until it fits.
  train configs/fp16.yaml out/fp16-hi precision.loss_scale.init=16777216
  echo "| LoRA dtype | final train loss (mean of last 5 logs) | final eval loss (in the run's dtype) | eval top-1 acc | skipped steps | final loss scale |"
  echo "|---|---:|---:|---:|---:|---:|"
  for d in fp32 bf16 fp16 fp16-hi; do
    local dir=out/$d
    [ "$d" = fp32 ] && dir=out/lora-fp32
    read -r _ loss skipped <<<"$(run_stats "$dir")"
    local last
    last=$(jq -s -c '[.[] | select(.eval_loss)] | .[-1]' "$dir/metrics.jsonl")
    local label=$d
    [ "$d" = fp16-hi ] && label="fp16, scale from 2^24"
    echo "| $label | $(printf %.4f "$loss") | $(echo "$last" | jq -r '.eval_loss * 10000 | round / 10000') | $(echo "$last" | jq -r '.eval_accuracy * 1000 | round / 1000') | $skipped | $(echo "$last" | jq -r '.loss_scale // "-"') |"
  done
}

case "${1:-all}" in
  methods) methods ;;
  precision) precision ;;
  all) methods; echo; precision ;;
  *) echo "usage: scripts/compare.sh [methods|precision|all]" >&2; exit 2 ;;
esac
