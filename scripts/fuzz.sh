#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan into
# build-sanitize/ (PTUNE_FUZZ=ON, shared with scripts/sanitize.sh), checks every committed regression input, then fuzzes each target
# for SECONDS (default 60) on a copy of its seed corpus, JOBS targets at a time (default: the
# cores). Prints one JSON line per target: executions, coverage (edges, features), corpus size,
# CPU seconds, findings. Findings (crash, leak, timeout > 2 s, > 2 GB, UBSan report) are kept
# in out/fuzz/<target>/ and make the script exit 1; add each to tests/fuzz/regressions/<target>/
# with its fix.
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh 600 recipe jsonl
#   BUILD_DIR=build-asan scripts/fuzz.sh 30
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors checkpoint_index hf_config adapter_config mtp_config
                                recipe jsonl tokenizer_json sentencepiece)
build=${BUILD_DIR:-build-sanitize}
jobs=${JOBS:-$(nproc)}
command -v clang++ >/dev/null || PTUNE_SANITIZE_PACKAGES=1 scripts/setup.sh
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
    -DPTUNE_FUZZ=ON -DPTUNE_BUILD_TESTS=ON >/dev/null
fi
cmake --build "$build" --target $(printf 'fuzz_%s ' "${targets[@]}") >&2
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
status=0
# Committed regression inputs first: each must now end in a clear error or succeed.
for t in "${targets[@]}"; do
  dir=tests/fuzz/regressions/$t
  [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] || continue
  if ! "$build/bin/fuzz_$t" -timeout=2 -rss_limit_mb=2048 "$dir"/* >"$build/regress-$t.log" 2>&1; then
    echo "fuzz: regression input of $t fails again: $build/regress-$t.log" >&2
    status=1
  fi
done
run_one() {
  local t=$1 work=out/fuzz/$1
  mkdir -p "$work/corpus" "$work/findings"
  local dict="" rc=0
  case $t in
    safetensors) dict=-dict=tests/fuzz/safetensors.dict ;;
    recipe|sentencepiece) ;;
    *) dict=-dict=tests/fuzz/json.dict ;;
  esac
  TIMEFORMAT='%U %S'  # user + system seconds (ASan's allocator spends much of its time in the kernel)
  { time "$build/bin/fuzz_$t" -max_total_time="$seconds" -timeout=2 -rss_limit_mb=2048 \
      -max_len=8192 -print_final_stats=1 $dict -artifact_prefix="$work/findings/" \
      "$work/corpus" "tests/fuzz/corpus/$t" >"$work/log.txt" 2>&1 || rc=$?; } 2>"$work/cpu.txt"
  local execs cov ft corp findings
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log.txt" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/log.txt" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$work/log.txt" | tail -1 | cut -d' ' -f2)
  corp=$(ls "$work/corpus" | wc -l)
  findings=$(ls "$work/findings" | wc -l)
  printf '{"target": "%s", "seconds": %s, "cpu_s": %s, "executions": %s, "edges": %s, "features": %s, "corpus": %s, "findings": %s, "exit": %s}\n' \
    "$t" "$seconds" "$(tail -1 "$work/cpu.txt" | awk '{print $1 + $2}')" "${execs:-0}" "${cov:-0}" "${ft:-0}" "$corp" "$findings" "$rc"
  [ "$rc" = 0 ] && [ "$findings" = 0 ]
}
export -f run_one
export build seconds
if ! printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'; then status=1; fi
exit $status
