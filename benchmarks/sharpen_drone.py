"""Issue 76's drone case on a stand-in: a camera's RGB as the guides, its NIR averaged f × f as the
reference, `bandbridge sharpen` against nearest, bilinear, cubic convolution, cubic B-spline and Lanczos
upsampling of that reference.

    OMP_NUM_THREADS=1 nice python benchmarks/sharpen_drone.py --data ../shared/data --json docs/results/sharpen_drone.json

No drone capture is in the development data. The stand-in is `nir_epfl_rgbnir_photos`: 76 ground
photos of the EPFL RGB-NIR scene set (one camera pair, RGB and NIR aligned by affine, JPEG, downscaled
×2: about 512 × 340 px). Each photo is cut to whole cells of the largest factor; the RGB (8-bit DN) is
the guides, the NIR averaged by each factor the reference, the NIR itself the truth: 10 and 40 as the
issue's case (about 1 500 and 100 cells here, where its capture had 10 148 and 609), and 4, where these
photos hold about as many cells as its capture at 10 (some 9 600: the fit is tried). Per photo and in
total: RMSE and MAE (DN) of the output and of the five upsamplings, and the route each run took.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from affine import Affine

from bandbridge.data.grids import GDAL_NAMES, Grid, block_mean, upsample_onto
from bandbridge.evaluation.sharpen_cases import Case
from bandbridge.evaluation.sharpen_record import bandbridge_sharpener, code_state, save
UPSAMPLERS = tuple(GDAL_NAMES)  # every upsampling a user can run: the baselines, not only the routes' candidates
STAND_IN = ("a stand-in: nir_epfl_rgbnir_photos are ground photos (one RGB/NIR camera pair aligned by affine, "
            "JPEG, downscaled ×2), not a drone capture; issue 76's case (a 5-band drone camera, 10 148 cells at "
            "10 × 10) is not in the development data")


def photo(folder: Path, name: str, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """``(RGB (3, H, W), NIR (1, H, W))`` float32 DN of one photo, cut to whole ``cut`` × ``cut`` cells."""
    from PIL import Image
    rgb = np.asarray(Image.open(folder / "rgb" / name).convert("RGB"), np.float32).transpose(2, 0, 1)
    nir = np.asarray(Image.open(folder / "nir" / name).convert("L"), np.float32)[None]
    h, w = min(rgb.shape[1], nir.shape[1]) // cut * cut, min(rgb.shape[2], nir.shape[2]) // cut * cut
    return rgb[:, :h, :w], nir[:, :h, :w]


def errors(pred: np.ndarray, truth: np.ndarray) -> dict:
    d = pred.astype(np.float64) - truth
    return {"rmse": float(np.sqrt(np.mean(d ** 2))), "mae": float(np.mean(np.abs(d))), "sse": float(np.sum(d ** 2)),
            "sae": float(np.sum(np.abs(d))), "n": int(d.size)}


def one(run, name: str, rgb: np.ndarray, nir: np.ndarray, f: int) -> dict:
    """One photo at factor ``f``: the sharpener's output and the five upsamplings, scored."""
    fine = Grid(None, Affine.identity(), rgb.shape[1], rgb.shape[2])
    ref = block_mean(nir, f)[0]
    case = Case(f"{Path(name).stem} x{f}", name, "drone stand-in", f, rgb, ["red", "green", "blue"], ref, nir,
                ["nir"], "DN", fine)
    t0 = time.process_time()
    out, said = run(case)
    row = {"photo": name, "factor": f, "cells": int(ref.shape[1] * ref.shape[2]), "cpu_s": round(time.process_time() - t0, 2),
           "route": said["routes"][0] if said["routes"] else "", "why": said["why"][0] if said["why"] else "",
           "bandbridge": errors(out, nir)}
    for m in UPSAMPLERS:
        row[m] = errors(upsample_onto(ref, fine.coarser(f), fine, m), nir)
    best = min(UPSAMPLERS, key=lambda m: row[m]["rmse"])
    row["best_upsampling"] = best
    row["rmse_vs_best"] = round(row["bandbridge"]["rmse"] / row[best]["rmse"], 4)
    row["mae_vs_best"] = round(row["bandbridge"]["mae"] / min(row[m]["mae"] for m in UPSAMPLERS), 4)
    return row


