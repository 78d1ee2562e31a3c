"""``bandbridge fill``'s fit served by the one engine: the decision (``learners/fill_fit.py``) saved
as a model bundle — ``Designed(FillDesign, Anchored(learner, FillBase))``: the design computed per tile
from the raw inputs stacked on the scene's grid (a VRT of the inputs and the flags, ``fill_stack.py``) —
and predicted by the engine's backends, tiles (their halo
covers the context windows), memory plan and Dask branch like any model, **only on the tiles that
hold a pixel to fill** (``StripControl.only``: a mask of the gap and the ring round it the edge
pass reads). The engine writes the fit's model values; ``fill_finish.py`` writes the output.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.learners.fill_fit import HALF, Decision
from bandbridge.learners.scene_fit import HALO

FILL_TILE = 1024  # px: the tile the fit's bundle runs (a model made for one run is not measured for
# a larger one; predict --reference's fit runs the same, reference_fit.FIT_TILE)
OVERLAP = 2 * (HALO + 10)  # px between tiles: the context windows' reach and the blend's ramp
BACKEND = ("torch", "fp32")  # a small gap's: the reference backend, which serves every learner as fitted


@dataclasses.dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """How the fit's bundle runs: ``--backend``, ``--precision``, ``--threads`` and a Dask cluster
    (``jobs/predict.Cluster``; None or unused: here)."""

    backend: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    cluster: object | None = None

    @property
    def on_cluster(self) -> bool:
        return self.cluster is not None and self.cluster.used

    def decision(self, pixels: int):
        """The backend the fit's bundle runs on (``runtime/select.Decision``), decided before the fit:
        ``place/reference_fit.fit_backend``'s rule for a learner bundle — among the backends every
        learner the fit may choose runs on (for a gap of ``pixels`` ≥ ``policy.EVERYWHERE_MPIX``:
        only learners every backend serves), at fp32 unless asked, the likely fastest by this
        machine's record of earlier probes; never probed (a bundle made for one run)."""
        from bandbridge.inference.place.reference_fit import fit_backend
        from bandbridge.inference.runtime.select import Decision
        from bandbridge.policy import EVERYWHERE_MPIX
        if pixels < EVERYWHERE_MPIX * 1e6 and (self.backend, self.precision) == ("auto", "auto"):
            return Decision(*BACKEND, "unmeasured", f"{' '.join(BACKEND)}: the reference backend for a fit served on under "
                            f"{EVERYWHERE_MPIX:g} MPix, which serves whichever learner the fit chooses as fitted: at "
                            "that size no other backend is tried, so no graph is exported or checked")
        d = fit_backend(pixels, self.backend, self.precision, self.threads)
        why = ("as asked (--backend, --precision)" if d.how == "asked" else
               f"the fastest at {d.precision} by this machine's record among the backends every learner the fit may "
               "choose runs on (a fit made for this run: not probed)")
        return Decision(d.backend, d.precision, d.how, f"{d.backend} {d.precision}: {why}")


def graph_agrees(spec, d, say: Callable[[str], None]):
    """``d`` (``runtime/select.Decision``), or torch fp32 where ``d`` was chosen for the user (not asked)
    and the fit's graph does not pass the export check (``runtime/export``: within 1e-4 of torch on
    random inputs). The fill's bundle computes its design from the raw stack (``fill_design.py``), and
    on random inputs the design holds runs of one value (no date clear, SAR holes) where the context
    features' deviation amplifies the runtimes' rounding: the context MLP's graph differed by 1.2e-4
    on 0.02 % of pixels on tests/inference/test_fill_engine.py's scene (the design alone is exact).
    The graph is built into the cache here, where the engine then finds it."""
    from bandbridge.errors import BandbridgeError
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


