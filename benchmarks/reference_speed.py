"""`predict --reference` against plain `predict` on the same 8192² aerial image: wall time and peak
resident memory of each, in one run (issue 57's budget: the reference run within 2× the plain one,
its peak within the memory plan).

    python benchmarks/reference_speed.py --data ../shared/data [-m rgb2nir] [--size 8192] [--json docs/results/reference/speed.json]

The image is ``bandbridge bench``'s NAIP mosaic (real scenes tiled, 5 m pixels taken for 0.6 m, as
an aerial image is); the reference a 10980² Sentinel-2-sized uint16 raster at 10 m (k ≈ 16.7) over
it: the mosaic's own NIR averaged onto that grid, ×100, scale tag 0.01, the rest of the tile a
plain field. Each run is its own ``bandbridge predict`` process; its peak is the kernel's
(``wait4``'s ``ru_maxrss``). Compare ratios from one run, on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PLAN = 1.5e9  # bytes: predict's memory plan (policy.PEAK_BUDGET)


def make_inputs(data: str, size: int, folder: Path) -> tuple[Path, Path]:
    """The aerial image (the mosaic, RGB + NIR; predict reads its RGB) on a 0.6 m grid, and the
    10980² reference at 10 m around it."""
    import rasterio
    from affine import Affine

    from bandbridge.data.grids import Grid, average_onto
    from bandbridge.mosaics import mosaic
    src = mosaic(data, "naip", size)
    aerial = folder / f"aerial_{size}_20200831.tif"
    with rasterio.open(src) as s:
        prof = s.profile
        x0, y0 = s.transform.c, s.transform.f
        nir = s.read(4).astype(np.float32)
    fine_tr = Affine(0.6, 0, x0, 0, -0.6, y0)
    prof.update(transform=fine_tr, count=3)
    with rasterio.open(src) as s, rasterio.open(aerial, "w", **prof) as o:
        for _, win in s.block_windows(1):
            o.write(s.read([1, 2, 3], window=win), window=win)
    fine = Grid(prof["crs"], fine_tr, size, size)
    n = 10980
    ref_tr = Affine(10, 0, x0 - 10 * (n // 2) + 0.3 * size, 0, -10, y0 + 10 * (n // 2) - 0.3 * size)
    grid = Grid(prof["crs"], ref_tr, n, n)
    left, top = ~ref_tr * (x0, y0)
    r0, c0 = int(top) - 1, int(left) - 1
    m = int(np.ceil(size * 0.6 / 10)) + 3
    win = Grid(prof["crs"], ref_tr @ Affine.translation(c0, r0), m, m)
    c, frac = average_onto(nir[None], np.ones(nir.shape, bool), fine, win)
    del nir
    field = np.full((n, n), 3000, np.uint16)
    field[r0:r0 + m, c0:c0 + m] = np.where(frac >= 0.5, np.rint(np.nan_to_num(c[0]) * 100), 3000).astype(np.uint16)
    ref = folder / "S2_B08_10m_20200829.tif"
    with rasterio.open(ref, "w", driver="GTiff", height=n, width=n, count=1, dtype="uint16", crs=grid.crs,
                       transform=grid.transform, tiled=True, blockxsize=512, blockysize=512,
                       compress="deflate", nodata=0) as o:
        o.write(field, 1)
        o.scales, o.descriptions = [0.01], ("B08",)
    return aerial, ref


def run(args: list[str]) -> dict:
    """One ``bandbridge predict`` process: wall seconds, peak RSS, its last lines."""
    bb = Path(sys.executable).parent / "bandbridge"
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        with open(Path(d) / "out.txt", "w") as out:
            p = subprocess.Popen([str(bb), "-q", "predict", *args, "-o", str(Path(d) / "out.tif")],
                                 stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(p.pid, 0)
        text = (Path(d) / "out.txt").read_text()
    return {"seconds": round(time.perf_counter() - t0, 1), "peak_mb": round(usage.ru_maxrss / 1024),
            "status": os.waitstatus_to_exitcode(status), "lines": text.strip().splitlines()[-6:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("-m", "--model", default="rgb2nir")
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        aerial, ref = make_inputs(a.data, a.size, Path(d))
        plain = run([str(aerial), "-m", a.model])
        guided = run([str(aerial), "-m", a.model, "--reference", str(ref)])
    rec = {"command": "python benchmarks/reference_speed.py " + " ".join(sys.argv[1:]), "size": a.size,
           "plain": plain, "reference": guided, "time_ratio": round(guided["seconds"] / plain["seconds"], 2),
           "peak_within_plan": guided["peak_mb"] * 2**20 <= PLAN}
    print(json.dumps(rec, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(rec, indent=1) + "\n")


if __name__ == "__main__":
    main()
