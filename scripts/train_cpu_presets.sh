#!/usr/bin/env bash
# Train every -cpu preset on the full dev data, then evaluate each on its held-out test split
# next to the baselines. The figures in the README and the model cards come from this script.
#   scripts/train_cpu_presets.sh [DATA_ROOT] [RUNS_DIR]
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs/cpu-presets}
BB=${BB:-bandbridge}
mkdir -p "$RUNS"
declare -A EXTRA=(
  [rgb2nir-wgangp-cpu]="data.sources=[naip_opengeos,{recipe: naip_stactools, split: {default: train}}]"
  [rgb2thermal-cpu]="train.threads=1"
  [rgb2nir-photo-cpu]="train.threads=1"
  [rgb2nir-pix2pix-cpu]="train.threads=1"
  [sar2optical-cpu]="train.threads=1"
)
for p in rgb2nir-pix2pix-cpu rgb2nir-wgangp-cpu rgb2thermal-cpu sar2optical-cpu rgb2nir-photo-cpu; do
  args=(--preset "$p" --data "$DATA" --runs "$RUNS")
  [[ -n "${EXTRA[$p]:-}" ]] && args+=(--set "${EXTRA[$p]}")
  $BB train "${args[@]}" > "$RUNS/$p.train.log" 2>&1
  run=$(ls -d "$RUNS/$p"/*/ | tail -1)
  $BB evaluate --model "$run" --data "$DATA" --split test --out "$run/eval/test" > "$RUNS/$p.eval.log" 2>&1
done
