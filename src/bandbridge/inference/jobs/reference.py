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

    def line(self, src: Path) -> str:
        g = self.ref.grid
        gap = ("date gap unknown (--reference-date sets it)" if self.gap_days is None else "the same day"
               if self.gap_days == 0 else f"{abs(self.gap_days)} days {'after' if self.gap_days > 0 else 'before'} the input")
        clear = int(self.ref.valid.sum())
        return (f"{src.name}: reference {Path(self.ref.path).name} ({self.ref.names[0]}, {self.role}, "
                f"{self.ref.dtype}; {g.height}×{g.width} pixels over the input, k = {self.ref.k:.2f}; "
                f"{clear:,} clear{' by ' + self.ref.masked_by if self.ref.masked_by else ''}; "
                f"input {self.dates[0]}, reference {self.dates[1]}: {gap}"
                f"{'; ' + self.ref.assumed if self.ref.assumed else ''})")

    def route(self) -> str:
        """The route as the plan can tell it before any fit (learners/guided.py decides it)."""
        from bandbridge.learners.guided import can_fit
        from bandbridge.policy import FIT_CELLS_MIN, FIT_DEGRADED_MIN
        n = int(self.ref.valid.sum())
        if not can_fit(n, self.ref.k):
            return (f"{n:,} clear cells at k = {self.ref.k:.3g}, too few to fit on (at least {FIT_CELLS_MIN:,}, and "
                    f"{FIT_DEGRADED_MIN} once averaged by k again): the model's own output made consistent with the "
                    "reference, or the reference upsampled, whichever holds out better")
        return (f"{n:,} clear cells: a fit at the reference's scale where it holds out better than the upsampled "
                "reference, served by the engine like any model (its backend decided once it is fitted: the "
                "fastest fp32 this machine has recorded)")


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
                   searched: dict | None = None) -> Plan:
    """Open the reference for ``job``'s input (every refusal before any work) and state the plan;
    ``searched``: the STAC searches made for earlier inputs, reused where their Item covers this one."""
    spec = job.spec
    if spec.scale > 1:
        raise BandbridgeError(f"--reference: {spec.name} enlarges ×{spec.scale}; a reference guides "
                              "a band on the input's own grid (name a translation model)")
    role = ropts.band or band_role(spec.target_names[0])
    fine = raster_grid(job.src)
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
    plan = Plan(ref, role, fine, gap, (str(mine or "unknown"), str(theirs or "unknown")))
    if job.opts.indices:
        _check_units(job, ref)
    cover = float(ref.valid.mean())
    if cover < LOW_OVERLAP:
        say(f"warning: {job.src.name}: only {100 * cover:.0f} % of the reference's pixels over the input are clear; "
            "the rest is filled from the model's own output or a fit from the input alone, whichever held out "
            "better on the clear part (the output's tags say which)")
    if gap is not None and abs(gap) > FAR_DAYS:
        say(f"warning: {job.src.name}: the reference is {abs(gap)} days from the input; what changed in "
            "between is not in it (no consistency correction is made)")
    return plan


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



