"""The one engine of a fit at the place: the backend rule, the tile rule, the engine's job for a
fit's bundle, its serving through ``bandbridge predict``'s own branches (here, or on Dask) with
the options of ``jobs/predict.Engine``, and the work folder a run keeps its files in.

Every kind (``place/kinds.py``) serves its bundles through :func:`serve`; none builds a backend,
a tiling or a job of its own."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from bandbridge.errors import BandbridgeError
from bandbridge.inference.jobs.predict import Engine
from bandbridge.learners.scene_fit import HALO
from bandbridge.policy import FIT_BLOCK_PX, FIT_TILE, ONE_TILE_THREADS, SMALL_BACKEND

OVERLAP = 2 * (HALO + 10)  # px between tiles: the context windows' reach and the blend's ramp


def tile_for(height: int, width: int) -> int:
    """The tile of a fit's bundle on an image of ``height × width``: the image in as few equal tiles as
    :data:`FIT_TILE` allows, with their overlap, a multiple of 32 px (a 1068² image: 576² tiles, not 1024²
    ones overlapping by 980 px); a small image's tile still holds its overlaps."""
    side, n = max(height, width), 1
    while (tile := -(-(-(-(side + (n - 1) * OVERLAP) // n)) // 32) * 32) > FIT_TILE:  # n tiles cover the side
        n += 1
    return max(tile, 4 * OVERLAP)


def strip_bytes(side: int, width: int, channels: int) -> float:
    """A fit's engine's strips (bytes): three ``side``-high float32 strips of a column block of ``channels``."""
    return 3 * 4 * side * min(width, FIT_BLOCK_PX) * channels


def tile_words(tile: int) -> str:
    return (f"{tile}² overlapping by {OVERLAP} px (the fit's own: the image in as few equal tiles as {FIT_TILE}² "
            "allows; a model made for one run is not measured for a larger tile)")


def decide(pixels: int, engine: Engine):
    """The backend a fit's bundle runs on (``runtime/select.Decision``), decided before the fit from
    what any fit may choose, for an output of ``pixels``: below ``policy.EVERYWHERE_MPIX`` and not
    asked, :data:`SMALL_BACKEND` (no graph exported or checked at that size); else among the backends every
    learner the fit may choose runs on (``learners/scene_fit``'s candidates; ≥ ``EVERYWHERE_MPIX``:
    only those every backend serves), at fp32 unless asked, the likely fastest by this machine's
    record of earlier probes; never probed (a bundle made for one run). A ``--backend``/
    ``--precision`` no such learner runs on: one line."""
    from bandbridge.inference.runtime.backends import check_choice, openvino_bf16
    from bandbridge.inference.runtime.select import Decision, rank
    from bandbridge.learners.base import BACKENDS, TARGETS
    from bandbridge.learners.guided import CANDIDATES, EVERYWHERE, configured
    from bandbridge.machine import cpu_has_bf16
    from bandbridge.policy import EVERYWHERE_MPIX
    b, p = engine.backend, engine.precision
    check_choice(b, p)
    large = pixels >= EVERYWHERE_MPIX * 1e6
    if not large and (b, p) == ("auto", "auto"):
        return Decision(*SMALL_BACKEND, "unmeasured", f"{' '.join(SMALL_BACKEND)}: the reference backend for a fit "
                        f"served on under {EVERYWHERE_MPIX:g} MPix, which serves whichever learner the fit chooses as fitted: at that "
                        "size no other backend is tried, so no graph is exported or checked")
    on = frozenset.intersection(*(type(c).runs_on for c in configured(EVERYWHERE if large else CANDIDATES)))
    want = "fp32" if p == "auto" else p
    pairs = [("torch", "fp32"), ("openvino", "fp32"), ("onnx", "fp32"), ("openvino", "int8"), ("onnx", "int8")] + \
        ([("openvino", "bf16")] if openvino_bf16() else []) + ([("torch", "bf16")] if cpu_has_bf16() else [])
    pairs = [(x, q) for x, q in pairs if q == want and b in ("auto", x) and {x, q} <= on]
    if not pairs:
        kinds = "every learner the fit may choose" if large else "boosted trees, which the fit may choose,"
        raise BandbridgeError(f"--backend {b} --precision {p}: {kinds} run on "
                              f"{' or '.join(x for x in BACKENDS if x in on)} at "
                              f"{' or '.join(sorted(on - set(BACKENDS)))} only; use one of those (or --backend auto)")
    x, q = rank(pairs, engine.threads)[0]
    how = "as asked (--backend, --precision)" if b != "auto" and p != "auto" else \
        f"the fastest at {q} {'that every learner it may choose runs on ' if on != TARGETS else ''}by this " \
        "machine's record of earlier probes (a fit made for this run: not probed)"
    return Decision(x, q, "asked" if b != "auto" and p != "auto" else "ranked", f"{x} {q}: {how}")


def graph_agrees(spec, d, say: Callable[[str], None]):
    """``d``, or torch fp32 where ``d`` was chosen for the user (not asked) and the fit's graph does
    not pass the export check (``runtime/export``: within 1e-4 of torch on random inputs): a fill's
    design computed from the raw stack holds runs of one value on random inputs, where the context
    features' deviation amplifies the runtimes' rounding (1.2e-4 on 0.02 % of pixels, measured). The
    graph is built into the cache here, where the engine then finds it."""
    from bandbridge.inference.runtime.graphs import graph_file
    from bandbridge.inference.runtime.select import Decision
    if d.backend == "torch" or d.how == "asked":
        return d
    try:
        graph_file(spec, "fp32")
    except BandbridgeError as e:
        why = f"{d.backend} {d.precision} was the choice, but the fit's graph failed the export check ({e})"
        say(f"backend: torch fp32 instead: {why}")
        return Decision("torch", "fp32", d.how, f"torch fp32: {why}")
    return d


def job(spec, src: Path, dst: Path, size: tuple[int, int], tile: int, note: str, only: Path | None = None,
        read=None):
    """The engine's job for a fit's bundle: ``src`` into ``dst`` (float32 model values, a work file)
    on ``tile``² tiles; ``only``: a uint8 raster marking the tiles to run (None: all); ``read``:
    how the input is read (``core/options.InputReading``; None: as the bundle says)."""
    from bandbridge.inference.core.options import PredictOptions, StripControl
    from bandbridge.inference.jobs.job import Job
    opts = PredictOptions(tile=tile, overlap=OVERLAP, dtype="float32", creation={"compress": "none"}, replace=True,
                          strip=StripControl(block_px=FIT_BLOCK_PX, only=str(only) if only is not None else None))
    if read is not None:
        opts = dataclasses.replace(opts, read=read)
    return Job(src, dst, spec, None, opts, note, size)


def own_output(job, model, dst: Path, note: str):
    """The engine's job for a model's own output of ``job`` into the work file ``dst`` (its target's model
    values, float32), on the backend and tiles ``model`` (``jobs/plan.PredictPlan``: as plain predict plans
    them) decided, served like any job (here or on Dask): the reference's zero-shot pass, ``sharpen -m``'s guide."""
    from bandbridge.inference.place.fields import FAST
    t = model.tiling.get(job.spec.folder)
    tile = t.tile if t is not None and t.tile else job.opts.tile or job.spec.config.inference.tile
    opts = dataclasses.replace(job.opts, dtype="float32", append=False, indices=(), cog=False, confidence=False,
                               creation=FAST, replace=True, tile=tile)
    return dataclasses.replace(job, dst=dst, opts=opts, layout=None, note=note)


def serve(jobs: list, engine: Engine, backend, say: Callable[[str], None], labels: dict | None = None,
          add=None, summary: Path | None = None) -> list[dict]:
    """``jobs`` (:func:`job`) through predict's own branches (``jobs/predict.serve``: here, or on
    ``engine.cluster``, whose ``summary`` CSV then gets their rows) on ``backend`` (decided in the
    plan, :func:`decide`; checked by :func:`graph_agrees`) and each job's own tile; one row per job.
    A job that failed on a cluster is refused in one line."""
    from bandbridge.inference.jobs.predict import serve as predict_serve
    from bandbridge.inference.jobs.tiles import Tiling
    if not jobs:
        return []
    backends = {j.spec.folder: graph_agrees(j.spec, backend, say) for j in jobs}
    tiling = {j.spec.folder: Tiling(j.opts.tile, "own", tile_words(j.opts.tile)) for j in jobs}
    one = all(max(j.size) <= j.opts.tile for j in jobs)
    if engine.threads is None and one:
        engine = dataclasses.replace(engine, threads=ONE_TILE_THREADS)
    kw = {"add": add} if add is not None else {}
    told = lambda line: None if line.startswith("backend: ") else say(line)  # noqa: E731 - the plan's block said it
    rows = predict_serve(jobs, backends, tiling, labels or {j.dst: j.note for j in jobs}, engine, summary, told, **kw)
    bad = [r for r in rows if r.get("status") != "ok"]
    if bad:
        raise BandbridgeError(f"{jobs[0].note} could not be predicted: {bad[0]['error']}"
                              + (f" (tracebacks beside {summary})" if summary else ""))
    return rows


def summary_path(dest: Path, engine: Engine) -> Path | None:
    """A cluster run's summary CSV (``--summary``, else beside the output); None here."""
    from bandbridge.inference.jobs.predict import summary_path as predict_summary
    return predict_summary(dest, engine.cluster) if engine.on_cluster else None


def where(engine: Engine) -> str:
    """Where the engine runs, in words."""
    c = engine.cluster
    return ("here" if not engine.on_cluster else f"on the Dask scheduler {c.scheduler}" if c.scheduler else
            f"on a local Dask cluster of {c.workers} worker(s)")


def work_root(dest: Path, engine: Engine) -> Path:
    """Where a run's work folder goes (:func:`work_folder`): beside the output for a cluster, else the temp folder
    (``TMPDIR``, as ``tempfile`` finds it)."""
    return Path(dest).resolve().parent if engine.on_cluster else Path(tempfile.gettempdir())


_FIX = "free some space there or point TMPDIR at a folder on a disk with room (TMPDIR=/path/to/space bandbridge …)"


def _fix(engine: Engine) -> str:
    return "free some space there or write the output on a disk with room" if engine.on_cluster else _FIX


def check_space(dest: Path, engine: Engine, need: float, what: str) -> None:
    """Refuse in one line, before any work, a run whose work folder's disk has less free space than ``need``
    bytes (``plan.Disk.need``; ``what`` its files in words): the folder, both figures and the fix."""
    root = work_root(dest, engine)
    free = _free(root)  # None: a folder that cannot be asked; the run finds out at its first write (work_failures)
    if free is not None and free < need:
        raise BandbridgeError(f"the work folder's disk {root}: the run's work files need {need / 1e9:.2f} GB "
                              f"({what}) and {free / 1e9:.2f} GB is free; {_fix(engine)}; nothing was written")


@contextmanager
def work_failures(work: Path, engine: Engine) -> Iterator[None]:
    """A work file that could not be written or read back (a full disk: ENOSPC, GDAL's words for it, or a raster
    error while that disk is nearly full) as one line naming the work folder and the fix; any other error as it is.
    The work folder is removed by :func:`work_folder` either way."""
    from bandbridge.errors import BandbridgeError as Said
    from bandbridge.fileio import disk_full_message
    from bandbridge.inference.core.writer import WRITE_ERRORS
    from bandbridge.policy import WORK_DISK_LOW
    try:
        yield
    except Said:
        raise
    except WRITE_ERRORS as e:
        text = " ".join(str(x) for x in (e, getattr(e, "filename", None), e.__cause__) if x)
        free = _free(work.parent)
        low = free is not None and free < WORK_DISK_LOW  # a raster error on a nearly full disk: GDAL rarely says why
        if not (low or (disk_full_message(e, work) is not None and str(work) in text)):
            raise
        first = (str(e).splitlines() or [type(e).__name__])[0][:160]
        room = "" if free is None else f"; {free / 1e6:.1f} MB free there"
        raise BandbridgeError(f"the work folder {work.parent}: a work file could not be written or read back "
                              f"({first}{room}); {_fix(engine)}; nothing was written (the work folder removed)") from None


def _free(folder: Path) -> float | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


@contextmanager
def work_folder(dest: Path, engine: Engine, kind: str) -> Iterator[Path]:
    """A run's work folder: beside the output where a cluster's workers must read it, else in the
    temp folder (:func:`work_root`); removed at the end whatever happens, with every bundle in it forgotten by
    the cache."""
    from bandbridge.inference.runtime.cache import forget
    if engine.on_cluster:
        from bandbridge.fileio import temp_folder_beside
        work = temp_folder_beside(dest, kind)
    else:
        work = Path(tempfile.mkdtemp(prefix=f"bandbridge-{kind}-"))
    try:
        yield work
    finally:
        for f in work.rglob("model.yaml"):
            forget(f.parent)
        shutil.rmtree(work, ignore_errors=True)
