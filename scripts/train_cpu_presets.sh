#!/usr/bin/env bash
# Train every -cpu preset on the full dev data, then evaluate each on its held-out test split
# next to the baselines. The figures in the README and the issue notes come from this script.
#   scripts/train_cpu_presets.sh [DATA_ROOT] [RUNS_DIR]
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs/cpu-presets}
BB=${BB:-bandbridge}
mkdir -p "$RUNS"
for p in rgb2nir-wgangp-cpu rgb2nir-pix2pix-cpu sar2optical-cpu rgb2thermal-cpu sr-x4-cpu; do
  $BB train --preset "$p" --data "$DATA" --runs "$RUNS" > "$RUNS/$p.train.log" 2>&1
  run=$(ls -d "$RUNS/$p"/*/ | tail -1)
  $BB evaluate --model "$run" --data "$DATA" --split test --out "$run/eval/test" > "$RUNS/$p.eval.log" 2>&1
done