def run_references(jobs: list, plans: list[Plan], backend: str, precision: str, threads: int | None,
                   compile: bool, say: Callable[[str], None], add, cluster=None, summary: Path | None = None,
                   ropts: ReferenceOptions | None = None) -> list[dict]:
    """Every input with its reference: fitted here (the inputs that make one scene under one
    reference once over their mosaic, ``reference_scene.py``; the others one by one; the model's
    own output first where a route needs it), every fit predicted by the engine (here, or on
    ``cluster``: a ``predict.Cluster``; ``summary``: its CSV, beside which Dask's log goes), each
    output written by the finish (a scene's cut into its inputs' outputs). Work files live in a
    folder beside the outputs (a cluster's workers read them) and are removed at the end, whatever
    happens. ``ropts``: the reference as asked (None: each input on its own)."""
    from bandbridge.fileio import temp_folder_beside
    from bandbridge.inference.jobs.job import prepare_backends, run_predict
    from bandbridge.inference.jobs.tiles import grow_tiles
    from bandbridge.inference.jobs.reference_finish import ROWS, finish, provenance
    from bandbridge.inference.jobs.reference_fit import prepare
    from bandbridge.inference.jobs.reference_scene import cut, scene_job, scenes
    from bandbridge.inference.runtime.select import decide_unprobed, make_backend
    if not jobs:
        return []
    import tempfile

    from bandbridge.inference.core.writer import WRITE_ERRORS, write_failure
    on_cluster = cluster is not None and cluster.used
    # work files beside the outputs where a cluster's workers must read them, else in the temp folder
    work = temp_folder_beside(jobs[0].dst, "reference") if on_cluster else Path(tempfile.mkdtemp(prefix="bandbridge-ref-"))
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
        units = _units(jobs, plans, scenes(jobs, ropts is None or is_search(ropts.source)), ropts, work,
                       scene_job, say)
        for i, (job, plan, scene) in enumerate(units):
            say(scene.words(jobs) if scene else plan.line(job.src))
            folder = work / f"{i:04d}"
            folder.mkdir()
            try:
                f = prepare(job, plan, backend_of(job.spec), folder, add)
            except WRITE_ERRORS as e:  # a work file on a full disk: one line, naming the folder
                raise write_failure(folder / "work", e, "writing the reference run's work files failed") from None
            for line in fit_lines(job, plan, f):
                say(line)
            fitted.append(f)
        engine = [f.engine for f in fitted if f.engine is not None]
        decisions = {j.spec.folder: decide_unprobed(j.spec, backend, precision) for j in engine}
        t0 = time.perf_counter()
        failed: dict = {}
        if engine and on_cluster:
            from bandbridge.inference.jobs.distributed import run_distributed
            rows = run_distributed(engine, backend, precision, threads, cluster.scheduler, cluster.workers,
                                   cluster.retries, cluster.strips, summary, progress=lambda n: add("fits, tasks", n),
                                   announce=say, decisions=decisions)
            failed = {r["file"]: r["error"] for r in rows if r["status"] != "ok"}
        elif engine:
            runs = prepare_backends(engine, backend, precision, threads, compile, decisions=decisions)
            for line in grow_tiles(engine, runs, threads):
                say(line)
            names = {f.engine.dst: u[0].src.name for u, f in zip(units, fitted) if f.engine is not None}
            for job, st, run in run_predict(engine, runs, lambda job, n: add(f"{names[job.dst]}, the fit (tiles)", n)):
                say(f"{names[job.dst]}: the fit predicted on {run.name} {run.precision}: {st.tiles} tiles, "
                    f"{st.megapixels:.2f} MPix in {st.seconds:.1f} s")
        engine_s = time.perf_counter() - t0
        rows = []
        for (job, plan, scene), f in zip(units, fitted):
            members = [jobs[i] for i in scene.members] if scene else [job]
            if f.engine is not None and str(f.engine.src) in failed:
                rows += [{"file": str(m.src), "status": "failed", "seconds": 0.0, "mpix": 0.0, "output": "",
                          "error": failed[str(f.engine.src)]} for m in members]
                continue
            tags = provenance(plan, f, job.spec, f.bundle)
            tick = add(f"{job.src.name}, written", -(-plan.fine.height // ROWS))
            stats = finish(job, plan, f, tags, tick)
            secs = stats.seconds + (engine_s / max(len(engine), 1) if f.engine is not None else 0.0)
            for m, win in zip(members, scene.windows if scene else [None]):
                extra = stats.extra_outputs if scene is None else \
                    cut(job.dst, list(job.opts.indices), m, win, {"bandbridge_fit_scope": scene.words(jobs)})
                mpix = stats.megapixels if scene is None else win[2] * win[3] / 1e6
                say(f"{m.dst}  {mpix:.2f} MPix in {secs * mpix / stats.megapixels:.1f} s ({f.fit.route})"
                    + "".join(f"\n{p}" for p in extra))
                rows.append({"file": str(m.src), "status": "ok", "seconds": secs * mpix / stats.megapixels,
                             "mpix": mpix, "output": str(m.dst), "error": ""})
        return rows
    finally:
        from bandbridge.inference.runtime.cache import forget
        for f in fitted:
            if f.bundle is not None:
                forget(f.bundle.folder)
        shutil.rmtree(work, ignore_errors=True)


def _units(jobs: list, plans: list[Plan], groups: list, ropts: ReferenceOptions | None, work: Path, scene_job,
           say: Callable[[str], None]) -> list[tuple]:
    """What is fitted: ``(job, plan, scene)`` for each scene (its mosaic's job and plan; the
    input's date and the gap are its first member's) and ``(job, plan, None)`` for each input
    outside every scene."""
    import dataclasses
    units, taken = [], set()
    for n, s in enumerate(groups):
        folder = work / f"scene{n:03d}"
        folder.mkdir()
        job = scene_job(jobs, s, folder)
        first = plans[s.members[0]]
        plan = dataclasses.replace(plan_reference(job, ropts), gap_days=first.gap_days, dates=first.dates)
        units.append((job, plan, s))
        taken.update(s.members)
    return units + [(j, p, None) for i, (j, p) in enumerate(zip(jobs, plans)) if i not in taken]


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
                   f"the reference's own cells it errs {e(g.fit_mae):.4g} against {e(g.upsampled_mae):.4g} for the "
                   f"upsampled reference (MAE, {units}; at the reference's scale, not the output's); consistency "
                   f"correction {g.why}")
    elif g.route == "consistent":
        held = (f"held out one scale coarser it errs {e(g.fit_mae):.4g} against {e(g.upsampled_mae):.4g} for the "
                f"upsampled reference (MAE, {units})" if np.isfinite(g.fit_mae) else
                "too few cells to hold any out: taken by the rule measured on NAIP (FACTS: 13–24 % below "
                "the nearest upsampled reference at k = 24–96)")
        out.append(f"{name}: route: the model's own output made consistent with the reference cell by cell "
                   f"({g.cells:,} clear cells{', ' + g.tried + ' did not beat the upsampled reference' if g.tried else ''}); "
                   f"{held}")
    else:
        out.append(f"{name}: route: the reference upsampled ({g.cells:,} clear cells"
                   + (f"; {g.tried} held out no better than it" if g.tried else "") + ")")
    if g.filled_from:
        out.append(f"{name}: cells the reference cannot see: filled from {g.filled_from}")
    return out
