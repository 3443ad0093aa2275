#!/usr/bin/env bash
# Setup, then every test that needs no GPU (CTest tiers: unit, parity, recipe, cli).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# What the tests run besides ptune itself; setup.sh installs all of it. Checked here so that
# a missing piece is named once instead of failing the tests that need it.
missing=()
for mod in torch numpy sentencepiece jinja2; do
  /usr/bin/python3 -c "import $mod" 2>/dev/null || missing+=("python3 module '$mod'")
done
for cmd in jq; do
  command -v "$cmd" >/dev/null || missing+=("command '$cmd'")
done
if ((${#missing[@]})); then
  printf 'test.sh: missing prerequisites (scripts/setup.sh should have installed them):\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
# Tests run two at a time on few cores: OpenMP threads must not spin while they wait.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ctest --test-dir build --output-on-failure -j"$(nproc)" -LE gpu "$@"
# Once more on the path of a CPU without AVX-512 or native bf16, whatever this CPU is
# (PTUNE_CPU=avx2: bf16 GEMMs emulated with fp32 ones, ATen's AVX2 kernels, no oneDNN): the
# precision, attention and CPU-capability tests. Skipped when the caller picked tests.
if (($# == 0)); then
  echo "test.sh: precision and attention tests again with PTUNE_CPU=avx2" >&2
  PTUNE_CPU=avx2 ctest --test-dir build --output-on-failure -j"$(nproc)" -LE gpu \
    -R 'CausalAttention|Precision\.|RMSNormKernel|EmulatedGemm|FrozenCastLinear|ChunkedLmLoss|^Cpu\.|Bf16|Cli\.Bench|Cli\.Version|Cli\.DryRunShows'
fi
