"""``predict --workers N`` / ``--scheduler tcp://HOST:8786``: prediction on a Dask cluster.

One task per input file (``bandbridge[dist]``: dask.distributed). A raster is split into strips
when there are fewer files than workers (or ``--strips``): each strip task writes its own GeoTIFF
on the whole raster's tiles, and the strips are assembled through a VRT (``strips.py``), so the
output equals the single-process one. Each worker process loads a model once and keeps it. A
failed task is retried (``--retries``) and then reported with its file and reason, never dropped;
the summary CSV lists every file. A file that cannot be read (a :class:`BandbridgeError` on its
worker) fails at once, without retries; tracebacks of other failures and Dask's own log go to
``<summary>.log``, never the console. A ``--scheduler`` address is checked before any work and
must answer Dask's handshake within seconds.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import shutil
import socket
import struct
import tempfile
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_write_bytes, check_writable, temp_folder_beside
from bandbridge.inference.jobs.job import Job, prepare_backends
from bandbridge.inference.jobs.strips import assemble, strip_ranges

_LOADED: dict[tuple, object] = {}  # per worker process: the models it has loaded


def _task(job: Job, backend: str, precision: str, threads: int | None,
          rows: tuple[int, int] | None = None, dst: str | None = None) -> dict:
    """Predict one file (or the rows of one strip into ``dst``) on a worker. A mistake in the
    file (a BandbridgeError) is returned as ``{"error": …}``: Dask would retry a raised one."""
    from bandbridge.inference.core.predictor import predict_file
    from bandbridge.inference.runtime.backends import build_backend
    key = (str(job.spec.folder), backend, precision, threads)
    try:
        if key not in _LOADED:
            _LOADED[key] = build_backend(job.spec, backend, precision, threads)
        be = _LOADED[key]
        # Strips are our own intermediates: COG and the user's -co apply when they are assembled.
        opts = replace(job.opts, strip=replace(job.opts.strip, rows=rows), cog=job.opts.cog and rows is None,
                       creation=job.opts.creation if rows is None else {})
        st = predict_file(be, job.spec, job.src, Path(dst) if dst else job.dst, opts, layout=job.layout)
    except BandbridgeError as e:
        return {"error": str(e), "seconds": 0.0, "mpix": 0.0}
    return {"seconds": st.seconds, "mpix": st.megapixels, "worker": os.getpid(), "notes": st.notes,
            "backend": f"{be.name} {be.precision}", "tile": st.tile}


_ADDRESS = re.compile(r"(?:(?P<scheme>tcp|tls)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)"
                      r"(?::(?P<port>\d{1,5}))?")
HANDSHAKE_S = 5.0  # a Dask scheduler sends its handshake as soon as a client connects


def check_scheduler(address: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a ``--scheduler`` address, or one line saying how to write it."""
    m = _ADDRESS.fullmatch(address.strip())
    port = int(m.group("port") or 8786) if m else 0
    if not m or not 0 < port < 65536:
        raise BandbridgeError(f"--scheduler {address}: not a Dask scheduler address; give "
                              "tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)")
    return m.group("scheme") or "tcp", m.group("host").strip("[]"), port


def probe_scheduler(address: str, timeout: float | None = None) -> None:
    """Connect and read the first 8 bytes a Dask scheduler sends (the length of its handshake),
    within ``timeout`` seconds: another service (HTTP, SSH, …) stays silent or sends text, which
    Dask would take for a length of exabytes or wait for. TLS addresses are not probed.
    ``timeout``: :data:`HANDSHAKE_S` by default."""
    scheme, host, port = check_scheduler(address)
    timeout = HANDSHAKE_S if timeout is None else timeout
    if scheme != "tcp":
        return
    where = f"--scheduler {address}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            head = b""
            while len(head) < 8:
                got = s.recv(8 - len(head))
                if not got:
                    break
                head += got
    except socket.timeout:
        raise BandbridgeError(f"{where}: connected, but no Dask handshake within {timeout:g} s; "
                              "this port runs another service: give the scheduler's port "
                              "(8786 by default)") from None
    except OSError as e:
        raise BandbridgeError(f"{where}: cannot connect ({e.strerror or e}); start "
                              "`dask-scheduler` there or fix the address") from None
    if len(head) < 8 or not 0 < struct.unpack("<Q", head)[0] < 1 << 24:
        raise BandbridgeError(f"{where}: answers, but not like a Dask scheduler; this port runs "
                              "another service: give the scheduler's port (8786 by default)")


