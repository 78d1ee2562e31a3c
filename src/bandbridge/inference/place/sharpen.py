"""``bandbridge sharpen FINE… --reference COARSE -o OUT``: every band of a coarse raster sharpened
onto the grid of the finest guide, from every band of the fine rasters, on the one engine.

The guides and targets are read (``sharpen_read.py``: every refusal before any work) and the plan
stated; the guides are averaged onto the reference's grid, strip by strip; the routes of every
target are decided at the reference's scale (``learners/sharpen.py``: one fit for all targets,
a route per band, checked one Wald step down); where any band takes the fit, the fit is saved as
one bundle with one output per target (``Anchored(learner, FillBase)``, the upsampled reference
bands its anchor: ``fill_engine.bundle``) and served by the engine like any model (here, or on a
Dask cluster with ``--workers``/``--scheduler``); ``sharpen_finish.py`` writes each band by its
route, in the reference's stored units. :func:`sharpen` is that sequence.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.data.grids import extent_share
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.fill_engine import FILL_TILE, OVERLAP, EngineOptions
from bandbridge.inference.place.sharpen_read import Guides, Targets, open_guides, open_targets


FORMATS = {".tif": "GeoTIFF", ".tiff": "GeoTIFF"}  # what sharpen writes: the reference's bands in its type,
# scale, offset and tags, which neither a picture, a VRT nor a NetCDF written under the GTiff driver is
ONE_TILE_THREADS = 1  # the engine's threads where the fit's image is one tile and --threads is not given: its
# forward is too small to share between threads; a 600² run's engine stage took 1.0 CPU-s (1.5 s) on one
# thread against 1.6-1.9 CPU-s (2.2-2.4 s) on two (benchmarks/sharpen_speed.py inputs, a busy 2-core machine)
FIT_BYTES = 0.3e9  # what the fit adds to a process at its peak whatever the cells (the sample's features, its
# learners' libraries): a 600² run's fit stage rose 0.31 → 0.55 GB (benchmarks/sharpen_speed.py --size 600)
FIT_CELL_BYTES = 8.0  # and per reference cell and channel (targets + guides): at 10980² (30.2 M cells, 6 targets,
# 4 guides; benchmarks/sharpen_speed.py at f68b488, decide on a window of 1 M cells) the fit stage peaked 2.2 GB
# above the plan's resident and held arrays: 7 B. Before decide's window (7fa70b3) it rose 4.7 → 14.3 GB
TILE_PX_BYTES = 1100.0  # the engine's forward of one tile per pixel (the context features of 10 channels, float32,
# their concatenation and the learner's): a 600² run's engine stage (one 664² tile, torch) rose 0.55 → 0.82 GB
# (620 B); at 4096² (benchmarks/sharpen_speed.py inputs, OpenVINO fp32, 920² tiles, stop 81) one run rose from
# 0.99 GB resident at the engine's start to 2.46 GB (880 B beside the strips' 0.72 GB), eight runs peaked 2.46-2.66 GB:
# 1100 B plans 2.70 GB there (620 B planned 2.29)


@dataclass
class SharpenPlan:
    """What a run will do, decided before any work."""

    guides: Guides
    targets: Targets
    output: Path
    backend: object  # runtime/select.Decision of the fit's bundle (fill_engine.EngineOptions.decision)
    resident: float = 0.0  # this process's resident bytes when the plan was made (the targets read)
    cog: bool = False  # the output a Cloud-Optimized GeoTIFF (--cog), through the one writer
    shift: object = "auto"  # --reference-shift: "auto", "none" or (dy, dx) (sharpen_shift.parse_shift)
    registered: str = ""  # what the run measured and did to the reference's grid (its line, the output's tag)

    @property
    def tile(self) -> int:
        """The fit's tile: the image cut into as few tiles as :data:`~bandbridge.inference.place.fill_engine.
        FILL_TILE` allows, of equal size, with their overlap, a multiple of 32 px (a 1068² image: 576² tiles,
        not 1024² ones overlapping by 980 px; 8.7 CPU-s against 9.1, the same output)."""
        side = max(self.guides.fine.height, self.guides.fine.width)
        n = 1
        while (tile := -(-(-(-(side + (n - 1) * OVERLAP) // n)) // 32) * 32) > FILL_TILE:  # n tiles cover the side
            n += 1
        return max(tile, 4 * OVERLAP)  # a small image's tile still holds its overlaps

    def lines(self) -> list[str]:
        """The plan in words: the grids, and per band the guides and the route candidates."""
        from bandbridge.learners.guided import can_fit
        from bandbridge.learners.sharpen import STEP, TRANSFER_MIN, UPSAMPLERS
        from bandbridge.learners.sharpen_routes import SHARE
        from bandbridge.policy import FIT_CELLS_MIN, FIT_DEGRADED_MIN, MIN_COVER
        g, t = self.guides, self.targets
        f, rg = g.fine, t.grid
        n = int((t.valid & (t.covered >= MIN_COVER)).sum())
        warped = g.warped()
        out = [f"guides: {', '.join(g.names)} on a {f.height}×{f.width} grid"
               + (f" ({', '.join(warped)} warped onto it, bilinear)" if warped else ""),
               f"reference: {Path(t.path).name}, {len(t.names)} band(s) {', '.join(t.names)} ({t.dtype}"
               + (f", in {'/'.join(sorted({u for u in t.units if u}))}" if any(t.units) else "") + "); "
               f"{rg.height}×{rg.width} pixels read over the guides, k = {t.k:.2f}; {n:,} clear cells the guides cover",
               shift_plan(self.shift)]
        ups = "/".join(UPSAMPLERS)
        line = (f"a line of the guides where, out of fold one Wald step down, it leaves at most {SHARE:.2g} of the "
                "best upsampling's error")
        if n / t.k ** 2 < FIT_DEGRADED_MIN:
            route = (f"{n:,} clear cells, too few to fit on or to choose an upsampling by (under {FIT_DEGRADED_MIN} "
                     f"once averaged by k): {line}, else cubic upsampling")
        elif not can_fit(n, t.k):
            route = (f"{n:,} clear cells, too few to fit on (at least {FIT_CELLS_MIN:,}): {line}, else the upsampled "
                     f"reference ({ups}, with or without the consistency correction, whichever holds out better)")
        else:
            down = next((s for s in (t.k, STEP) if n / s ** 2 >= TRANSFER_MIN), None)
            check = (f"and one Wald step down (×{down:g}: {int(n / down ** 2):,} cells)" if down else
                     "but one Wald step down holds too few cells to check it: no fit will be taken")
            route = (f"the fit (one for all bands) where it beats {ups} upsampling held out at the reference's scale "
                     f"{check}; else {line}; else the best upsampling; each with the consistency correction where it "
                     "holds out better")
        out += [f"{name}: from {', '.join(g.names)}; {route}" for name in t.names]
        tile = f"{self.tile}² tiles overlapping by {OVERLAP} px"
        out.append(f"where a band takes the fit, one bundle with {len(t.names)} outputs runs on {self.backend.note}, "
                   f"{tile}")
        out.append(f"output: {self.output} ({'a COG, ' if self.cog else ''}{len(t.names)} band(s), {t.dtype}, the "
                   "reference's scale and offset)")
        from bandbridge.inference.core.outputs import ROWS
        out.append(f"memory: planned under {self.peak() / 1e9:.2f} GB peak (the reference's cells, the fit, "
                   f"strips of {ROWS} rows, the engine's tiles; no guide is read whole)")
        return out

    def peak(self) -> float:
        """The peak the run is planned under (bytes): what the process holds now (the targets read)
        and, to the end, the guides' averages, their cover, the filled reference and its clear cells
        on the reference's grid; plus the largest of the stages that run one after another: the
        guides' averages (their float64 sums, strips of ``ROWS`` rows), the fit (:data:`FIT_BYTES`
        and :data:`FIT_CELL_BYTES` a cell and channel, measured), and, with the fit's libraries
        still loaded (:data:`FIT_BYTES`), the engine's tiles (a tile-high strip of the work file and
        the output three times, and the forward of one tile: :data:`TILE_PX_BYTES` a pixel,
        measured) or the finish (the cell means' float64 sums, the residual and its rest, strips of
        every target six times over); after the fit, the lines' low-pass where a band takes its line
        (one float32 field a target on the reference's grid, ``Sharpening.low``)."""
        from bandbridge.inference.core.outputs import ROWS
        h, w = self.targets.grid.height, self.targets.grid.width
        n, ct, gd = h * w, len(self.targets.names), len(self.guides.names)
        big_w = self.guides.fine.width
        held = n * (4 * gd + 4 + 4 * ct + 1)
        reading = n * (8 * gd + 8) + 3 * 4 * ROWS * big_w * gd
        fit = FIT_BYTES + FIT_CELL_BYTES * n * (ct + gd)
        side = self.tile + 2 * OVERLAP
        engine = TILE_PX_BYTES * side ** 2 + 3 * 4 * side * big_w * (2 * ct + gd)
        finish = n * (8 * ct + 8 + 8 * ct) + 6 * 4 * ROWS * big_w * ct
        low = 4 * ct * n
        return self.resident + held + max(reading, fit, FIT_BYTES + low + max(engine, finish))


@dataclass
class BandResult:
    """One target as written: its route and errors in the reference's stored units."""

    name: str
    route: str
    heldout_mae: float  # the route's held-out MAE at the reference's scale
    upsampled_mae: float  # the best upsampled route's
    transfer_mae: float  # the route's one Wald step down (NaN: not checked)
    why: str


@dataclass
class SharpenResult:
    output: Path
    bands: list[BandResult] = field(default_factory=list)
    learner: str = ""
    seconds: float = 0.0


def plan_sharpen(fine: list[str], reference: str, output: str, guides: list[str] | None = None,
                 bands: list[str] | None = None, overwrite: bool = False,
                 engine: EngineOptions = EngineOptions(), model: str | None = None, cog: bool = False) -> SharpenPlan:
    """Open every input (each refusal in one line) and decide the fit's backend: the plan."""
    from bandbridge.data.reads import check_output_file
    dst = Path(output)
    if not fine:
        raise BandbridgeError("FINE: give at least one fine raster (or band folder) as the guides")
    # the output holds the reference's bands, units and tags, which only a GeoTIFF keeps; never an input
    check_output_file(dst, [*fine, reference, model], overwrite, formats=FORMATS, command="sharpen")
    g = open_guides(fine, guides)
    if model:  # the model's output band(s) join the guides (sharpen_model.py)
        from bandbridge.inference.place.sharpen_model import with_model
        g = with_model(g, fine, model)
    t = open_targets(reference, bands, g.fine, lambda head: SharpenPlan(g, head, dst, None))  # memory, from headers
    from bandbridge.inference.runtime.memory import resident_bytes
    return SharpenPlan(g, t, dst, engine.decision(g.fine.height * g.fine.width),  # the fill's rule: one for both
                       float(resident_bytes() or 0), cog)


def sharpen(fine: list[str], reference: str, output: str, guides: list[str] | None = None,
            bands: list[str] | None = None, overwrite: bool = False, engine: EngineOptions = EngineOptions(),
            plan_only: bool = False, seed: int = 0, say: Callable[[str], None] = lambda s: None,
            model: str | None = None, plan: SharpenPlan | None = None, cog: bool = False,
            reference_shift: str | tuple = "auto") -> SharpenResult | None:
    """Sharpen every band of ``reference`` (``bands``: only these) onto the finest grid of ``fine``
    (``guides``: only these bands) into ``output``; ``plan_only``: say the plan and write nothing
    (None); ``plan``: one :func:`plan_sharpen` made already (its arguments then only say ``model``); ``cog``:
    the output a Cloud-Optimized GeoTIFF; ``reference_shift``: ``--reference-shift`` (``auto``, ``none`` or
    ``X,Y``: ``sharpen_shift.py``). Returns what was written, band by band."""
    from bandbridge.inference.place.sharpen_shift import parse_shift
    t0 = time.perf_counter()
    how = parse_shift(reference_shift)  # a bad value refused before any read
    plan = plan or plan_sharpen(fine, reference, output, guides, bands, overwrite, engine, model, cog)
    plan.shift = how
    for line in plan.lines():
        say(line)
    if plan_only:
        return None
    if engine.on_cluster:  # the workers read the work files: beside the output
        from bandbridge.fileio import temp_folder_beside
        work = temp_folder_beside(plan.output, "sharpen")
    else:
        work = Path(tempfile.mkdtemp(prefix="bandbridge-sharpen-"))
    try:
        if model:  # the model's output on the fine raster, a guide (deleted with the work folder)
            from bandbridge.inference.place.sharpen_model import run_model
            run_model(plan, fine, model, work, engine, say)
        res = _run(plan, work, engine, seed, say)
    finally:
        from bandbridge.inference.runtime.cache import forget
        for f in work.glob("*/model.yaml"):
            forget(f.parent)
        shutil.rmtree(work, ignore_errors=True)
    res.seconds = time.perf_counter() - t0
    return res


def coarse_guides(g: Guides, t: Targets) -> tuple[np.ndarray, np.ndarray]:
    """``(x↓ (G, h, w) stored values, cover (h, w))``: the guides area-averaged onto the reference's
    grid over their valid pixels, strip by strip, and the share of each cell they cover (by sums over
    each cell's pixels where the grids share a lattice: at 10980² the stage took 29.0 CPU-s and peaked at
    4.70 GB with GDAL's sums, 14.3–20.4 CPU-s and 4.0–4.1 GB with these; most of what is left is the reads)."""
    from bandbridge.inference.place.sharpen_finish import Lattice
    return Lattice.of(g.fine, t.grid).means(g.read)


def check_guides(x_c: np.ndarray, cover: np.ndarray, g: Guides) -> None:
    """Refuse a guide band of one value over the reference (it guides nothing), naming it."""
    ok = cover > 0
    for i, name in enumerate(g.names):
        v = x_c[i][ok & np.isfinite(x_c[i])]
        if v.size and np.ptp(v) == 0:
            raise BandbridgeError(f"FINE {g.bands[i].path}: its band {name} is one value ({v[0]:.6g}) everywhere over "
                                  "the reference: it guides nothing; leave it out with --guides")
        if not v.size:
            raise BandbridgeError(f"FINE {g.bands[i].path}: its band {name} has no valid pixel over the reference; "
                                  "give guides of the same place")


def shift_plan(how) -> str:
    """The plan's line on the reference's grid, by ``--reference-shift``'s value (``sharpen_shift.py``)."""
    from bandbridge.inference.place.sharpen_shift import FLAG, flag_value
    from bandbridge.policy import HALF_PIXEL_TOL
    if how == "none":
        return (f"the reference's grid as its files state it ({FLAG} none); a band the guides look shifted against "
                "on strong evidence keeps its upsampling")
    if how != "auto":
        return f"the reference's grid moved by {flag_value(*how)} of its pixels (X,Y), as {FLAG} asks"
    return (f"the reference's grid against the guides' measured first: half a pixel (within {HALF_PIXEL_TOL:g}) "
            f"on strong evidence is a corner/centre convention error, corrected and said ({FLAG} none keeps it "
            "as stated); another shift is not corrected, and a band the guides look shifted against keeps its "
            "upsampling")


UNITS_CELLS = 1 << 20  # reference cells the guides' units (their 0.1-99.9 % range) are taken from, every step-th
# row and column of a larger grid: at 10980² (30 M cells, 4 guides) the median and percentiles of every cell
# took 9.7 s, of every fifth row and column 0.3 s, the range within 0.2 % of its span
def _run(plan: SharpenPlan, work: Path, engine: EngineOptions, seed: int, say: Callable[[str], None]) -> SharpenResult:
    """The passes: the guides' averages, the decision, the work file, the engine, the output."""
    from bandbridge.inference.place.sharpen_finish import best_upsampling, finish, stored_units, write_channels
    from bandbridge.inference.place.sharpen_shift import misregistered, registered
    from bandbridge.learners.sharpen import Headroom, decide, route_words
    from bandbridge.policy import MIN_COVER
    g, t = plan.guides, plan.targets
    clock = Clock()
    x_c, cover = coarse_guides(g, t)
    check_guides(x_c, cover, g)
    clock.mark("reading")
    units = stored_units(t)  # every number on a line in these
    dy, dx, plan.registered = registered(g, t, x_c, cover, plan.shift, units)
    say(plan.registered)
    if (dy, dx) != (0.0, 0.0):  # the targets' grid moved, the guides averaged onto it again
        t.grid = t.grid.shifted(dy, dx)
        t.covered = extent_share(g.fine, t.grid)
        x_c, cover = coarse_guides(g, t)
    clock.mark("the grid's registration")
    step = max(1, int(np.sqrt(cover.size / UNITS_CELLS)))  # the guides' units from every step-th cell
    xs, ok = x_c[:, ::step, ::step], (t.valid & (cover >= MIN_COVER))[::step, ::step]
    gunits = Headroom(np.nan_to_num(xs, nan=np.nanmedian(xs)), ok)
    s = decide(gunits.to_model(x_c), t.values, t.valid, cover, t.grid, t.k, t.names,
               pixels_out=g.fine.height * g.fine.width, seed=seed, guide_units=gunits, unit_names=units)
    clock.mark("the fit")
    shifted = misregistered(g, t, x_c, cover, [i for i, b in enumerate(s.bands) if b.guided], units, (dy, dx))
    clock.mark("the shift test")
    for i, why in shifted.items():
        s.bands[i].upsampled(why)
    if not s.fitted:
        s.learner = None
    for b in s.bands:
        say(f"{b.name}: {b.route} ({route_words(b.route)}): {b.why}")
    first = None
    if s.fitted:
        say(f"the fit: {s.chosen} on {s.cells:,} clear cells, one for all {len(t.names)} bands")
        channels = write_channels(g, gunits, s, work / "channels.tif")
        clock.mark("the work file")
        first = _serve(plan, s, channels, work, engine, say)
        clock.mark("the engine")
    finish(plan, s, first, coarse=(x_c, cover))
    clock.mark("the output")
    out = SharpenResult(plan.output, learner=s.chosen if s.fitted else "")
    for b in s.bands:
        out.bands.append(BandResult(b.name, b.route, b.stored(), b.stored(best_upsampling(b)),
                                    b.stored(scale="transfer"), b.why))
    say(f"written: {plan.output}")
    say(f"time: {clock}")
    return out


class Clock:
    """Wall and CPU seconds (this process's, every thread) of the run's stages and the process's peak
    resident memory at the end of each, in words."""

    def __init__(self) -> None:
        self.at, self.stages = (time.perf_counter(), time.process_time()), []

    def mark(self, stage: str) -> None:
        import resource
        now = (time.perf_counter(), time.process_time())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux: GB
        self.stages.append((stage, now[0] - self.at[0], now[1] - self.at[1], peak))
        self.at = now

    def __str__(self) -> str:
        return "; ".join(f"{s} {w:.1f} s ({c:.1f} CPU-s, peak {p:.2f} GB)" for s, w, c, p in self.stages)


def _serve(plan: SharpenPlan, s, channels: Path, work: Path, engine: EngineOptions, say) -> Path:
    """The fit as one bundle with one output per target, predicted by the engine on the work
    file's channels; the engine's output (model values, float32)."""
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.place.fill_engine import bundle
    from bandbridge.inference.jobs.job import Job
    from bandbridge.inference.jobs.predict import Cluster, Run, serve
    from bandbridge.inference.jobs.tiles import Tiling
    from bandbridge.learners.fill_fit import Decision
    t, g = plan.targets, plan.guides
    ct = len(t.names)
    names = [f"{n} upsampled" for n in t.names] + g.names
    dec = Decision("fit", {}, "", s.cells, s.units, fitted=s.learner, channels=list(range(len(names))),
                   anchor=(np.ones(ct), np.zeros(ct)))
    record = {"reference": Path(t.path).name, "k": round(float(t.k), 3), "learner": s.chosen, "cells": s.cells,
              "routes": {b.name: b.route for b in s.bands}}
    spec = bundle(dec, names, t.names, work / "fit", record)
    dst = work / "first.tif"
    opts = PredictOptions(tile=plan.tile, overlap=OVERLAP, dtype="float32", creation={"compress": "none"},
                          replace=True)
    fine = g.fine
    job = Job(channels, dst, spec, None, opts, "the sharpener's fit", (fine.height, fine.width))
    tiling = {spec.folder: Tiling(plan.tile, "own", f"the sharpener's own: {plan.tile}², the image in as few equal "
                                  f"tiles as {FILL_TILE}² allows (a model made for one run is not measured for a "
                                  "larger tile)")}
    cluster = engine.cluster if engine.on_cluster else Cluster()
    summary = None if not engine.on_cluster else Path(cluster.summary) if cluster.summary else \
        plan.output.parent / "bandbridge-summary.csv"  # beside the output, as predict's and fill's
    one = max(fine.height, fine.width) <= plan.tile
    threads = engine.threads if engine.threads is not None or not one else ONE_TILE_THREADS
    rows = serve([job], {spec.folder: plan.backend}, tiling, {dst: "the sharpener's fit"},
                 Run(engine.backend, engine.precision, threads), cluster, summary, say)
    bad = [r for r in rows if r.get("status") != "ok"]
    if bad:
        raise BandbridgeError(f"the sharpener's fit could not be predicted: {bad[0]['error']}"
                              + (f" (tracebacks beside {summary})" if summary else ""))
    return dst
