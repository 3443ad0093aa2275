#!/usr/bin/env bash
# Medusa-style self-distillation data for MTP heads: the base model's own greedy
# continuations of WordNet headword prompts ("lantern (noun):"), so the heads learn to
# predict what the base model will say (what speculative decoding needs) rather than the
# corpus. Then trains heads only (configs/mtp.yaml) on that text into out/mtp-sd.
#   scripts/mtp_self_distill.sh [BASE_DIR (out/base/final)] [N_PROMPTS (600)] [STEPS (60)]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-out/base/final}
n=${2:-600}
steps=${3:-60}
ptune=${PTUNE:-build/bin/ptune}
dir=out/mtp-distill
mkdir -p "$dir"
# Every third training entry's headword (eval entries stay unseen).
# (awk reads to the end: `head` would close the pipe early and fail it under pipefail)
sed -n '1~3p' data/wordnet/corpus_train.txt | sed 's/^\([^)]*)\):.*/\1:/' | awk -v n="$n" 'NR <= n' >"$dir/prompts.txt"
$ptune -q generate --model "$base" --max-new-tokens 48 <"$dir/prompts.txt" >"$dir/completions.txt"
paste -d' ' "$dir/prompts.txt" "$dir/completions.txt" >"$dir/corpus.txt"
$ptune train --config configs/mtp.yaml --set model.path="$base" --set data.train.path="$dir/corpus.txt" \
  --set output.dir=out/mtp-sd --set train.steps="$steps"