def total(rows: list[dict]) -> dict:
    """Pooled over every photo's pixels: RMSE and MAE of each method; how many photos the output is
    worse than the best of the five upsamplings on (RMSE), by how much at most; the routes taken."""
    out = {"photos": len(rows)}
    for m in ("bandbridge", *UPSAMPLERS):
        n = sum(r[m]["n"] for r in rows)
        out[m] = {"rmse": float(np.sqrt(sum(r[m]["sse"] for r in rows) / n)), "mae": sum(r[m]["sae"] for r in rows) / n}
    best = min(UPSAMPLERS, key=lambda m: out[m]["rmse"])
    out["best_upsampling"] = best
    out["rmse_vs_best"] = round(out["bandbridge"]["rmse"] / out[best]["rmse"], 4)
    out["mae_vs_best"] = round(out["bandbridge"]["mae"] / min(out[m]["mae"] for m in UPSAMPLERS), 4)
    out["photos_worse_than_their_best_upsampling"] = sum(r["rmse_vs_best"] > 1 for r in rows)
    out["worst_rmse_vs_best"] = max(r["rmse_vs_best"] for r in rows)
    routes: dict[str, int] = {}
    for r in rows:
        routes[r["route"]] = routes.get(r["route"], 0) + 1
    out["routes"] = routes
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--json", default="docs/results/sharpen_drone.json", help="where the record goes")
    ap.add_argument("--factors", default="4,10,40", help="the reference's pixel over the guides', comma-separated")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (0: all)")
    a = ap.parse_args()
    folder = Path(a.data) / "nir_epfl_rgbnir_photos"
    if not (folder / "groups.csv").exists():
        sys.exit(f"--data {a.data}: no nir_epfl_rgbnir_photos/groups.csv under it; give the development data folder")
    factors = [int(v) for v in a.factors.split(",")]
    with open(folder / "groups.csv", newline="") as fh:
        names = [r["file"] for r in csv.DictReader(fh)]
    names = names[:a.limit] if a.limit else names
    rows: dict[int, list[dict]] = {f: [] for f in factors}
    with tempfile.TemporaryDirectory(prefix="sharpen_drone_") as work:
        run, what = bandbridge_sharpener(Path(work))
        if run is None:
            sys.exit(f"bandbridge sharpen: {what}")
        for name in names:
            rgb, nir = photo(folder, name, max(factors))
            for f in factors:
                r = one(run, name, rgb, nir, f)
                rows[f].append(r)
                print(f"{name} ×{f}: {r['route']} RMSE {r['bandbridge']['rmse']:.2f} against {r['best_upsampling']} "
                      f"{r[r['best_upsampling']]['rmse']:.2f} ({r['rmse_vs_best']:.3f})", flush=True)
    record = {"command": "OMP_NUM_THREADS=1 nice python " + " ".join(["benchmarks/sharpen_drone.py", *sys.argv[1:]]),
              "code": code_state(), "machine": f"{platform.machine()} {platform.node()}", "stand_in": STAND_IN,
              "protocol": "per photo: the RGB (8-bit DN) the guides at full resolution, the NIR averaged f × f the "
                          "reference, the NIR the truth; the photo cut to whole cells of the largest factor",
              "metrics": "RMSE and MAE in DN against the NIR; rmse_vs_best: the output's RMSE over the best of "
                         "nearest, bilinear, cubic convolution, cubic B-spline and Lanczos upsampling of the reference; total: pooled over every "
                         "photo's pixels; cpu_s: CPU time of this process for the run",
              "factors": {str(f): {"total": total(rs), "photos": rs} for f, rs in rows.items()}}
    for f, rs in rows.items():
        t = total(rs)
        print(f"×{f}: {t['photos']} photos, RMSE {t['bandbridge']['rmse']:.3f} against {t['best_upsampling']} "
              f"{t[t['best_upsampling']]['rmse']:.3f} ({t['rmse_vs_best']:.3f}); worse on "
              f"{t['photos_worse_than_their_best_upsampling']} (at most {t['worst_rmse_vs_best']:.3f}); routes {t['routes']}")
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
