#!/usr/bin/env bash
# The sanitizer stage: ptune's library and unit tests built with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer into build-sanitize/ (PTUNE_FUZZ=ON), the `unit` label run under
# them, then every fuzz target's committed regression inputs and FUZZ_SECONDS (default 30) of
# fuzzing each (scripts/fuzz.sh). About 9 minutes on 2 cores from a clean clone (AMD EPYC,
# 2026-12-04): 3.7 compiling the library and the unit tests, 1.6 running them, 0.4 linking the
# targets, 2.6 fuzzing two targets at a time. .ci/run runs it after scripts/test.sh.
# SentencePiece cannot load under ASan (its module needs RTLD_DEEPBIND): the tests that need it
# are skipped there, and fuzz_sentencepiece runs the module's code without LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
PTUNE_SANITIZE_PACKAGES=1 scripts/setup.sh
build=build-sanitize
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
    -DPTUNE_FUZZ=ON -DPTUNE_BUILD_TESTS=ON >/dev/null
fi
cmake --build "$build" --target test_unit
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  OMP_WAIT_POLICY=PASSIVE ctest --test-dir "$build" -L unit -j"$(nproc)" --output-on-failure
BUILD_DIR=$build scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
