"""``bandbridge predict … --reference REF``: the band from a coarse or earlier reference of the
same place, on the one engine every model runs on.

For each input: the reference's band of the model's target role is read over the input's
footprint (``data/reference.py``) and the plan stated (:func:`plan_reference`); then
``reference_fit.py`` registers the two, decides the route at the reference's scale
(``learners/guided.py``) and saves the fit as a bundle; the engine predicts every fit (here, or
on a Dask cluster with ``--workers``/``--scheduler``); ``reference_finish.py`` writes each output in
the reference's stored units (its scale and offset tags), with tags saying where it came from.
:func:`run_references` is that sequence.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.bands import FAMILY, band_role
from bandbridge.data.reference import Grid, Reference, file_date, open_reference, parse_date, raster_grid
from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.writer import PICTURES
from bandbridge.inference.place.reference_fit import FIT_TILE, fit_backend, fit_tiling, held_out
from bandbridge.inference.interop.stac_search import find_reference, is_search
from bandbridge.policy import FAR_DAYS, LOW_OVERLAP


@dataclass(frozen=True, kw_only=True)
class ReferenceOptions:
    """``--reference`` and the flags that go with it."""

    source: str  # a raster or band folder (or what interop/stac_search resolved it to)
    mask: str | None = None  # --reference-mask: SCL or QA_PIXEL raster on the reference's grid
    date: str | None = None  # --reference-date, where the file does not say it
    band: str | None = None  # --reference-band: the role to read (default: the model's target's)


@dataclass
class Plan:
    """What one input's reference run will do, decided before any work."""

    ref: Reference
    role: str
    fine: Grid
    gap_days: int | None
    dates: tuple[str, str]  # the input's and the reference's, as found ("unknown" where not)
    backend: object | None = None  # runtime/select.Decision: the fit's, decided before it (reference_fit.fit_backend)
    tiles: tuple[int, int] = (0, 0)  # (tile, overlap) px the fit's bundle predicts on (reference_fit.fit_tiling)

    def serving(self) -> tuple[str, str]:
        """How the engine serves the fit, as decided before it: ``(tiles, backend)`` in words."""
        d, (tile, overlap) = self.backend, self.tiles
        return (f"where the route is a fit, its bundle on {tile}² tiles overlapping by {overlap} px (the fit's own: "
                f"the model's tile, at most {FIT_TILE}², decided before the fit)",
                f"where the route is a fit, its bundle runs on {d.note}")

    def decided(self) -> dict:
        """What the run of the fit records (its summary row's ``backend`` and ``tile``)."""
        return {"backend": f"{self.backend.backend} {self.backend.precision}", "tile": self.tiles[0]}

    def line(self, src: Path) -> str:
        g = self.ref.grid
        gap = ("date gap unknown (--reference-date sets it)" if self.gap_days is None else "the same day"
               if self.gap_days == 0 else f"{abs(self.gap_days)} days {'after' if self.gap_days > 0 else 'before'} the input")
        clear = self.ref.clear_cells
        return (f"{src.name}: reference {Path(self.ref.path).name} ({self.ref.names[0]}, {self.role}, "
                f"{self.ref.dtype}; {g.height}×{g.width} pixels read over the input (one of margin each side), "
                f"k = {self.ref.k:.2f}; {clear:,} clear cells the input covers whole"
                f"{' (clear by ' + self.ref.masked_by + ')' if self.ref.masked_by else ''}; "
                f"input {self.dates[0]}, reference {self.dates[1]}: {gap}"
                f"{'; ' + self.ref.assumed if self.ref.assumed else ''})")

    def route(self) -> str:
        """The route as the plan can tell it before any fit (learners/guided.py decides it)."""
        from bandbridge.learners.guided import can_fit
        from bandbridge.policy import FIT_CELLS_MIN, FIT_DEGRADED_MIN
        n = self.ref.clear_cells
        if not can_fit(n, self.ref.k):
            return (f"{n:,} clear cells at k = {self.ref.k:.3g}, too few to fit on (at least {FIT_CELLS_MIN:,}, and "
                    f"{FIT_DEGRADED_MIN} once averaged by k again): the model's own output made consistent with the "
                    "reference, or the reference upsampled, whichever holds out better")
        return (f"{n:,} clear cells: a fit at the reference's scale where it holds out better than the upsampled "
                "reference, served by the engine like any model")


REFERENCE_FLAGS = ("--reference-mask, --reference-date and --reference-band go with --reference; add "
                   "--reference FILE")


