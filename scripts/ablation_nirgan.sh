#!/usr/bin/env bash
# Issue 5's ablation on Sentinel-2 RGB→NIR (rgb2nir-pix2pix-cpu as the pix2pix baseline):
# + index/EMD losses, + location prior, + multi-sensor (NAIP added, multi-scale crops),
# + sensor/GSD conditioning.
# Every model is scored on the same held-out S2 scenes.   scripts/ablation_nirgan.sh DATA RUNS
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs/ablation}
BB=${BB:-bandbridge}
LOSS=(--set loss.lambda_emd=100 --set loss.lambda_index=10)
PRIOR=(--set "model.generator.args.location={dim: 32}")
MULTI=(--set "data.sources=[s2_wildfire, s2_eolearn, s2_sen12mscr, s2_majortom, naip_opengeos]" --set "data.resample=[1, 2]")
COND=(--set "model.generator.args.conditioning={sensors: [Sentinel-2 L2A, Sentinel-2 L1C, NAIP]}")
run() {  # name, overrides...
  local name=$1; shift
  $BB train --preset rgb2nir-pix2pix-cpu --data "$DATA" --runs "$RUNS/$name" "$@" > "$RUNS/$name.log" 2>&1
  local r; r=$(ls -d "$RUNS/$name"/*/*/ | tail -1)
  $BB evaluate --model "$r" --data "$DATA" --recipe s2_wildfire --recipe s2_eolearn --recipe s2_majortom \
    --split test -o "$r/eval/s2test" >> "$RUNS/$name.log" 2>&1
}
mkdir -p "$RUNS"
run pix2pix
run losses "${LOSS[@]}"
run prior "${LOSS[@]}" "${PRIOR[@]}"
run multisensor "${LOSS[@]}" "${PRIOR[@]}" "${MULTI[@]}"
run conditioning "${LOSS[@]}" "${PRIOR[@]}" "${MULTI[@]}" "${COND[@]}"
