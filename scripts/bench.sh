#!/usr/bin/env bash
# Benchmarks: ptune vs an eager PyTorch-Python reference of the same model and training
# step, same thread count. Prints JSON lines: one per implementation and run, then a
# comparison line per pair, then summaries (bf16 and fp16 vs fp32, LoRA vs full memory) and
# the generation benchmark (scripts/bench_generate.sh) when an MTP model is there.
# Numbers are measured on this machine, now: run it on an otherwise idle machine.
#   scripts/bench.sh            all shapes + generation     scripts/bench.sh a b    chosen shapes
#   STEPS=10 scripts/bench.sh   more timed steps (default 5, after 2 untimed)
#   REPEATS=9 scripts/bench.sh  best of more runs per implementation (default 5: this
#                               machine varies +-20% from run to run)
#   REF_MALLOC=same             PyTorch with ptune's malloc settings too (lib/ptune/core/
#                               malloc_config.h, as GLIBC_TUNABLES); default: as users run it
#   scripts/bench.sh p          precision only: shape b in fp32 and bf16, natively and on the
#                               AVX2 path (PTUNE_CPU=avx2: emulated bf16, ATen AVX2 kernels)
#   BENCH_MTP_MODELS="A B"      MTP models for the generation benchmark
#                               (default: out/mtp/final and out/mtp-sd/final, those that exist)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/ptune ] || PTUNE_SKIP_TESTS_BUILD=1 scripts/setup.sh
ptune=build/bin/ptune
py=/usr/bin/python3
threads=${THREADS:-$(nproc)}
# OpenBLAS 0.3.21 does not recognise the newest x86 cores and falls back to SSE3 kernels.
# ptune then picks SkylakeX (AVX-512) or Haswell (AVX2) itself (lib/ptune/core/blas.h); the
# PyTorch reference gets the same kernels through this variable (an explicit setting wins).
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
echo "bench: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<OpenBLAS default>}, $threads threads, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# The CPU, its flags and whether it computes bf16 natively, as ptune sees it (first line JSON).
$ptune --version | sed -n 's/^machine: //p' | jq -R -c '{cpu: .}'

ref_env=()
if [ "${REF_MALLOC:-}" = same ]; then
  ref_env=(env GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647)
  echo "bench: PyTorch runs with ${ref_env[1]}" >&2
