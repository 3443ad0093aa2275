#!/usr/bin/env bash
# Setup, then every test that needs no GPU (CTest tiers: unit, parity, recipe, cli).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" -LE gpu "$@"
