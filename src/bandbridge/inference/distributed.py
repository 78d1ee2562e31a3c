"""``predict --workers N`` / ``--scheduler tcp://HOST:8786``: prediction on a Dask cluster.

One task per input file (``bandbridge[dist]``: dask.distributed). A raster is split into strips
when there are fewer files than workers (or ``--strips``): each strip task writes its own GeoTIFF
on the whole raster's tiles, and the strips are assembled through a VRT (``strips.py``), so the
output equals the single-process one. Each worker process loads a model once and keeps it. A
failed task is retried (``--retries``) and then reported with its file and reason, never dropped;
the summary CSV lists every file (file, status, seconds, MPix, output, error). The backend is
decided once on the client (``--backend auto`` measures here) and named to the workers.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import shutil
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable

from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_write_bytes
from bandbridge.inference.job import Job
from bandbridge.inference.strips import assemble, strip_ranges

_LOADED: dict[tuple, object] = {}  # per worker process: the models it has loaded


def _worker_backend(job: Job, backend: str, precision: str, threads: int | None):
    from bandbridge.inference.backends import build_backend
    key = (str(job.spec.folder), backend, precision, threads)
    if key not in _LOADED:
        _LOADED[key] = build_backend(job.spec, backend, precision, threads)
    return _LOADED[key]


def _task(job: Job, backend: str, precision: str, threads: int | None,
          rows: tuple[int, int] | None = None, dst: str | None = None) -> dict:
    """Predict one file (or the rows of one strip into ``dst``) on a worker."""
    from bandbridge.inference.predictor import predict_file
    be = _worker_backend(job, backend, precision, threads)
    opts = replace(job.opts, rows=rows, cog=job.opts.cog and rows is None)  # strips: COG when assembled
    st = predict_file(be, job.spec, job.src, Path(dst) if dst else job.dst, opts)
    return {"seconds": st.seconds, "mpix": st.megapixels, "worker": os.getpid()}


def _cluster(scheduler: str | None, workers: int | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BandbridgeError("--workers/--scheduler need dask.distributed: pip install "
                              "'bandbridge[dist]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as e:
            raise BandbridgeError(f"--scheduler {scheduler}: cannot connect ({e}); start "
                                  "`dask-scheduler` there or fix the address") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def strips_for(jobs: list[Job], workers: int, strips: int | None) -> int:
    """Strips per file: ``--strips``, else enough to give every worker a task."""
    if strips:
        return strips
    return max(1, math.ceil(workers / len(jobs))) if jobs and len(jobs) < workers else 1


def run_distributed(jobs: list[Job], backend: str, precision: str, threads: int | None,
                    scheduler: str | None, workers: int | None, retries: int = 2,
                    strips: int | None = None, summary: Path | None = None,
                    failed: list[tuple[Path, str]] = (),
                    progress: Callable[[int], Callable[[], None]] | None = None) -> list[dict]:
    """Run the jobs on a Dask cluster; returns one row per input (files refused while planning,
    ``failed``, included) and writes them to ``summary`` (CSV)."""
    from distributed import as_completed

    from bandbridge.inference.backends import make_backend
    rows = [{"file": str(f), "status": "failed", "seconds": 0.0, "mpix": 0.0, "output": "",
             "error": why} for f, why in failed]
    chosen: dict[Path, tuple[str, str]] = {}
    for job in jobs:  # decided here once (measured if asked), named to every worker
        if job.spec.folder not in chosen:
            be = make_backend(job.spec, backend, precision, threads, probe=True)
            chosen[job.spec.folder] = (be.name, be.precision)
            del be
    client, cluster = _cluster(scheduler, workers)
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or (workers or 1))
        per_thread = threads or max(1, (os.cpu_count() or 1) // n_workers)
        k = strips_for(jobs, n_workers, strips)
        futures, plan, t0 = {}, {}, {}
        for job in jobs:
            b, p = chosen[job.spec.folder]
            ranges = strip_ranges(job.size[0], k) if k > 1 else [None]
            tmp = job.dst.parent / f".{job.dst.name}.strips-{uuid.uuid4().hex[:8]}" if len(ranges) > 1 else None
            if tmp is not None:
                tmp.mkdir(parents=True)
            parts = []
            for i, r in enumerate(ranges):
                dst = str(tmp / f"strip{i:04d}.tif") if tmp else None
                fut = client.submit(_task, job, b, p, per_thread, r, dst, retries=retries, pure=False,
                                    key=f"predict-{job.src.name}-{i}-{uuid.uuid4().hex[:6]}")
                futures[fut] = job
                parts.append(dst)
            plan[job.dst] = {"job": job, "parts": parts, "tmp": tmp, "left": len(ranges), "error": None,
                             "seconds": 0.0, "mpix": 0.0}
            t0[job.dst] = time.perf_counter()
        tick = progress(len(futures)) if progress else None
        for fut in as_completed(futures):
            st = plan[futures[fut].dst]
            try:
                res = fut.result()
                st["mpix"] += res["mpix"]
            except Exception as e:  # noqa: BLE001 - any failure of a file is reported, not raised
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                st["error"] = st["error"] or msg
            st["left"] -= 1
            if tick:
                tick()
            if st["left"] == 0:
                rows.append(_finish(st, time.perf_counter() - t0[st["job"].dst]))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if summary is not None:
        write_summary(rows, summary)
    return rows


def _finish(st: dict, seconds: float) -> dict:
    job = st["job"]
    try:
        if st["error"] is None and st["tmp"] is not None:
            parts = [Path(p) for p in st["parts"]]
            assemble(parts, job.dst, job.opts.cog)
            for k in job.opts.indices:  # the index rasters beside each strip, assembled alike
                assemble([p.with_name(f"{p.stem}_{k}{p.suffix}") for p in parts],
                         job.dst.with_name(f"{job.dst.stem}_{k}{job.dst.suffix}"), job.opts.cog)
    except Exception as e:  # noqa: BLE001
        st["error"] = f"assembling the strips failed: {e}"
    finally:
        if st["tmp"] is not None:
            shutil.rmtree(st["tmp"], ignore_errors=True)
    ok = st["error"] is None
    return {"file": str(job.src), "status": "ok" if ok else "failed", "seconds": round(seconds, 2),
            "mpix": round(st["mpix"], 3), "output": str(job.dst) if ok else "", "error": st["error"] or ""}


def write_summary(rows: list[dict], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["file", "status", "seconds", "mpix", "output", "error"])
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(Path(path), buf.getvalue().encode())
