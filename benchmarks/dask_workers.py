"""Dask-distributed prediction: the same files on local clusters of 1 and 2 worker processes.

Tiles real NAIP scenes into ``--files`` rasters of ``--size``² (``bandbridge.mosaics.make_mosaic``),
plans them once, then runs ``run_distributed`` with each worker count on the same backend and
precision (threads per worker = cores / workers), and prints MPix/s and the ratio.

    python benchmarks/dask_workers.py -m rgb2nir-naip --files 8 --size 2048 --workers 1,2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bandbridge.mosaics import make_mosaic
from bandbridge.inference.jobs.distributed import run_distributed
from bandbridge.inference.jobs.job import make_jobs
from bandbridge.inference.core.predictor import PredictOptions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", default="rgb2nir-naip")
    ap.add_argument("--naip", default="../shared/data/nir_naip_opengeos", type=Path)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--backend", default="openvino")
    ap.add_argument("--precision", default="fp32")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in"
        src.mkdir()
        first = make_mosaic(a.naip, src / "tile00.tif", a.size)
        for i in range(1, a.files):
            shutil.copy(first, src / f"tile{i:02d}.tif")
        speeds = {}
        for n in (int(w) for w in a.workers.split(",")):
            out = Path(d) / f"out{n}"
            jobs, _ = make_jobs([str(src)], a.model, str(out), PredictOptions())
            t0 = time.perf_counter()
            rows = run_distributed(jobs, a.backend, a.precision, None, None, n, strips=1)
            secs = time.perf_counter() - t0
            mpix = sum(r["mpix"] for r in rows if r["status"] == "ok")
            speeds[n] = mpix / secs
            print(f"{n} worker(s): {len(rows)} files, {mpix:.0f} MPix in {secs:.1f} s = {speeds[n]:.2f} MPix/s "
                  f"(cluster start included)", flush=True)
        base = speeds[min(speeds)]
        for n, v in speeds.items():
            print(f"{n} worker(s): {v / base:.2f}× the {min(speeds)}-worker speed")


if __name__ == "__main__":
    main()