fi
# name: shape flags
declare -A shapes=(
  [a]="--hidden 256 --intermediate 688 --layers 4 --heads 8 --vocab 4096 --seq 256 --batch 8"
  [b]="--hidden 512 --intermediate 1376 --layers 8 --heads 8 --vocab 8192 --seq 256 --batch 4"
  [c]="--hidden 1024 --intermediate 2752 --layers 8 --heads 16 --vocab 8192 --seq 128 --batch 2"
)
shapes[p]=${shapes[b]}
# shape: method:dtype runs on it (fp16 on CPU is an emulation for fidelity: no PyTorch reference).
# dtype@avx2: ptune with PTUNE_CPU=avx2, what an AVX2-only CPU runs (bf16 emulated with fp32
# GEMMs); no PyTorch reference (its bf16 GEMM there is the scalar loop ptune avoids).
declare -A runs=([a]="full:fp32" [b]="full:fp32 lora:fp32 full:bf16 full:fp16 full:fp32@avx2 full:bf16@avx2"
                 [c]="full:fp32 lora:fp32" [p]="full:fp32 full:bf16 full:fp32@avx2 full:bf16@avx2")

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
all=0
[ ${#selected[@]} -eq 0 ] && selected=(a b c) && all=1
for s in "${selected[@]}"; do
  [ -n "${shapes[$s]:-}" ] || { echo "bench: unknown shape '$s' (a, b, c, p)" >&2; exit 2; }
done
results=$(mktemp)
trap 'rm -f "$results"' EXIT
best() {  # the faster of two JSON lines (the second may be empty)
  if [ -z "$2" ]; then echo "$1"; else printf '%s\n%s\n' "$1" "$2" | jq -s -c 'max_by(.tokens_per_s)'; fi
}
for s in "${selected[@]}"; do
  for run in ${runs[$s]}; do
    m=${run%:*} dt=${run#*:} path=native
    case "$dt" in *@avx2) dt=${dt%@avx2} path=avx2 ;; esac
    flags="${shapes[$s]} --method $m --threads $threads --steps ${STEPS:-5} --warmup 2"
    no_ref=0
    { [ "$dt" = fp16 ] || [ "$path" = avx2 ]; } && no_ref=1
    penv=(env)
    [ "$path" = avx2 ] && penv=(env PTUNE_CPU=avx2)
    # Best of REPEATS runs, ptune and PyTorch alternating, so that both see the same machine.
    p="" r=""
    for _ in $(seq "${REPEATS:-5}"); do
      p=$(best "$("${penv[@]}" $ptune --quiet bench $flags --dtype "$dt" | jq -c --arg path "$path" '. + {path: $path}')" "$p")
      [ "$no_ref" = 1 ] || r=$(best "$("${ref_env[@]}" $py scripts/bench_ref.py $flags --dtype "$dt")" "$r")
    done
    echo "$p" | tee -a "$results"
    [ "$no_ref" = 1 ] && continue
    echo "$r" | tee -a "$results"
    compare "$p" "$r" "shape $s $m $dt"
  done
done

# Summaries over what ran: lower precision vs fp32, LoRA vs full memory.
$py - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def find(impl, hidden, method, dtype, path="native"):
    return next((r for r in rows if r["impl"] == impl and r["hidden"] == hidden
                 and r["method"] == method and r["dtype"] == dtype
                 and r.get("path", "native") == path), None)
for hidden in sorted({r["hidden"] for r in rows}):
    base = find("ptune", hidden, "full", "fp32")
    # bf16 against fp32 on the same path: the CPU's own kernels, and the AVX2-only path.
    for dt, path in (("bf16", "native"), ("fp16", "native"), ("bf16", "avx2")):
        ref, low = find("ptune", hidden, "full", "fp32", path), find("ptune", hidden, "full", dt, path)
        if ref and low:
            label = f"hidden {hidden} full {dt} vs fp32" + (" (PTUNE_CPU=avx2)" if path == "avx2" else "")
            print(json.dumps({"summary": label, "bf16": low.get("bf16") if dt == "bf16" else None,
                              "cpu": low.get("cpu"), "cpu_flags": low.get("cpu_flags"),
                              "threads": low.get("threads"),
                              "tokens_per_s_ratio": round(low["tokens_per_s"] / ref["tokens_per_s"], 3),
                              "tokens_per_s": round(low["tokens_per_s"], 1),
                              "fp32_tokens_per_s": round(ref["tokens_per_s"], 1),
                              "peak_rss_mb": round(low["peak_rss_mb"], 1),
                              "fp32_peak_rss_mb": round(ref["peak_rss_mb"], 1)}))
    lora, lora_ref = find("ptune", hidden, "lora", "fp32"), find("pytorch", hidden, "lora", "fp32")
    if base and lora:
        out = {"summary": f"hidden {hidden} lora vs full (fp32)",
               "lora_rss_over_full": round(lora["peak_rss_mb"] / base["peak_rss_mb"], 3)}
        if lora_ref:
            out["lora_rss_over_pytorch_lora"] = round(lora["peak_rss_mb"] / lora_ref["peak_rss_mb"], 3)
            out["lora_speed_over_pytorch_lora"] = round(lora["tokens_per_s"] / lora_ref["tokens_per_s"], 3)
        print(json.dumps(out))
PY

# Generation: greedy vs MTP speculative decoding, for each MTP model that is there: heads
# trained on the corpus (configs/mtp.yaml -> out/mtp) and self-distilled heads
# (scripts/mtp_self_distill.sh -> out/mtp-sd). See docs/mtp.md.
if [ "$all" = 1 ]; then
  found=0
  for model in ${BENCH_MTP_MODELS:-out/mtp/final out/mtp-sd/final}; do
    [ -f "$model/mtp_heads.safetensors" ] || continue
    found=1
    PTUNE_THREADS=${PTUNE_THREADS:-1} scripts/bench_generate.sh "$model" | tail -n 1
  done
  [ "$found" = 1 ] || echo "bench: no MTP model (out/mtp/final, out/mtp-sd/final; see docs/mtp.md); skipping generation" >&2
fi
