#!/usr/bin/env bash
# Train every -cpu preset on the full dev data, then evaluate each on its held-out test split
# next to the baselines. The figures in the README and the model cards come from this script.
#   scripts/train_cpu_presets.sh [DATA_ROOT] [RUNS_DIR]
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs/cpu-presets}
BB=${BB:-bandbridge}
mkdir -p "$RUNS"
# Every run on one core (train.threads=1), so two train side by side on a 2-core CPU.
declare -A EXTRA=(
  # NAIP: two of naip_stactools' six places validate beside the 2018 date (the worst one decides)
  [rgb2nir-wgangp-cpu]="data.sources=[naip_opengeos,{recipe: naip_stactools, split: {val: [m_3211605, m_3907864], default: train}}]"
)
for p in rgb2nir-pix2pix-cpu rgb2nir-wgangp-cpu rgb2thermal-cpu sar2optical-cpu rgb2nir-photo-cpu; do
  args=(--preset "$p" --data "$DATA" --runs "$RUNS" --set train.threads=1)
  [[ -n "${EXTRA[$p]:-}" ]] && args+=(--set "${EXTRA[$p]}")
  $BB train "${args[@]}" > "$RUNS/$p.train.log" 2>&1
  run=$(ls -d "$RUNS/$p"/*/ | tail -1)
  $BB evaluate --model "$run" --data "$DATA" --split test -o "$run/eval/test" > "$RUNS/$p.eval.log" 2>&1
done
