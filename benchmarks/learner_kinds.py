"""Speed and memory of each learner kind a bundle may be, beside the network it replaces.

Each kind is fitted on the top half of the bundled NAIP date (as `bandbridge adapt` would), saved
as a bundle, and run through `bandbridge bench`'s tiled row in its own process (the predictor, torch fp32 —
the backend every kind runs on —, a real-sized NAIP mosaic): MPix/s and peak RSS; the shipped `rgb2nir-naip` (an anchored
U-Net whose residual is off) and its anchor as a learner (the same output without the network)
run beside them. Ratios are within this one run.

    python benchmarks/learner_kinds.py [--data ../shared/data] [--side 4096] [--json docs/results/learner_kinds.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from bandbridge.bench import row_in_subprocess
from bandbridge.bundle import load_bundle, save_bundle
from bandbridge.learners.registry import candidates
from bandbridge.learners.folds import gather
from bandbridge.mosaics import mosaic
from bandbridge.spec import zoo_models
from bandbridge.workflows.best import learner_config

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "nir_naip_opengeos" / \
    "m_4709963_se_14_1_20200831.tif"
KINDS = ("linear", "ridge-context λ=0.0001", "mlp-context", "gbm-bands", "gbm-context")


def bundles(out: Path) -> dict[str, Path]:
    """The learner bundles to measure, fitted on the sample's top half, and the shipped model."""
    with rasterio.open(SAMPLE) as src:
        a = torch.from_numpy(src.read().astype(np.float32) / 255)
    x, y = a[:3, :128], a[3:, :128]
    px, _ = gather([(x, y, torch.ones(x.shape[1:], dtype=torch.bool))], ["one"])
    zoo = zoo_models()
    found = {"rgb2thermal as shipped (a U-Net: the network kind)": zoo["rgb2thermal"],
             "rgb2nir-naip as shipped (blend: MLP + ridge + LightGBM)": zoo["rgb2nir-naip"]}
    cfg = load_bundle(zoo["rgb2nir-naip"]).config
    named = {c.name: c for c in candidates()}
    for kind in KINDS:
        fitted = named[kind].fit(px.X, px.Y, 3)
        found[kind] = save_bundle(out / kind.split(" ")[0], fitted.module(3, 1),
                                  learner_config(cfg, fitted.generator()), 3, 1)
    return found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--json")
    a = ap.parse_args()
    raster = mosaic(a.data, "naip", a.side)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in bundles(Path(tmp)).items():
            t0 = time.time()
            # one `bandbridge bench` tiled row each, in its own process (its peak RSS is its own),
            # torch fp32: the backend every kind runs on (OpenVINO cannot run trees)
            r = row_in_subprocess({"kind": "tiled", "model": str(folder), "raster": str(raster),
                                "backend": "torch", "precision": "fp32"})
            rows.append({"learner": name, "backend": f"{r['backend']} {r['precision']}",
                         "mpix_per_s": r["mpix_s"], "peak_rss_mb": r["rss_mb"],
                         "raster": f"{a.side}² NAIP mosaic", "seconds": round(time.time() - t0)})
            print(rows[-1], flush=True)
    ref = rows[0]["mpix_per_s"]
    for r in rows:
        r["vs_shipped"] = r["mpix_per_s"] / ref if ref else None
    print("| bundle | backend | MPix/s | × the network | peak RSS (MB) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['learner']} | {r['backend']} | {r['mpix_per_s']:.3g} | {r['vs_shipped']:.2f} | "
              f"{r['peak_rss_mb']:.0f} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"command": "python benchmarks/learner_kinds.py "
                                            f"--side {a.side}", "measured": time.strftime("%Y-%m-%d"),
                                            "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
