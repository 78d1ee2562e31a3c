"""``bandbridge fill`` at Sentinel-2 tile size against plain ``predict`` of the same size (issue 75).

Makes a SIZE² 4-band uint16 scene (B02, B03, B04, B08) with a 40 % gap given as ``--mask`` (clouds
as smooth blobs), one earlier date (its SCL band all clear but a corner) and Sentinel-1 VV, VH at
the scene's date and the earlier one — each the WorldCereal development sample 00002806639B424A
(2018-05-26 as the scene, 2018-05-11 as the earlier date, Sentinel-1 2018-05-27 and 2018-05-09)
tiled to SIZE², so the fill's fit sees real bands and real backscatter. Then, each as its own
process: ``bandbridge fill --plan`` (the planned peak), ``bandbridge fill`` and ``bandbridge predict
-m rgb2nir`` of the same scene (both write a tiled GeoTIFF, not a COG: ``fill --no-cog``, as
``predict`` without ``--cog``), with their wall and CPU time and peak resident memory (GNU time's
maximum RSS). Prints the record and, with ``--out``, writes it as JSON.

``python benchmarks/fill_speed.py --size 10980 [--data ../shared/data] [--work DIR] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from scipy.ndimage import gaussian_filter, zoom

SITE = "worldcereal/sample_00002806639B424A"
S10 = "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S20 = "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S1 = "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
SCENE, EARLIER, SAR_NOW, SAR_THEN = "2018-05-26", "2018-05-11", "2018-05-27", "2018-05-09"
GAP = 0.40  # share of the scene under the mask
ROWS = 512  # rows written at a time
BIN = Path(sys.executable).parent


def sample(data: Path) -> dict[str, np.ndarray]:
    """The sample's dates on its 10 m grid: the scene and earlier bands (stored DN), SAR in dB."""
    from bandbridge.inference.place.fill_read import read_layer, sar_on
    d = data / SITE
    scene = read_layer(f"{d / S10}@{SCENE}#scl={S20}", "")
    earlier = read_layer(f"{d / S10}@{EARLIER}#scl={S20}", "--earlier")
    now, _ = sar_on(scene, f"{d / S1}@{SAR_NOW}", "--sar")
    then, _ = sar_on(scene, f"{d / S1}@{SAR_THEN}", "--sar-earlier")
    fill = lambda a: np.where(np.isfinite(a), a, np.nanmedian(a, axis=(1, 2), keepdims=True))  # noqa: E731
    dn = 10000.0 if np.nanmax(scene.values) <= 2 else 1.0  # the cube decodes reflectance: Sentinel-2's DN
    return {"scene": fill(scene.values) * dn, "earlier": fill(earlier.values) * dn, "now": fill(now), "then": fill(then)}


