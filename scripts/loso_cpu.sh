#!/usr/bin/env bash
# Leave-one-source-out with the -cpu presets: the estimate of what imagery from elsewhere gets.
#   scripts/loso_cpu.sh [DATA_ROOT] [OUT_DIR]
# Every fold trains 6 epochs on one core (6–15 min each on a quiet core; 22 folds in all).
# The records the README and the model cards show are kept in docs/loso/<family>/ (folds run
# apart are joined with scripts/loso_merge.py; python scripts/bundle_models.py --loso-only docs/loso
# puts them into the cards).
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-runs/loso}
BB=${BB:-bandbridge}
SETS="--set train.max_epochs=6 --set train.threads=1"
# Reflectance RGB→NIR: one fold per source (Sentinel-2 L1C and L2A, Landsat-8 TOA, MODIS NBAR,
# WorldCereal, ARCSI Wales and Tanzania, BigEarthNet) ...
$BB loso --preset rgb2nir-pix2pix-cpu --data "$DATA" -o "$OUT/rgb2nir-s2" $SETS \
  --recipes s2_wildfire,s2_eolearn,s2_sen12mscr,s2_majortom,s2_riotilerpds,landsat8_toa,modis_nbar,worldcereal_s2,s2_rsgislib_wales,s2_rsgislib_tanzania,s2_bigearthnet
# ... and across processing levels: surface reflectance (L2A) → top of atmosphere (L1C), and back.
$BB loso --preset rgb2nir-pix2pix-cpu --data "$DATA" -o "$OUT/rgb2nir-s2-levels" $SETS --recipes s2_wildfire \
  --fold 'l2a->l1c=s2_wildfire,s2_majortom,s2_riotilerpds,worldcereal_s2>s2_eolearn,s2_sen12mscr' \
  --fold 'l1c->l2a=s2_eolearn,s2_sen12mscr>s2_wildfire,s2_majortom,s2_riotilerpds'
# SAR→optical: SEN12MS-CR, WorldCereal S1/S2 pairs, Sen1Floods11, BigEarthNet S1/S2.
$BB loso --preset sar2optical-cpu --data "$DATA" -o "$OUT/sar2optical" $SETS \
  --recipes sen12mscr,worldcereal_s1s2,sen1floods11,bigearthnet_s1s2
# RGB→thermal: day (RoadScene, FLIR ADAS) ↔ night (TNO, gray image intensifier → LWIR).
$BB loso --preset rgb2thermal-cpu --data "$DATA" -o "$OUT/rgb2thermal" $SETS --recipes roadscene,tno
# 8-bit RGB→NIR: NAIP → very-high-resolution satellites (GeoEye-1, IKONOS, WorldView; raw DN) and
# → ground-camera photos (EPFL).
$BB loso --preset rgb2nir-wgangp-cpu --data "$DATA" -o "$OUT/rgb2nir-naip-vhr" $SETS \
  --recipes naip_opengeos --fold 'geoeye1=naip_opengeos,naip_stactools>vhr_geoeye1' \
  --fold 'vhr_11bit=naip_opengeos,naip_stactools>vhr_11bit' \
  --fold 'epfl_photos=naip_opengeos,naip_stactools>epfl_photos'
