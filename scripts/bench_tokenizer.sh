#!/usr/bin/env bash
# Tokenizer encode throughput on one thread, on the fixture corpus (~6 MB of real text, cut
# into chunks of whole lines; see scripts/tokenizer_fixtures.sh): each chunk encoded in turn
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
node tests/tokenizer_oracle/bench.js "$dir" "$repeats"

# ---- ptune's engine goes here: the same chunks (the corpus records of $dir/NAME.ids, with
# $dir/NAME.tokenizer.json), one thread, one JSON line per tokenizer in the same shape, e.g.
#   "${PTUNE:-build/bin/ptune}" tokenizer bench --fixtures "$dir" --threads 1 --repeats "$repeats"
# (no such command yet), then a summary line with ptune's mb_per_s / the npm library's.
