#!/usr/bin/env bash
# Idempotent setup: installs the Debian packages ptune needs (only those missing), then
# configures and builds Release into build/. The binary is build/bin/ptune.
#   PTUNE_SKIP_TESTS_BUILD=1  build the binary only
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp          # LibTorch; OpenBLAS, else GEMMs run ~30x slower
  libgloo-dev                               # c10d's Gloo headers (data-parallel training)
  libcli11-dev libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev
  libsentencepiece-dev libgtest-dev
  libpcre2-dev libicu-dev                   # tokenizer.json: Unicode regexes, NFC/NFKC
  python3-torch python3-numpy               # PyTorch reference for parity tests and bench
  python3-sentencepiece                     # SentencePiece reference for the tokenizer tests
  wordnet-base                              # the real data (WordNet 3.0)
  jq                                        # JSON in scripts (bench_generate.sh)
  libjs-chart.js                            # the charts of `ptune report`, inlined into the page
)
# The tests' own: headless Chromium renders the reports (the browser label); HF's tokenizers
# from npm is the tokenizer.json oracle, run on text these packages ship (WordNet aside):
# MIME names in ~60 languages, GnuPG's translated help, X11's Compose table (symbols, emoji).
if [ "${PTUNE_SKIP_TESTS_BUILD:-0}" != 1 ]; then
  packages+=(chromium shared-mime-info gnupg-l10n libx11-data libc6-dev python3-jinja2)
  command -v npm >/dev/null || packages+=(nodejs npm)
fi
# scripts/sanitize.sh and scripts/fuzz.sh: clang with libFuzzer and the sanitizer runtimes.
[ "${PTUNE_SANITIZE_PACKAGES:-0}" = 1 ] && packages+=(clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# LibTorch links libblas.so.3: make sure the alternative points at OpenBLAS.
blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/{print $2}')
case "$blas" in
  *openblas*) ;;
  *) echo "setup: warning: libblas.so.3 is '$blas', not OpenBLAS; GEMMs will be slow" >&2 ;;
esac

build_tests=ON
[ "${PTUNE_SKIP_TESTS_BUILD:-0}" = 1 ] && build_tests=OFF
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPTUNE_BUILD_TESTS=$build_tests >/dev/null
cmake --build build -j"$(nproc)"
# The tokenizer.json tests' reference ids (~60 MB, about a minute): made again only when the
# oracle's scripts changed.
fixtures=build/tokenizer-fixtures/manifest.json
if [ "$build_tests" = ON ] && { [ ! -f $fixtures ] ||
  [ -n "$(find tests/tokenizer_oracle -maxdepth 1 -type f -newer $fixtures)" ]; }; then
  scripts/tokenizer_fixtures.sh build/tokenizer-fixtures.tmp >/dev/null
  rm -rf build/tokenizer-fixtures && mv build/tokenizer-fixtures.tmp build/tokenizer-fixtures
fi
echo "setup: built build/bin/ptune" >&2
