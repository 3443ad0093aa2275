#!/usr/bin/env bash
# A methods comparison to look at: a tiny base pretrained on the WordNet glosses
# (configs/tiny_full.yaml), then full, LoRA, bottleneck-adapter and prefix fine-tunes of it
# (configs/tiny_lora.yaml with method.type changed), one `ptune report` of the four, and with
# Chromium a screenshot of it: docs/report.png. A minute or two on 2 cores.
#   DEMO_DIR=DIR   where the runs go (default out/report-demo; finished runs are reused)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/ptune ] || PTUNE_SKIP_TESTS_BUILD=1 scripts/setup.sh
ptune=build/bin/ptune
d=${DEMO_DIR:-out/report-demo}
mkdir -p "$d"
common=(--set tokenizer.path="$d/tok.model" --resume-if-exists)
[ -d "$d/base/final" ] || $ptune -q train --config configs/tiny_full.yaml "${common[@]}" \
  --set output.dir="$d/base" --set train.steps=200 --set train.eval_every=50 >/dev/null
# method:learning rate (the small methods take larger steps)
for run in full:1.0e-3 lora:3.0e-3 adapter:3.0e-3 prefix:1.0e-2; do
  m=${run%:*} lr=${run#*:}
  [ -d "$d/$m/final" ] || $ptune -q train --config configs/tiny_lora.yaml "${common[@]}" \
    --set model.path="$d/base/final" --set method.type="$m" --set optim.lr="$lr" \
    --set output.dir="$d/$m" --set output.export= --set train.steps=100 \
    --set train.eval_every=20 --set train.eval_batches=8 --set train.log_every=2 >/dev/null
done
$ptune -q report "$d/full" "$d/lora" "$d/adapter" "$d/prefix" -o "$d/report.html"
echo "report_demo: $d/report.html" >&2
if command -v chromium >/dev/null; then
  chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
    --window-size=1400,2000 --virtual-time-budget=10000 --screenshot=docs/report.png \
    "file://$PWD/$d/report.html" 2>/dev/null
  echo "report_demo: docs/report.png" >&2
fi