def cloud_field(size: int, seed: int = 0) -> np.ndarray:
    """A smooth random field on a coarse grid (one cell per 64 px), thresholded to :data:`GAP`."""
    n = max(4, size // 64)
    f = gaussian_filter(np.random.default_rng(seed).normal(size=(n, n)), 2.0)
    return f > np.quantile(f, 1 - GAP)


def write(path: Path, size: int, bands: list[str], dtype: str, rows) -> Path:
    """A ``size``² GeoTIFF (deflate, 512² blocks) written ``ROWS`` rows at a time from ``rows(a, b)``."""
    prof = {"driver": "GTiff", "height": size, "width": size, "count": len(bands), "dtype": dtype,
            "crs": "EPSG:32631", "transform": from_origin(600000, 5600000, 10, 10), "tiled": True,
            "blockxsize": 512, "blockysize": 512, "compress": "deflate"}
    with rasterio.open(path, "w", **prof) as d:
        for a in range(0, size, ROWS):
            b = min(size, a + ROWS)
            d.write(rows(a, b).astype(dtype), window=Window(0, a, size, b - a))
        d.descriptions = tuple(bands)
    return path


def make(data: Path, size: int, work: Path) -> dict[str, Path]:
    names = {"scene": "S2_20180526.tif", "earlier": "earlier/S2_20180511.tif", "now": "S1_20180527.tif",
             "then": "S1_20180509.tif", "mask": "gap.tif"}
    have = {k: work / v for k, v in names.items()}
    if all(p.exists() and rasterio.open(p).width == size for p in have.values()):  # --work of an earlier run
        return have
    s = sample(data)
    tiled = lambda a, r0, r1: np.tile(a, (1, -(-size // a.shape[1]), -(-size // a.shape[2])))[:, r0:r1, :size]  # noqa: E731
    coarse = cloud_field(size)
    k = size / coarse.shape[0]

    def mask_rows(a: int, b: int) -> np.ndarray:
        r = (np.arange(a, b) / k).astype(int).clip(0, coarse.shape[0] - 1)
        c = (np.arange(size) / k).astype(int).clip(0, coarse.shape[1] - 1)
        return coarse[r][:, c][None].astype(np.uint8)

    def earlier_rows(a: int, b: int) -> np.ndarray:
        scl = np.full((1, b - a, size), 4.0)
        scl[:, :max(0, min(b, 200) - a), :200] = 9  # a cloud in the corner: its mask is read
        return np.concatenate([np.clip(tiled(s["earlier"], a, b), 1, 65535), scl])
    bands = ["B02", "B03", "B04", "B08"]
    return {"scene": write(work / "S2_20180526.tif", size, bands, "uint16",
                           lambda a, b: np.clip(tiled(s["scene"], a, b), 1, 65535)),
            "earlier": write(work / "earlier" / "S2_20180511.tif", size, [*bands, "SCL"], "uint16", earlier_rows),
            "now": write(work / "S1_20180527.tif", size, ["VV", "VH"], "float32", lambda a, b: tiled(s["now"], a, b)),
            "then": write(work / "S1_20180509.tif", size, ["VV", "VH"], "float32",
                          lambda a, b: tiled(s["then"], a, b)),
            "mask": write(work / "gap.tif", size, ["gap"], "uint8", mask_rows)}


def timed(cmd: list[str]) -> dict:
    """``cmd`` under GNU time: wall s, CPU s, peak RSS GB, its output's last lines."""
    t0 = time.perf_counter()
    env = {"OMP_NUM_THREADS": "2", "PATH": str(BIN) + ":/usr/bin:/bin"}
    if os.environ.get("PYTHONPATH"):  # a snapshot's source (a git worktree) runs, not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    p = subprocess.run(["/usr/bin/time", "-f", "TIME %M %U %S", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    line = next(x for x in p.stderr.splitlines()[::-1] if x.startswith("TIME "))
    kb, user, system = line.split()[1:]
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return {"command": " ".join(cmd), "wall_s": round(wall, 1), "cpu_s": round(float(user) + float(system), 1),
            "peak_gb": round(int(kb) / 1e6, 3), "said": p.stdout.strip().splitlines()[-8:]}


def _commit() -> str:
    """The commit of the source that ran (``PYTHONPATH``'s checkout, else this file's), with ``+`` where
    its files differ from it."""
    where = Path(os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or Path(__file__).parent)
    git = lambda *a: subprocess.run(["git", "-C", str(where), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    return git("rev-parse", "--short", "HEAD") + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10980)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--work", default=None, help="folder for the inputs (default: a temporary one, removed)")
    ap.add_argument("--out", default=None, help="write the record here (JSON)")
    ap.add_argument("--inputs-only", action="store_true", help="make the inputs in --work and stop "
                    "(benchmarks/fill_page.py's uploads); prints their paths as JSON")
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="fill-speed-"))
    (work / "earlier").mkdir(parents=True, exist_ok=True)
    if a.inputs_only:
        print(json.dumps({k: str(v) for k, v in make(Path(a.data), a.size, work).items()}))
        return
    try:
        t0 = time.perf_counter()
        f = make(Path(a.data), a.size, work)
        made = time.perf_counter() - t0
        bb = str(BIN / "bandbridge")
        fill = [bb, "fill", str(f["scene"]), "-e", str(f["earlier"]), "--sar", str(f["now"]), "--sar-earlier",
                str(f["then"]), "--mask", str(f["mask"]), "-o", str(work / "filled.tif"), "--overwrite", "--no-cog"]
        plan = timed([*fill, "--plan"])
        planned = next(x for x in plan["said"] if x.startswith("memory: planned under "))
        filled = timed(fill)
        predicted = timed([bb, "predict", str(f["scene"]), "-m", "rgb2nir", "-o", str(work / "nir.tif"),
                           "--overwrite"])
        record = {"size": a.size, "gap": GAP, "inputs_made_s": round(made, 1), "machine": platform.node(),
                  "cores": os.cpu_count(), "plan": plan, "fill": filled, "predict": predicted,
                  "planned_peak_gb": float(planned.split("under ")[1].split(" GB")[0]),
                  "ratio_wall": round(filled["wall_s"] / predicted["wall_s"], 2),
                  "ratio_cpu": round(filled["cpu_s"] / max(predicted["cpu_s"], 1e-9), 2),
                  "command": "python benchmarks/fill_speed.py " + " ".join(sys.argv[1:])}
        record["within_plan"] = filled["peak_gb"] <= record["planned_peak_gb"]
        record["code"] = _commit()
        record["date"] = time.strftime("%Y-%m-%d", time.gmtime())
        record["target"] = "issue 75: peak within the plan and under 4 GB; time at most 3x plain predict -m rgb2nir of the same size"
        record["met"] = {"peak_under_4gb": filled["peak_gb"] < 4.0, "within_plan": record["within_plan"],
                         "time_3x": record["ratio_wall"] <= 3.0}
        text = json.dumps(record, indent=2)
        print(text)
        if a.out:
            Path(a.out).write_text(text + "\n")
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
