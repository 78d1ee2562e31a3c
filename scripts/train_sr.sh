#!/usr/bin/env bash
# The bundled super-resolution models: ×2 from scratch, then ×3 and ×4 fine-tuned from it (all but
# the upsampler carried over), the two in parallel on one core each. ~35 + ~95 min on a 2-core CPU.
#   scripts/train_sr.sh [DATA_ROOT] [RUNS_DIR]
# then: python scripts/bundle_models.py RUNS_DIR - sr-x2 sr-x3 sr-x4
set -euo pipefail
DATA=${1:-../shared/data}
RUNS=${2:-runs/sr}
BB=${BB:-bandbridge}
mkdir -p "$RUNS"
$BB train --preset sr-x2-cpu --data "$DATA" --runs "$RUNS" --set train.threads=1 > "$RUNS/sr-x2-cpu.log" 2>&1
x2=$(ls -d "$RUNS/sr-x2-cpu"/*/ | tail -1)
for s in 3 4; do
  $BB train --preset "sr-x$s-cpu" --data "$DATA" --runs "$RUNS" --set train.threads=1 \
    --init-from "$x2/model/best" > "$RUNS/sr-x$s-cpu.log" 2>&1 &
done
wait
