#!/usr/bin/env bash
# Setup, then every test that needs no GPU (CTest tiers: unit, parity, recipe, cli).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Tests run two at a time on few cores: OpenMP threads must not spin while they wait.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ctest --test-dir build --output-on-failure -j"$(nproc)" -LE gpu "$@"
