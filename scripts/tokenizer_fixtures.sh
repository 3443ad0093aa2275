#!/usr/bin/env bash
# Reference fixtures for ptune's tokenizer.json engine: trains four small tokenizers (Llama-3,
# GPT-2, Qwen2 and Llama-2/SentencePiece shaped) with Hugging Face's tokenizers from npm (the
# version pinned in tests/tokenizer_oracle/package-lock.json; a test oracle, never a run-time
# dependency) and writes their ids for ~6 MB of real text Debian ships. Files and the .ids
# format: tests/tokenizer_oracle/make_fixtures.js. Deterministic; rerunning rewrites OUT_DIR.
#   scripts/tokenizer_fixtures.sh OUT_DIR        needs node and npm (Debian: nodejs npm)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/tokenizer_fixtures.sh OUT_DIR" >&2; exit 2; }
for tool in node npm; do
  command -v "$tool" >/dev/null || {
    echo "tokenizer_fixtures: '$tool' not found; install it (Debian: apt-get install nodejs npm)" >&2
    exit 1
  }
done
out=$(realpath -m "$1")
cd "$(dirname "$0")/.."
oracle=tests/tokenizer_oracle
if [ ! -d "$oracle/node_modules/tokenizers" ]; then
  echo "tokenizer_fixtures: npm ci in $oracle (from package-lock.json)" >&2
  (cd "$oracle" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) >&2
fi
mkdir -p "$out"
# The library's trainer prints empty progress lines on stdout; drop them.
RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2} node "$oracle/make_fixtures.js" "$out" | sed '/^$/d'
find "$out" -maxdepth 1 -type f -printf "%12s bytes  %p\n" | sort -k3
