#!/usr/bin/env bash
# Tokenizer encode throughput on one thread, ptune next to HF tokenizers (npm), on the fixture
# corpus (~6 MB of real text, cut into chunks of whole lines; see scripts/tokenizer_fixtures.sh):
# each chunk encoded in turn
# without special tokens, file reading excluded, best of REPEATS. Prints JSON lines: the CPU,
# then one per (engine, tokenizer) {tokenizer, engine, bytes, tokens, seconds, mb_per_s, ...}.
#   scripts/bench_tokenizer.sh [FIXTURE_DIR (out/tokenizer_fixtures, made if missing)] [REPEATS (3)]
set -euo pipefail
dir=$(realpath -m "${1:-out/tokenizer_fixtures}")
repeats=${2:-3}
cd "$(dirname "$0")/.."
[ -f "$dir/manifest.json" ] || scripts/tokenizer_fixtures.sh "$dir" >&2
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
node -e 'console.log(JSON.stringify({cpu: process.argv[1], threads: 1, nproc: +process.argv[2]}))' "$cpu" "$(nproc)"

# Hugging Face's tokenizers (npm), a sequential `await encode(chunk)` per chunk.
node tests/tokenizer_oracle/bench.js "$dir" "$repeats" --batch

# ptune's engine on the same text (corpus.txt: the chunks concatenated), encoded line by line
# (more, shorter calls than the chunks above: if anything, a handicap), then the ratio.
ptune=${PTUNE:-build/bin/ptune}
[ -x "$ptune" ] || PTUNE_SKIP_TESTS_BUILD=1 scripts/setup.sh
for name in llama3 gpt2 qwen2 spm; do
  "$ptune" -q tokenizer bench -m "$dir/$name.tokenizer.json" -i "$dir/corpus.txt" \
    --repeats "$repeats" | jq -c --arg n "$name" '. + {tokenizer: $n}'
done