def _cluster(scheduler: str | None, workers: int | None):
    """``(client, local cluster or None, its scratch folder or None)``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BandbridgeError("--workers/--scheduler need dask.distributed: pip install "
                              "'bandbridge[dist]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None, None
        except (OSError, TimeoutError, ValueError, MemoryError) as e:
            raise BandbridgeError(f"--scheduler {scheduler}: cannot connect ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:160] if str(e) else ''}); start "
                                  "`dask-scheduler` there or fix the address") from None
    # Dask's scratch (its workers' spill and lock files) in a folder of the run's own, removed with the cluster:
    # Dask's default, TMPDIR/dask-scratch-space, outlives every run, a SIGTERM'd one's too (issue 98)
    import dask
    scratch = tempfile.mkdtemp(prefix="bandbridge-dask-")
    try:
        with dask.config.set({"temporary-directory": scratch}):  # the scheduler's, and each worker's
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, silence_logs=logging.CRITICAL, local_directory=scratch)
        return Client(cluster), cluster, scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _close(client, cluster, scratch: str | None) -> None:
    """The client and a local cluster closed, and the cluster's scratch folder removed, whatever happens."""
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def check_cluster_flags(workers: int | None, scheduler: str | None, retries: int, strips: int | None,
                summary: str | None, confidence: bool = False) -> None:
    """The Dask flags of ``predict``, before any work: each refusal names its flag."""
    if confidence and (workers is not None or scheduler is not None):
        raise BandbridgeError("--confidence is written by a local predict only (the strips of "
                              "--workers/--scheduler carry no error map); drop one of them")
    if workers is not None and scheduler is not None:
        raise BandbridgeError(f"--workers {workers} starts a local cluster and --scheduler uses a "
                              "running one; give only one of them")
    if workers is None and scheduler is None:
        for flag, v in (("--strips", strips), ("--summary", summary)):
            if v is not None:
                raise BandbridgeError(f"{flag} only applies with --workers or --scheduler; add "
                                      f"--workers N or drop {flag}")
    for flag, v, least in (("--workers", workers, 1), ("--strips", strips, 1), ("--retries", retries, 0)):
        if v is not None and v < least:
            raise BandbridgeError(f"{flag} {v}: must be at least {least}")
    if scheduler is not None:
        check_scheduler(scheduler)


def log_path(summary: Path) -> Path:
    """Where failures' tracebacks and Dask's log go: beside the summary."""
    return Path(summary).with_suffix(".log")


