#!/usr/bin/env bash
# The README's fuzzing table from scripts/fuzz.sh's JSON lines (stdin), with the date, the CPU
# and the command they came from. Lines of one target (a campaign continued on its corpus
# after a fix) add up: CPU seconds, executions and findings summed, coverage and corpus of the
# last run.
#   JOBS=2 scripts/fuzz.sh 615 | scripts/fuzz_table.sh "JOBS=2 scripts/fuzz.sh 615"
set -euo pipefail
command=${1:-scripts/fuzz.sh}
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
grep -q avx512_bf16 /proc/cpuinfo && cpu="$cpu (AVX512-BF16)" || cpu="$cpu (AVX2)"
echo "\`$command\`, $(date -u +%Y-%m-%d), $cpu, $(nproc) cores, one target per core:"
echo
echo "| target | runs | CPU s | executions | edges | features | corpus | findings (fixed) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
grep '^{' | jq -s -r '
  (map(.target) | reduce .[] as $t ([]; if index([$t]) then . else . + [$t] end)) as $order
  | group_by(.target) | map({key: .[0].target, value: .}) | from_entries as $by
  | $order[] | $by[.] as $runs | $runs[-1] as $last
  | "| \(.) | \($runs | length) | \($runs | map(.cpu_s) | add | floor) | \($runs | map(.executions) | add) | \($last.edges) | \($last.features) | \($last.corpus) | \($runs | map(.findings) | add) |"'
