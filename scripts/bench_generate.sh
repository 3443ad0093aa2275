#!/usr/bin/env bash
# Generation benchmark: plain greedy KV-cache decoding vs MTP speculative decoding
# (--speculative mtp) at temperature 0 on the same prompts, with the MTP-trained quickstart
# model. Prints JSON lines: one per mode (tokens/s, forward passes, acceptance, mean accepted
# length) and a summary (speedup, identical output). Usage:
#   scripts/bench_generate.sh [MODEL_DIR (default out/mtp/final)] [N_PROMPTS (20)] [MAX_NEW (64)] [REPEATS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-out/mtp/final}
n=${2:-20}
max_new=${3:-64}
repeats=${4:-3}
ptune=${PTUNE:-build/bin/ptune}
threads=${PTUNE_THREADS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Prompts: the headword and part of speech of held-out WordNet entries, e.g. "lantern (noun):".
head -n "$n" data/wordnet/corpus_eval.txt | sed 's/^\([^)]*)\):.*/\1:/' >"$tmp/prompts.txt"
best() {  # best-of-$repeats tokens/s for one mode; keeps the last run's records
  local mode=$1 flag=$2
  for r in $(seq "$repeats"); do
    $ptune -q generate --model "$model" --format jsonl --temperature 0 --max-new-tokens "$max_new" \
      --threads "$threads" $flag <"$tmp/prompts.txt" >"$tmp/$mode.jsonl"
    # The last record is generate's summary of the run.
    tail -n 1 "$tmp/$mode.jsonl" | jq -c --arg mode "$mode" '{mode: $mode, prompts,
        tokens: .new_tokens, seconds, forward_passes, rounds: (.rounds // 0),
        drafted: (.drafted // 0), accepted: (.accepted // 0), acceptance: (.acceptance // 0),
        mean_accepted_length: (.mean_accepted_length // 1), tokens_per_s}' >"$tmp/$mode.$r.json"
  done
  jq -s -c 'max_by(.tokens_per_s)' "$tmp/$mode".*.json
}
greedy=$(best greedy "")
spec=$(best speculative "--speculative mtp")
echo "$greedy"
echo "$spec"
same=$(jq -s -r '[.[0][] | select(.summary | not) | .tokens] == [.[1][] | select(.summary | not) | .tokens]' <(jq -s . "$tmp/greedy.jsonl") <(jq -s . "$tmp/speculative.jsonl"))
jq -n -c --argjson g "$greedy" --argjson s "$spec" --argjson same "$same" --arg model "$model" \
  --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson threads "$threads" \
  '{bench: "generate", model: $model, threads: $threads, loadavg: $load,
    greedy_tokens_per_s: $g.tokens_per_s, speculative_tokens_per_s: $s.tokens_per_s,
    speedup: ($s.tokens_per_s / $g.tokens_per_s), mean_accepted_length: $s.mean_accepted_length,
    acceptance: $s.acceptance, identical_output: $same}'