def bundle(dec: Decision, channels: list[str], targets: list[str], folder: Path, record: dict,
           design: dict | None = None):
    """The decision's module saved as a bundle in ``folder``; its spec. Input: the raw stack's bands
    ``channels`` (``fill_stack.py``) read through ``minmax`` over the fit's feed (``fill_fit.feed_of``),
    the design computed from them in the bundle (``design``: ``models/fill_design.FillDesign``'s
    configuration, less the channels the fit reads; None: ``channels`` are the design's, as the sharpener's
    bundle reads its guides); output: the scene's bands ``targets`` in the fit's
    model values (written as float32)."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    from bandbridge.generators import build_generator
    from bandbridge.learners.saved import learner_value
    from bandbridge.models.fill_design import Designed
    from bandbridge.spec import read_spec
    k, c = len(channels), len(targets)
    learner = learner_value(dec.fitted.generator())
    cfg = {**design, "channels": list(dec.channels)} if design is not None else None
    args = {"bands": 0 if dec.route == "sar" else c, "half": HALF}  # a region's fit maps the base whatever the
    # scene's route (fill_fit.Decision.module); the SAR fit maps no date
    if cfg is not None:
        args["design"] = cfg
    module = build_generator("fill-base", k, c, args, 1, learner, None)
    module.load_state_dict((Designed(cfg, dec.module()) if cfg is not None else dec.module()).state_dict())
    src = {"name": "scene", "layout": "multiband", "files": ["scene.tif"],
           "input": {"bands": list(range(k)), "scaling": "minmax", "vmin": dec.feed[0], "vmax": dec.feed[1],
                     "band_names": channels},
           "target": {"bands": list(targets), "scaling": "minmax", "vmin": 0.0, "vmax": 1.0}}
    conf = build_config({"name": f"fill-{dec.route}", "data": {"root": ".", "sources": [src]},
                         "model": {"generator": {"name": "fill-base", "args": args, "learner": learner}},
                         "inference": {"tile": FILL_TILE, "overlap": OVERLAP}})
    save_bundle(folder, module.eval(), conf, k, c, epoch=-1, fill_fit=record)
    return read_spec(folder)


Window = tuple[int, int, int, int]  # row, column, height, width of the scene


def bounds(mask: np.ndarray, margin: int) -> Window:
    """The window of the scene holding every pixel of ``mask`` and ``margin`` px round them (the
    context windows' reach: a pixel's features there are the whole scene's), clipped to it."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    h, w = mask.shape
    r0, c0 = max(int(rows[0]) - margin, 0), max(int(cols[0]) - margin, 0)
    return r0, c0, min(int(rows[-1]) + 1 + margin, h) - r0, min(int(cols[-1]) + 1 + margin, w) - c0


def part(grid, win: Window | None):
    """``grid`` cut to ``win`` (the grid itself for None)."""
    if win is None:
        return grid
    from affine import Affine

    from bandbridge.data.grids import Grid
    return Grid(grid.crs, grid.transform @ Affine.translation(win[1], win[0]), win[2], win[3])


def stacked(guides: Path, channels: list[int], names: list[str], out: Path, grid, win: Window | None = None) -> Path:
    """A VRT of the stack's ``channels`` (``fill_stack.py``: the bundle's inputs, in its order), over the
    window ``win`` of the scene (all of it for None): no copy."""
    from bandbridge.inference.interop.vrt import Band, Source, write_vrt
    g = part(grid, win)
    cut = {} if win is None else {"dst": (0, 0, g.width, g.height), "src": (win[1], win[0], g.width, g.height)}
    bands = [Band("float32", [Source(guides, i + 1, **cut)], None, n) for i, n in zip(channels, names)]
    return write_vrt(out, g.width, g.height, g.crs, g.transform, bands)


def engine_job(spec, src: Path, dst: Path, only: Path, size: tuple[int, int]):
    """The engine's job for the fit's bundle: ``src`` (the VRT) into ``dst`` (float32 model
    values), only the tiles ``only`` marks, on :data:`FILL_TILE` tiles."""
    from bandbridge.inference.core.options import PredictOptions, StripControl
    from bandbridge.inference.jobs.job import Job
    opts = PredictOptions(tile=FILL_TILE, overlap=OVERLAP, dtype="float32", creation={"compress": "none"},
                          replace=True, strip=StripControl(only=str(only)))
    return Job(src, dst, spec, None, opts, f"the fill's fit ({spec.name})", size)


def run_engine(jobs: list, eo: EngineOptions, say: Callable[[str], None], summary: Path | None = None,
               add=None, labels: dict | None = None, pixels: int = 0) -> list[dict]:
    """The jobs served through predict's own branches (``jobs/predict.serve``: here, or on
    ``eo.cluster``) on the backend and tile decided before the fit (:meth:`EngineOptions.decision`
    for a gap of ``pixels``,
    :data:`FILL_TILE`); one row per job (status, backend, tile, tiles run where known). A job that
    failed on a cluster is refused in one line."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.jobs.predict import Cluster, Run, serve
    from bandbridge.inference.jobs.tiles import Tiling
    backends = {j.spec.folder: graph_agrees(j.spec, eo.decision(pixels), say) for j in jobs}
    tiling = {j.spec.folder: Tiling(FILL_TILE, "own", f"the fill's own: {FILL_TILE}² (a model made for one run is "
                                    "not measured for a larger tile)") for j in jobs}
    kw = {"add": add} if add is not None else {}
    rows = serve(jobs, backends, tiling, labels or {j.dst: j.note for j in jobs},
                 Run(eo.backend, eo.precision, eo.threads), eo.cluster if eo.on_cluster else Cluster(), summary, say,
                 **kw)
    bad = [r for r in rows if r.get("status") != "ok"]
    if bad:
        raise BandbridgeError(f"the fill's fit could not be predicted: {bad[0]['error']}"
                              + (f" (tracebacks beside {summary})" if summary else ""))
    return rows


def only_mask(todo: np.ndarray, ring: int, grid, out: Path, rows: int = 1024, win: Window | None = None) -> Path:
    """The tiles' mask (uint8 on ``grid``, or its window ``win``): the pixels to fill and ``ring``
    px round them (what the edge pass reads of the fit's output), written :data:`rows` at a time."""
    import rasterio
    from rasterio.windows import Window
    from scipy.ndimage import maximum_filter

    from bandbridge.inference.core.writer import output_profile
    if win is not None:
        todo, grid = todo[win[0]:win[0] + win[2], win[1]:win[1] + win[3]], part(grid, win)
    h, w = todo.shape
    prof = output_profile(grid.crs, grid.transform, h, w, 1, "uint8", 1, {"compress": "deflate"})
    prof["nodata"] = None
    with rasterio.open(out, "w", **prof) as d:
        for a in range(0, h, rows):
            b = min(h, a + rows)
            lo, hi = max(a - ring, 0), min(h, b + ring)
            m = maximum_filter(todo[lo:hi].view(np.uint8), size=2 * ring + 1, mode="constant")
            d.write(m[a - lo:a - lo + b - a][None], window=Window(0, a, w, b - a))
    return out