@contextmanager
def _dask_log_to(path: Path) -> Iterator[None]:
    """Send this process's ``distributed`` log to ``path`` (created on the first record) instead
    of the console."""
    log = logging.getLogger("distributed")
    saved = log.handlers[:], log.propagate
    handler = logging.FileHandler(path, delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log.handlers, log.propagate = [handler], False
    try:
        yield
    finally:
        handler.close()
        log.handlers, log.propagate = saved


def check_cluster(jobs: list[Job], scheduler: str | None, summary: Path | None) -> None:
    """Before any work (a wrong address costs seconds, not a backend probe): the summary's path
    and the scheduler's handshake: a ``--summary`` that is a folder, an input, or in a folder that
    cannot be written is refused."""
    if summary is not None:
        p = Path(summary)
        if p.is_dir():
            raise BandbridgeError(f"--summary {p} is a folder; give a file path such as "
                                  f"{p / 'bandbridge-summary.csv'}")
        if any(p.resolve() == j.src.resolve() for j in jobs):
            raise BandbridgeError(f"--summary {p} is an input file; choose another path")
        check_writable(p.parent, "--summary")
    if scheduler:
        probe_scheduler(scheduler)


def run_distributed(jobs: list[Job], backend: str, precision: str, threads: int | None,
                    scheduler: str | None, workers: int | None, retries: int = 2,
                    strips: int | None = None, summary: Path | None = None,
                    failed: list[tuple[Path, str]] = (),
                    progress: Callable[[int], Callable[[], None]] | None = None,
                    announce: Callable[[str], None] | None = None, decisions: dict | None = None,
                    runs: dict | None = None) -> list[dict]:
    """Run the jobs on a Dask cluster; returns one row per input (files refused while planning,
    ``failed``, included) and writes them to ``summary`` (CSV; tracebacks in its ``.log``).
    ``decisions``: each model's backend as the plan decided it (jobs/plan.py), carried out;
    ``runs``: the backends already built from them (``Chosen`` per model folder; the caller then
    ran :func:`check_cluster` before building them). Each job runs its own ``opts.tile`` and
    ``layout``, as the plan decided them."""
    if runs is None:
        check_cluster(jobs, scheduler, summary)
    rows = [{"file": str(f), "status": "failed", "seconds": 0.0, "mpix": 0.0, "output": "",
             "error": why} for f, why in failed]
    # Decided here once, named to every worker; measured only for a large run (policy.probes)
    # (as without --workers), announced through ``announce``.
    runs = runs or prepare_backends(jobs, backend, precision, threads, announce=announce, decisions=decisions)
    chosen = {folder: (be.name, be.precision) for folder, be in runs.items()}
    log = log_path(summary) if summary is not None else Path(os.devnull)
    with _dask_log_to(log):
        rows += _compute(jobs, chosen, threads, scheduler, workers, retries, strips, log, progress)
    if summary is not None:
        write_summary(rows, summary)
    return rows


def _compute(jobs: list[Job], chosen: dict, threads: int | None, scheduler: str | None,
             workers: int | None, retries: int, strips: int | None, log: Path,
             progress: Callable[[int], Callable[[], None]] | None) -> list[dict]:
    """Submit every (strip) task and collect one row per job; strip folders never outlive it."""
    from distributed import as_completed
    client, cluster, scratch = _cluster(scheduler, workers)
    plan: dict[Path, dict] = {}
    rows: list[dict] = []
    futures: dict = {}
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or (workers or 1))
        per_thread = threads or max(1, (os.cpu_count() or 1) // n_workers)
        # strips per file: --strips, else enough to give every worker a task
        k = strips or (max(1, math.ceil(n_workers / len(jobs))) if jobs and len(jobs) < n_workers else 1)
        for job in jobs:
            b, p = chosen[job.spec.folder]
            ranges = strip_ranges(job.size[0], k) if k > 1 else [None]
            tmp = temp_folder_beside(job.dst, "strips") if len(ranges) > 1 else None
            plan[job.dst] = {"job": job, "parts": [], "tmp": tmp, "left": len(ranges), "error": None,
                             "seconds": 0.0, "mpix": 0.0, "t0": time.perf_counter(), "notes": []}
            for i, r in enumerate(ranges):
                dst = str(tmp / f"strip{i:04d}.tif") if tmp else None
                fut = client.submit(_task, job, b, p, per_thread, r, dst, retries=retries, pure=False,
                                    key=f"predict-{job.src.name}-{i}-{uuid.uuid4().hex[:6]}")
                futures[fut] = job
                plan[job.dst]["parts"].append(dst)
        tick = progress(len(futures)) if progress else None
        for fut in as_completed(futures):
            st = plan[futures[fut].dst]
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - any failure of a file is reported, not raised
                res = {"error": _unexpected(e, fut, futures[fut], log), "mpix": 0.0}
            st["mpix"] += res["mpix"]
            st["error"] = st["error"] or res.get("error")
            # per image, not per strip: every strip of a file repeats the same guard note
            st["notes"] += [n for n in res.get("notes", []) if n not in st["notes"]]
            st["ran"] = st.get("ran") or {k: res[k] for k in ("backend", "tile") if k in res}
            st["left"] -= 1
            if tick:
                tick()
            if st["left"] == 0:
                rows.append(_finish(st, time.perf_counter() - st["t0"]))
    finally:
        try:
            client.cancel(list(futures))
        finally:
            _close(client, cluster, scratch)
            for st in plan.values():  # an interrupted run leaves no strips behind
                if st["tmp"] is not None:
                    shutil.rmtree(st["tmp"], ignore_errors=True)
    return rows


def _unexpected(e: BaseException, fut, job: Job, log: Path) -> str:
    """One line for a failure that is not the file's fault; its traceback goes to ``log``."""
    first = str(e).splitlines()[0][:200] if str(e) else ""
    tb = fut.traceback() if hasattr(fut, "traceback") else None
    if log != Path(os.devnull):
        with open(log, "a") as f:
            f.write(f"--- {job.src}: {type(e).__name__}: {first}\n"
                    + "".join(traceback.format_exception(type(e), e, tb)) + "\n")
    return f"{type(e).__name__}: {first}" + (f" (traceback in {log})" if log != Path(os.devnull) else "")


def _finish(st: dict, seconds: float) -> dict:
    job = st["job"]
    try:
        if st["error"] is None and st["tmp"] is not None:
            parts = [Path(p) for p in st["parts"]]
            for k in ["", *(f"_{i}" for i in job.opts.indices)]:  # the index rasters beside each strip alike
                assemble([p.with_name(f"{p.stem}{k}{p.suffix}") for p in parts],
                         job.dst.with_name(f"{job.dst.stem}{k}{job.dst.suffix}"), job.opts.cog, job.opts.creation)
    except Exception as e:  # noqa: BLE001
        st["error"] = f"assembling the strips failed: {e}"
    finally:
        if st["tmp"] is not None:
            shutil.rmtree(st["tmp"], ignore_errors=True)
    ok = st["error"] is None
    return {"file": str(job.src), "status": "ok" if ok else "failed", "seconds": round(seconds, 2),
            "mpix": round(st["mpix"], 3), "output": str(job.dst) if ok else "", "error": st["error"] or "",
            "note": " | ".join(st.get("notes", [])) if ok else "",
            "backend": st.get("ran", {}).get("backend", ""), "tile": st.get("ran", {}).get("tile", "")}


def write_summary(rows: list[dict], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["file", "status", "seconds", "mpix", "output", "error", "note", "backend", "tile"],
                       restval="", extrasaction="ignore")  # a row may say more (a local row's tile count)
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(Path(path), buf.getvalue().encode())
