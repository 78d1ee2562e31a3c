"""``bandbridge sharpen`` at Sentinel-2 tile size against plain ``predict`` of the same fine raster (issue 76).

Makes a SIZE² Sentinel-2-like input from a development scene (SEN12MS-CR's cloud-free
ROIs1970_fall_139_p839, 13 bands on one 10 m grid, mirror-tiled to SIZE²): the four 10 m bands
(B02, B03, B04, B08) as one uint16 guide file on the 10 m grid, and the six 20 m bands (B05, B06,
B07, B8A, B11, B12) averaged 2 × 2 onto the 20 m grid as one uint16 reference (nodata 0), as
Sentinel-2 ships them. Then, each in its own process: ``bandbridge sharpen --plan`` (the planned
peak), ``bandbridge sharpen`` (all six bands to 10 m) and ``bandbridge predict -m rgb2nir`` of the
guide file, each measured for wall time, CPU time and peak resident memory (``os.wait4``: the
child's own rusage, its waited-for children in it). Prints the record and, with ``--out``, merges it
into that JSON file (one run per size, the others kept: docs/results/sharpen_speed.json holds 600² and 10980²).

``python benchmarks/sharpen_speed.py --size 10980 [--data ../shared/data] [--work DIR] [--out FILE]``
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

SCENE = "sar_sen12mscr_glfcr/s2_cloudfree/ROIs1970_fall_139_p839.tif"
ORDER = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]  # SEN12MS's 13
GUIDES = ["B02", "B03", "B04", "B08"]
TARGETS = ["B05", "B06", "B07", "B8A", "B11", "B12"]
ROWS = 512  # rows written at a time
BIN = Path(sys.executable).parent
TARGET = 3.0  # issue 76: sharpen within 3x plain predict of the same size (wall at 10980², CPU at 600²)


def mirrored(data: Path) -> np.ndarray:
    """The scene (13, 256, 256) mirrored into a (13, 512, 512) block that tiles without seams."""
    with rasterio.open(data / SCENE) as s:
        v = s.read().astype(np.float32)
    top = np.concatenate([v, v[:, :, ::-1]], axis=2)
    return np.concatenate([top, top[:, ::-1]], axis=1)


def write(path: Path, size: int, res: float, bands: list[str], rows) -> Path:
    """A ``size``² uint16 GeoTIFF (deflate, 512² blocks, nodata 0) of ``res`` m pixels written
    ``ROWS`` rows at a time from ``rows(a, b)``."""
    prof = {"driver": "GTiff", "height": size, "width": size, "count": len(bands), "dtype": "uint16", "nodata": 0,
            "crs": "EPSG:32650", "transform": from_origin(300000, 2500000, res, res), "tiled": True,
            "blockxsize": 512, "blockysize": 512, "compress": "deflate"}
    with rasterio.open(path, "w", **prof) as d:
        for a in range(0, size, ROWS):
            b = min(size, a + ROWS)
            d.write(np.clip(np.round(rows(a, b)), 1, 65535).astype("uint16"), window=Window(0, a, size, b - a))
        d.descriptions = tuple(bands)
    return path


def make(data: Path, size: int, work: Path) -> dict[str, Path]:
    """The guide file (``size``², 10 m) and the reference (``size // 2``², 20 m) in ``work``; kept
    where an earlier run made them at this size."""
    have = {"guides": work / "S2_10m.tif", "reference": work / "S2_20m.tif"}
    if all(p.exists() for p in have.values()) and rasterio.open(have["guides"]).width == size:
        return have
    if size % 2:
        raise SystemExit(f"--size {size}: give an even size (the 20 m grid is half of it)")
    block = mirrored(data)
    fine = block[[ORDER.index(b) for b in GUIDES]]
    n = block.shape[1]
    coarse = block[[ORDER.index(b) for b in TARGETS]].reshape(len(TARGETS), n // 2, 2, n // 2, 2).mean((2, 4))

    def tiled(a: np.ndarray, side: int, r0: int, r1: int) -> np.ndarray:
        rows, cols = np.arange(r0, r1) % a.shape[1], np.arange(side) % a.shape[2]
        return a[:, rows][:, :, cols]
    write(have["guides"], size, 10.0, GUIDES, lambda a, b: tiled(fine, size, a, b))
    write(have["reference"], size // 2, 20.0, TARGETS, lambda a, b: tiled(coarse, size // 2, a, b))
    return have


def timed(cmd: list[str]) -> dict:
    """``cmd`` in its own process: wall s, CPU s (user + system), peak RSS GB, its output's last lines."""
    env = {"OMP_NUM_THREADS": "2", "PATH": str(BIN) + ":/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    if os.environ.get("PYTHONPATH"):  # a snapshot's source (a git worktree) runs, not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
        _, status, use = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        said = out.read()
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{said[-3000:]}")
    return {"command": " ".join(cmd), "wall_s": round(wall, 1), "cpu_s": round(use.ru_utime + use.ru_stime, 1),
            "peak_gb": round(use.ru_maxrss / 1e6, 3), "said": said.strip().splitlines()[-14:]}


def least_of(runs: list[dict]) -> dict:
    """The run of the least CPU time among ``runs`` of one command (a busy machine adds, never takes
    away), with every run's wall and CPU seconds beside it."""
    best = dict(min(runs, key=lambda r: r["cpu_s"]))
    if len(runs) > 1:
        best["runs_wall_s"], best["runs_cpu_s"] = [r["wall_s"] for r in runs], [r["cpu_s"] for r in runs]
    return best


def _commit() -> str:
    """The commit of the source that ran (``PYTHONPATH``'s checkout, else this file's), with ``+`` where
    its files differ from it (the records under docs/results/, which ``--out`` writes, not counted)."""
    where = Path(os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or Path(__file__).parent)
    git = lambda *a: subprocess.run(["git", "-C", str(where), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/results")
    return git("rev-parse", "--short", "HEAD") + ("+" if changed else "")


def _planned(said: list[str]) -> float:
    line = next(x for x in said if x.startswith("memory: planned under "))
    return float(line.split("under ")[1].split(" GB")[0])


def _stages(said: list[str]) -> str:
    """The run's own account of its stages (its ``time:`` line), or an empty string."""
    return next((x.removeprefix("time: ") for x in said if x.startswith("time: ")), "")


def summary(r: dict) -> str:
    """One run in a line: the figures, the ratios, and where the time goes (the ``--plan`` run alone: the
    start-up, its imports and the plan; then the run's own ``time:`` line, stage by stage)."""
    s, p, plan = r["sharpen"], r["predict"], r["plan"]
    target = "wall" if r["size"] >= 4096 else "CPU"
    return (f"{r['size']}²: sharpen {s['wall_s']} s wall / {s['cpu_s']} CPU-s, peak {s['peak_gb']} GB (planned "
            f"{r['planned_peak_gb']}); predict {p['wall_s']} s / {p['cpu_s']} CPU-s: {r['ratio_wall']}x wall, "
            f"{r['ratio_cpu']}x CPU (3x in {target} time {'met' if r['met']['time_3x'] else 'missed'}); where the "
            f"time goes: start-up and plan {plan['cpu_s']} CPU-s (the --plan run alone: the imports and the reference "
            f"read; {torch_words(r)}), "
            f"then {_stages(s['said']) or 'not said'}.")


def torch_words(r: dict) -> str:
    """What importing torch alone costs, where the run measured it (a bare interpreter: ``import torch``)."""
    t = r.get("torch_import")
    return f"torch's import alone {t['cpu_s']} CPU-s in a bare interpreter" if t else "torch's import not measured"


def merged(out: Path, record: dict) -> dict:
    """``out`` (JSON: ``runs``, one per size, and a ``summary`` of them all) with ``record`` in place of
    any earlier run of its size, written back (its other keys, such as a ``before``, kept); an earlier
    file of one run is taken as its one run."""
    old = json.loads(out.read_text()) if out.exists() else {"runs": []}
    runs = [r for r in old.get("runs", [old]) if r.get("size") != record["size"]] + [record]
    runs.sort(key=lambda r: r["size"])
    for r in runs:
        r["summary"] = summary(r)
    kept = {k: v for k, v in old.items() if "runs" in old and k not in ("target", "runs", "summary")}  # a note
    rec = {"target": record["target"], "runs": runs, "summary": " ".join(r["summary"] for r in runs), **kept}
    out.write_text(json.dumps(rec, indent=2) + "\n")
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10980)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--inputs-only", action="store_true", help="make the inputs in --work and stop; prints their "
                    "paths as JSON")
    ap.add_argument("--repeat", type=int, default=1, help="run sharpen and predict this many times each, "
                    "interleaved, and keep each one's run of least CPU time")
    ap.add_argument("--work", default=None, help="folder for the inputs (default: a temporary one, removed)")
    ap.add_argument("--out", default=None, help="merge this run into this JSON record (one run per size)")
    ap.add_argument("--model", default=None, help="sharpen with -m MODEL (s2-prior: the Sentinel-2 prior's cost, "
                    "issue 84; record it in its own --out)")
    ap.add_argument("--network", action="store_true", help="sharpen --network: the Sentinel-2 network's route "
                    "offered (issue 96; record it in its own --out)")
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="sharpen-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        f = make(Path(a.data), a.size, work)
        made = time.perf_counter() - t0
        if a.inputs_only:
            print(json.dumps({k: str(v) for k, v in f.items()}))
            return
        bb = str(BIN / "bandbridge")
        run = [bb, "sharpen", str(f["guides"]), "--reference", str(f["reference"]), "-o", str(work / "sharp.tif"),
               "--overwrite"] + (["-m", a.model] if a.model else []) + (["--network"] if a.network else [])
        load = os.getloadavg()
        torch_import = timed([sys.executable, "-c", "import torch"])  # the floor every sharpen run pays (the fit's)
        plan = timed([*run, "--plan"])
        pred = [bb, "predict", str(f["guides"]), "-m", "rgb2nir", "-o", str(work / "nir.tif"), "--overwrite"]
        both = [(timed(run), timed(pred)) for _ in range(a.repeat)]  # interleaved: the machine's moods shared
        sharpened, predicted = (least_of([r[i] for r in both]) for i in (0, 1))
        planned = _planned(plan["said"])
        ratio_wall = round(sharpened["wall_s"] / predicted["wall_s"], 2)
        ratio_cpu = round(sharpened["cpu_s"] / max(predicted["cpu_s"], 1e-9), 2)
        record = {
            "command": "python benchmarks/sharpen_speed.py " + " ".join(sys.argv[1:]),
            "code": _commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": platform.node(), "cores": os.cpu_count(), "load_before": [round(x, 2) for x in load],
            "size": a.size, "model": a.model, "input": f"{SCENE} mirror-tiled: {', '.join(GUIDES)} at 10 m ({a.size}²) as the guides, "
                                     f"{', '.join(TARGETS)} averaged to 20 m ({a.size // 2}²) as the reference",
            "inputs_made_s": round(made, 1),
            "torch_import": {k: torch_import[k] for k in ("wall_s", "cpu_s", "peak_gb")},
            "plan": plan, "sharpen": sharpened, "predict": predicted,
            "planned_peak_gb": planned, "within_plan": sharpened["peak_gb"] <= planned,
            "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu,
            "target": "issue 76: at 10980² within the plan's memory and <= 3x plain predict -m rgb2nir of the same "
                      "size (wall); at 600² <= 3x plain predict in CPU time",
        }
        record["met"] = {"within_plan": record["within_plan"],
                         "time_3x": (ratio_wall if a.size >= 4096 else ratio_cpu) <= TARGET}
        record["summary"] = summary(record)
        print(json.dumps(record, indent=2))
        if a.out:
            merged(Path(a.out), record)
    finally:
        if a.work is None and not a.inputs_only:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
