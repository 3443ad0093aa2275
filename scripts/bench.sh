#!/usr/bin/env bash
# Benchmarks: ptune vs an eager PyTorch-Python reference of the same model and training
# step, same thread count. Prints JSON lines: one per implementation and run, then a
# comparison line per pair. Numbers are measured on this machine, now.
#   scripts/bench.sh            all shapes      scripts/bench.sh a b     chosen shapes
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/ptune ] || PTUNE_SKIP_TESTS_BUILD=1 scripts/setup.sh
ptune=build/bin/ptune
py=/usr/bin/python3
threads=${THREADS:-$(nproc)}

# name: shape flags
declare -A shapes=(
  [a]="--hidden 256 --intermediate 688 --layers 4 --heads 8 --vocab 4096 --seq 256 --batch 8"
  [b]="--hidden 512 --intermediate 1376 --layers 8 --heads 8 --vocab 8192 --seq 256 --batch 4"
  [c]="--hidden 1024 --intermediate 2752 --layers 8 --heads 16 --vocab 8192 --seq 128 --batch 2"
)
# shape: methods (and dtypes) run on it
declare -A runs=([a]="full" [b]="full lora" [c]="full lora")

compare() {  # $1 = ptune json, $2 = reference json, $3 = label
  $py - "$1" "$2" "$3" <<'PY'
import json, sys
p, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"compare": sys.argv[3], "ptune_tokens_per_s": round(p["tokens_per_s"], 1),
                  "pytorch_tokens_per_s": round(r["tokens_per_s"], 1),
                  "speed_ratio": round(p["tokens_per_s"] / r["tokens_per_s"], 3),
                  "ptune_peak_rss_mb": round(p["peak_rss_mb"], 1),
                  "pytorch_peak_rss_mb": round(r["peak_rss_mb"], 1),
                  "rss_ratio": round(p["peak_rss_mb"] / r["peak_rss_mb"], 3)}))
PY
}

selected=("$@")
[ ${#selected[@]} -eq 0 ] && selected=(a b c)
for s in "${selected[@]}"; do
  for m in ${runs[$s]}; do
    flags="${shapes[$s]} --method $m --threads $threads --steps ${STEPS:-5} --warmup 2"
    p=$($ptune --quiet bench $flags)
    echo "$p"
    r=$($py scripts/bench_ref.py $flags)
    echo "$r"
    compare "$p" "$r" "shape $s $m"
  done
done