def reference_options(source: str | None, mask: str | None = None, date: str | None = None,
                      band: str | None = None) -> ReferenceOptions | None:
    """``--reference`` and its companions as options (None without ``--reference``); a companion
    given without it is refused in one line."""
    if source is None and (mask or date or band):
        raise BandbridgeError(REFERENCE_FLAGS)
    return ReferenceOptions(source=source, mask=mask, date=date, band=band) if source else None


def check_reference_flags(opts, cluster: bool, stac: bool) -> None:
    """Flags that cannot go with ``--reference``, each refused in one line."""
    for bad, flag, why in ((stac, "--stac", "the output's tags say where the band came from"),
                           (opts.confidence, "--confidence", "the held-out error at the reference's scale is "
                                                             "in the output's tags (bandbridge_heldout_mae)"),
                           (opts.dtype != "auto", f"--dtype {opts.dtype}", "the output takes the reference's "
                                                                           "type and units")):
        if bad:
            raise BandbridgeError(f"{flag} with --reference: {why}; drop {flag.split()[0]}")


def plan_reference(job, ropts: ReferenceOptions, say: Callable[[str], None] = lambda s: None,
                   searched: dict | None = None, engine: tuple = ("auto", "auto", None), fine: Grid | None = None
                   ) -> Plan:
    """Open the reference for ``job``'s input (every refusal before any work) and state the plan,
    the fit's backend and tiles included (``engine``: ``--backend``, ``--precision``, ``--threads``);
    ``searched``: the STAC searches made for earlier inputs, reused where their Item covers this one;
    ``fine``: the grid fitted on where it is not the input's own (a scene's mosaic)."""
    spec = job.spec
    if spec.scale > 1:
        raise BandbridgeError(f"--reference: {spec.name} enlarges ×{spec.scale}; a reference guides "
                              "a band on the input's own grid (name a translation model)")
    role = ropts.band or band_role(spec.target_names[0])
    fine = fine or raster_grid(job.src)
    mine = file_date(job.src, _tags(job.src))
    given = parse_date(ropts.date) if ropts.date else None
    if ropts.date and given is None:
        raise BandbridgeError(f"--reference-date {ropts.date}: not a date; write it as 2020-08-31")
    source, mask = ropts.source, ropts.mask
    if is_search(source):  # found for the user: the date given is the one to search around
        key = (source, given or mine, role)
        found = searched.get(key) if searched is not None else None
        if found is None or not found.covers(job.src):  # one search per footprint, not per tile
            found = find_reference(job.src, source, given or mine, role)
            if searched is not None:
                searched[key] = found
        say(f"{job.src.name}: {found.note}")
        source, mask, given = found.href, mask or found.mask, found.when
    ref = open_reference(source, role, fine, mask)
    theirs = given or ref.when
    gap = (theirs - mine).days if mine and theirs else None
    if job.dst.suffix.lower() in PICTURES and ref.dtype != "uint8":
        raise BandbridgeError(f"--output {job.dst}: a picture holds 8-bit values and the output takes the reference's "
                              f"type, {ref.dtype}; name the output {job.dst.with_suffix('.tif').name} for a GeoTIFF")
    plan = Plan(ref, role, fine, gap, (str(mine or "unknown"), str(theirs or "unknown")),
                fit_backend(fine.height * fine.width, *engine), fit_tiling(spec))
    if job.opts.indices:
        _check_units(job, ref)
    cover = ref.clear_share  # of the cells the input touches: the window's margin past it is no cloud
    if cover < LOW_OVERLAP:
        say(f"warning: {job.src.name}: only {100 * cover:.0f} % of the reference's pixels over the input are clear; "
            "the rest is filled from the model's own output or a fit from the input alone, whichever held out "
            "better on the clear part (the output's tags say which)")
    if gap is not None and abs(gap) > FAR_DAYS:
        say(f"warning: {job.src.name}: the reference is {abs(gap)} days from the input; what changed in "
            "between is not in it (no consistency correction is made)")
    return plan


def plan_scene(jobs: list, scene, plans: list[Plan], ropts: ReferenceOptions, engine: tuple = ("auto", "auto", None)
               ) -> Plan:
    """The plan of one fit over ``scene`` (``reference_scene.Scene``: inputs fitted as their mosaic),
    its reference read over the mosaic's grid; the input's date and the gap are its first member's
    (``plans``: the inputs' own)."""
    import dataclasses
    first = plans[scene.members[0]]
    fine = Grid(first.fine.crs, scene.transform, scene.height, scene.width)
    p = plan_reference(jobs[scene.members[0]], ropts, engine=engine, fine=fine)
    return dataclasses.replace(p, gap_days=first.gap_days, dates=first.dates)


def _tags(p: Path) -> dict:
    from bandbridge.data.formats import open_raster
    try:
        with open_raster(p) as s:
            return s.tags()
    except Exception:  # noqa: BLE001 - a band folder or .npy: no tags; its name may still hold a date
        return {}


def _check_units(job, ref: Reference) -> None:
    """Indices need the input's bands and the reference's in one kind of units."""
    fam = FAMILY.get(job.reading.scaling, "")
    phys = ref.values[0][ref.valid] * ref.scale + ref.offset
    reflectance = phys.size > 0 and float(np.percentile(phys, 99)) <= 2.0  # reflectance never tops 2
    if (fam == "reflectance") != reflectance:
        raise BandbridgeError(
            f"--index with --reference: the input holds {fam or job.reading.scaling} and the reference "
            f"{'reflectance' if reflectance else 'stored numbers (DN)'}; an index of the two would mix units. "
            "Drop --index and compute it from bands of one kind")



def run_references(plan, backend: str, precision: str, threads: int | None, compile: bool,
                   say: Callable[[str], None], add, serve: Callable) -> list[dict]:
    """Every input of ``plan`` (jobs/plan.PredictPlan) with its reference: fitted here (the scenes
    the plan made once over their mosaic, ``reference_scene.py``; the others one by one; the model's
    own output first where a route needs it), every fit served by the engine through predict's own
    branches — ``serve(jobs, backends, tiling, labels)`` (``predict.serve``) runs the fits' jobs with the backend and
    tiles the plan decided and returns their rows — then each output written by the finish (a
    scene's cut into its inputs' outputs). Work files live in a folder beside the outputs on a
    cluster (its workers read them), else in the temp folder, and are removed at the end, whatever
    happens."""
    from bandbridge.fileio import temp_folder_beside
    from bandbridge.inference.core.writer import WRITE_ERRORS, write_failure
    from bandbridge.inference.place.reference_finish import ROWS, finish, provenance
    from bandbridge.inference.place.reference_fit import prepare
    from bandbridge.inference.place.reference_scene import cut
    from bandbridge.inference.jobs.tiles import Tiling
    from bandbridge.inference.runtime.select import make_backend
    jobs = plan.jobs
    if not jobs:
        return []
    import tempfile
    work = temp_folder_beside(jobs[0].dst, "reference") if plan.on_cluster else \
        Path(tempfile.mkdtemp(prefix="bandbridge-ref-"))
    zero: dict = {}

    def backend_of(spec):
        def build():
            if spec.folder not in zero:  # the model as a plain predict would run it
                zero[spec.folder] = make_backend(spec, backend, precision, threads, compile)
                say(f"backend for {spec.name}'s own output: {zero[spec.folder].choice}")
            return zero[spec.folder]
        return build
    fitted: list = []
    try:
        units = _units(plan, work)
        for i, (job, rplan, scene) in enumerate(units):
            say(scene.words(jobs) if scene else rplan.line(job.src))
            folder = work / f"{i:04d}"
            folder.mkdir()
            try:
                f = prepare(job, rplan, backend_of(job.spec), folder, add)
            except WRITE_ERRORS as e:  # a work file on a full disk: one line, naming the folder
                raise write_failure(job.dst, e, f"writing the reference run's work files (in {work}, removed) "
                                    "failed") from None
            for line in fit_lines(job, rplan, f):
                say(line)
            fitted.append(f)
        served = [(u, f) for u, f in zip(units, fitted) if f.engine is not None]
        t0 = time.perf_counter()
        ran = {}
        if served:  # the plan's backend and tiles for each fit, served as any model's jobs are
            tile_why = "the fit's own: the model's tile, at most {}², decided in the plan"
            ran = {r["file"]: r for r in serve(
                [f.engine for _, f in served], {f.engine.spec.folder: u[1].backend for u, f in served},
                {f.engine.spec.folder: Tiling(u[1].tiles[0], "own", tile_why.format(FIT_TILE)) for u, f in served},
                {f.engine.dst: f"{u[0].src.name}, the fit" for u, f in served})}
        engine_s = time.perf_counter() - t0
        rows = []
        for (job, rplan, scene), f in zip(units, fitted):
            members = [jobs[i] for i in scene.members] if scene else [job]
            got = ran.get(str(f.engine.src), {}) if f.engine is not None else {}
            if got.get("status", "ok") != "ok":
                rows += [{"file": str(m.src), "status": "failed", "seconds": 0.0, "mpix": 0.0, "output": "",
                          "error": got["error"]} for m in members]
                continue
            tags = provenance(rplan, f, job.spec, f.bundle)
            tick = add(f"{job.src.name}, written", -(-rplan.fine.height // ROWS))
            stats = finish(job, rplan, f, tags, tick)
            secs = stats.seconds + (engine_s / len(served) if f.engine is not None else 0.0)
            for m, win in zip(members, scene.windows if scene else [None]):
                extra = stats.extra_outputs if scene is None else \
                    cut(job.dst, list(job.opts.indices), m, win, {"bandbridge_fit_scope": scene.words(jobs)})
                mpix = stats.megapixels if scene is None else win[2] * win[3] / 1e6
                say(f"{m.dst}  {mpix:.2f} MPix in {secs * mpix / stats.megapixels:.1f} s ({f.fit.route})"
                    + "".join(f"\n{p}" for p in extra))
                rows.append({"file": str(m.src), "status": "ok", "seconds": secs * mpix / stats.megapixels,
                             "mpix": mpix, "output": str(m.dst), "error": "", "backend": got.get("backend", ""),
                             "tile": got.get("tile", "")})
        return rows
    finally:
        from bandbridge.inference.runtime.cache import forget
        for f in fitted:
            if f.bundle is not None:
                forget(f.bundle.folder)
        shutil.rmtree(work, ignore_errors=True)


def _units(plan, work: Path) -> list[tuple]:
    """What is fitted: ``(job, plan, scene)`` for each scene the plan made (its mosaic's job, a VRT
    written into ``work``, and the scene's plan) and ``(job, plan, None)`` for each input outside
    every scene."""
    from bandbridge.inference.place.reference_scene import scene_job
    units, taken = [], set()
    for n, (s, p) in enumerate(zip(plan.scenes, plan.scene_plans)):
        folder = work / f"scene{n:03d}"
        folder.mkdir()
        units.append((scene_job(plan.jobs, s, folder), p, s))
        taken.update(s.members)
    return units + [(j, p, None) for i, (j, p) in enumerate(zip(plan.jobs, plan.references)) if i not in taken]


def fit_lines(job, plan: Plan, f) -> list[str]:
    """What a user reads of one input's fit: the shift, the route and its held-out errors in the
    reference's stored units, at the reference's scale, and what filled the cells it cannot see."""
    g, ref = f.fit, plan.ref
    dy, dx, _ = f.shift
    units = "the reference's units" if (ref.scale, ref.offset) == (1.0, 0.0) else \
        f"the reference's stored units (× {ref.scale:g}{f' + {ref.offset:g}' if ref.offset else ''} for its physical units)"
    name = job.src.name
    out = [f"{name}: shift between input and reference {dy:+.1f}, {dx:+.1f} reference pixels (rows, columns; "
           f"phase correlation): {f.shift_note}"]
    e = g.stored_error
    if g.route == "fit":
        out.append(f"{name}: route: a {g.chosen} fit at the reference's scale ({g.cells:,} clear cells); held out on "
                   f"the reference's own cells it errs {e(held_out(g)):.4g} against {e(g.upsampled_mae):.4g} for the "
                   f"upsampled reference (MAE, {units}; at the reference's scale, not the output's; the figure the "
                   f"output's tags give); consistency correction {g.why}"
                   + (f" ({e(g.fit_mae):.4g} without it)" if g.correct else ""))
    elif g.route == "consistent":
        held = (f"held out one scale coarser it errs {e(g.fit_mae):.4g} against {e(g.upsampled_mae):.4g} for the "
                f"upsampled reference (MAE, {units})" if np.isfinite(g.fit_mae) else
                "too few cells to hold any out: taken by the rule measured on NAIP (docs/results/reference_scales.json: "
                "18–24 % below the nearest upsampled reference at k = 24–200)")
        out.append(f"{name}: route: the model's own output made consistent with the reference cell by cell "
                   f"({g.cells:,} clear cells{', ' + g.tried + ' did not beat the upsampled reference' if g.tried else ''}); "
                   f"{held}")
    else:
        out.append(f"{name}: route: the reference upsampled ({g.cells:,} clear cells"
                   + (f"; {g.tried} held out no better than it" if g.tried else "") + ")")
    if g.filled_from:
        out.append(f"{name}: cells the reference cannot see: filled from {g.filled_from}")
    return out
