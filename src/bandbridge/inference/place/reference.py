"""``bandbridge predict … --reference REF``: the band from a coarse or earlier reference of the
same place, one kind of the fit at the place (``place/runner.py``), on the one engine.

The plan (:class:`ReferenceKind`): the inputs as plain predict plans them (their model's own output
a pass of the fit), each one's reference read over its footprint (``data/reference.py``,
:func:`plan_reference`), the scenes a folder of tiles makes, and the one block. The fit
(``reference_fit.py``) registers the two, serves the model's own output where a route needs it,
decides the route at the reference's scale (``learners/guided.py``) and saves the fit as a
bundle; the engine serves every fit (here, or on Dask with ``--workers``/``--scheduler``);
``reference_finish.py`` writes each output in the reference's stored units, tagged.
:func:`predict_with_reference` is the command.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.bands import FAMILY, band_role
from bandbridge.data.reference import Grid, Reference, file_date, open_reference, parse_date, raster_grid
from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.writer import PICTURES
from bandbridge.inference.jobs.predict import Engine
from bandbridge.inference.place.contract import Outcome
from bandbridge.inference.place.plan import Block, Memory
from bandbridge.inference.interop.stac_search import find_reference, is_search
from bandbridge.policy import FAR_DAYS, LOW_OVERLAP
from bandbridge.progress import no_bar


@dataclass(frozen=True, kw_only=True)
class ReferenceOptions:
    """``--reference`` and the flags that go with it."""

    source: str  # a raster or band folder (or what interop/stac_search resolved it to)
    mask: str | None = None  # --reference-mask: SCL or QA_PIXEL raster on the reference's grid
    date: str | None = None  # --reference-date, where the file does not say it
    band: str | None = None  # --reference-band: the role to read (default: the model's target's)
    detail: float | None = None  # the share of a guided route's detail taken (None: the test at the output's scale)


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


def plan_reference(job, ropts: ReferenceOptions, say: Callable[[str], None] = lambda s: None,
                   searched: dict | None = None, fine: Grid | None = None) -> Plan:
    """Open the reference for ``job``'s input (every refusal before any work) and state the plan;
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
    plan = Plan(ref, role, fine, gap, (str(mine or "unknown"), str(theirs or "unknown")))
    if job.opts.indices:  # an index needs the input's bands and the reference's in one kind of units
        fam = FAMILY.get(job.reading.scaling, "")
        phys = ref.values[0][ref.valid] * ref.scale + ref.offset
        reflectance = phys.size > 0 and float(np.percentile(phys, 99)) <= 2.0  # reflectance never tops 2
        if (fam == "reflectance") != reflectance:
            raise BandbridgeError(
                f"--index with --reference: the input holds {fam or job.reading.scaling} and the reference "
                f"{'reflectance' if reflectance else 'stored numbers (DN)'}; an index of the two would mix units. "
                "Drop --index and compute it from bands of one kind")
    cover = ref.clear_share  # of the cells the input touches: the window's margin past it is no cloud
    if cover < LOW_OVERLAP:
        say(f"warning: {job.src.name}: only {100 * cover:.0f} % of the reference's pixels over the input are clear; "
            "the rest is filled from the model's own output or a fit from the input alone, whichever held out "
            "better on the clear part (the output's tags say which)")
    if gap is not None and abs(gap) > FAR_DAYS:
        say(f"warning: {job.src.name}: the reference is {abs(gap)} days from the input; what changed in "
            "between is not in it (no consistency correction is made)")
    return plan


def plan_scene(jobs: list, scene, plans: list[Plan], ropts: ReferenceOptions) -> Plan:
    """The plan of one fit over ``scene`` (``reference_scene.Scene``: inputs fitted as their mosaic),
    its reference read over the mosaic's grid; the input's date and the gap are its first member's
    (``plans``: the inputs' own)."""
    import dataclasses
    first = plans[scene.members[0]]
    fine = Grid(first.fine.crs, scene.transform, scene.height, scene.width)
    p = plan_reference(jobs[scene.members[0]], ropts, fine=fine)
    return dataclasses.replace(p, gap_days=first.gap_days, dates=first.dates)


def _tags(p: Path) -> dict:
    from bandbridge.data.formats import open_raster
    try:
        with open_raster(p) as s:
            return s.tags()
    except Exception:  # noqa: BLE001 - a band folder or .npy: no tags; its name may still hold a date
        return {}


@dataclass(frozen=True)
class Request:
    """``predict INPUTS -m MODEL -o OUTPUT --reference REF`` as the kind takes it."""

    inputs: list[str]
    model: str
    output: str
    opts: object  # core/options.PredictOptions
    ov: object  # core/interpret.Overrides
    reference: ReferenceOptions
    overwrite: bool = False


@dataclass
class RefPlan:
    """The reference kind's plan: the inputs as plain predict plans them (``model``: their model's
    own output is a pass of the fit, on the backend and tiles it decides), each input's reference,
    the scenes fitted once over their mosaic (``reference_scene.py``) and the one block."""

    model: object  # jobs/plan.PredictPlan
    references: list[Plan]
    scenes: list
    scene_plans: list[Plan]
    block: Block
    output: Path
    engine: Engine
    detail: float | None = None  # ReferenceOptions.detail

    def fit_of(self, i: int) -> tuple[Plan, object]:
        """``(plan, scene)`` of the fit that serves input ``i``: its scene's or its own (scene None)."""
        return next(((p, s) for s, p in zip(self.scenes, self.scene_plans) if i in s.members),
                    (self.references[i], None))

    def decided(self, job=None) -> dict:
        return self.block.decided()

    def units(self, work: Path | None = None) -> list[tuple]:
        """What is fitted: ``(job, plan, scene)`` for each scene (its mosaic's job, a VRT written into
        ``work``; None: its first member's) and ``(job, plan, None)`` for each input outside every scene."""
        from bandbridge.inference.place.reference_scene import scene_job
        jobs, units, taken = self.model.jobs, [], set()
        for n, (s, p) in enumerate(zip(self.scenes, self.scene_plans)):
            if work is not None:
                (work / f"scene{n:03d}").mkdir()
            units.append((scene_job(jobs, s, work / f"scene{n:03d}") if work else jobs[s.members[0]], p, s))
            taken.update(s.members)
        return units + [(j, p, None) for i, (j, p) in enumerate(zip(jobs, self.references)) if i not in taken]

    def more(self, i: int) -> list[str]:
        job = self.model.jobs[i]
        p, scene = self.fit_of(i)
        return [f"  reference: {self.references[i].line(job.src)}",
                *([f"  fit: {scene.words(self.model.jobs)}, against {p.line(Path('its mosaic'))}"] if scene else []),
                "  the model's own output: runs first, on the tiles above and its backend below, only where the "
                "route or cells the reference cannot see need it (its fallback above then applies)"]

    def lines(self) -> list[str]:
        """Plain predict's lines (its model's backend that of the model's own output), then the block."""
        return [*(f"the model's own output's {line}" if line.startswith("backend: ") else line
                  for line in self.model.lines(self.more)), *self.block.lines()]


def _model_plan(r: Request, engine: Engine):
    """The inputs planned as plain predict plans them; the input and the reference given the other
    way round said so."""
    from bandbridge.errors import BandChoiceError
    from bandbridge.fileio import check_regular
    from bandbridge.inference.jobs.plan import make_plan
    ropts = r.reference  # the files the reference and its mask name (never an output), each checked to be one
    reads = [f for f in (ropts.source, ropts.mask) if f and not is_search(f) and not str(f).startswith("/vsi")]
    for f, flag, folder_ok, what in ((ropts.source, "--reference", True, "reference raster"),
                                     (ropts.mask, "--reference-mask", False, "SCL or QA_PIXEL raster")):
        if f in reads:  # what the flag must be, said before the output is checked against it
            check_regular(f, flag, folder_ok, what)
    try:
        return make_plan(r.inputs, r.model, r.output, r.opts, r.ov, r.overwrite, engine.backend, engine.precision,
                         engine.threads, engine.cluster, reads)
    except BandChoiceError as e:
        if len(r.inputs) != 1 or not reads:
            raise
        from bandbridge.inference.core.doubts import swap_advice
        from bandbridge.inference.core.route import route_model
        from bandbridge.spec import read_spec
        try:
            spec = read_spec(route_model(r.model, Path(r.inputs[0]), r.ov)[0])
        except BandbridgeError:
            raise e from None
        raise BandChoiceError(swap_advice(r.inputs[0], r.reference.source, spec) or str(e)) from None


@dataclass
class Fits:
    units: list[tuple]
    fitted: list  # reference_fit.Fitted, one per unit
    jobs: list
    labels: dict | None = None


class ReferenceKind:
    """``predict --reference`` on the contract of ``place/runner.py``."""

    name = "reference"

    def plan(self, request: Request, engine: Engine, say: Callable[[str], None]) -> RefPlan:
        from bandbridge.inference.core.outputs import ROWS
        from bandbridge.inference.place import engine as eng
        from bandbridge.inference.place.reference_scene import scenes
        from bandbridge.learners.guided import features
        model = _model_plan(request, engine)
        jobs, ropts, searched = model.jobs, request.reference, {}
        refs = [plan_reference(job, ropts, say, searched) for job in jobs]
        groups = scenes(jobs, is_search(ropts.source))
        plan = RefPlan(model, refs, groups, [plan_scene(jobs, g, refs, ropts) for g in groups], None,
                       jobs[0].dst if jobs else Path(request.output), engine, ropts.detail)
        fits = [p for _, p, _ in plan.units()]
        tile = max((eng.tile_for(p.fine.height, p.fine.width) for p in fits), default=eng.tile_for(0, 0))
        from bandbridge.learners.transfer import planned
        bands = max((len(j.opts.read.bands) for j in jobs), default=0)
        routes = dict.fromkeys(f"{p.route()}; {planned(bands, ropts.detail)}" for p in fits)
        f = features(np.zeros((bands, 4, 4), np.float32)).shape[0] + 1  # a cell's features, the reference's with them
        cells = [p.ref.grid.height * p.ref.grid.width for p in fits] or [0]
        # each fit's arrays at the reference's scale held to the end (the input's bands averaged, their cover, the
        # reference, its mask and fill: float32 a cell), then the fit's features of every clear cell, the engine's
        # of one tile, and the finish's strip buffers
        memory = Memory(model.resident or 0.0, 4.0 * (bands + 4) * sum(cells), {
            "the fit": 8.0 * f * max(cells), "the engine": 4.0 * f * tile * tile,
            "the finish": 4.0 * (bands + 4) * ROWS * max((p.fine.width for p in fits), default=0)})
        plan.block = Block("; ".join(routes) or "no input", eng.decide(max((p.fine.height * p.fine.width
                           for p in fits), default=0), engine), tile, eng.where(engine), memory)
        return plan

    def fit(self, plan: RefPlan, work: Path, serve, say: Callable[[str], None], add) -> Fits:
        """Each unit measured, the model's own output served where a fit needs it (per model, on the
        backend the plan decided), then fitted and its bundle's job made."""
        from bandbridge.inference.core.writer import WRITE_ERRORS, write_failure
        from bandbridge.inference.place.engine import summary_path
        from bandbridge.inference.place.reference_finish import fit_lines
        from bandbridge.inference.place.reference_fit import measure, prepare
        e, jobs = plan.engine, plan.model.jobs
        if e.on_cluster and jobs:  # before any fit: a wrong address or summary costs seconds
            from bandbridge.inference.jobs.distributed import check_cluster
            check_cluster(jobs, e.cluster.scheduler, summary_path(plan.output, e))
        units = plan.units(work)
        folders = [work / f"{i:04d}" for i in range(len(units))]
        try:
            for f in folders:
                f.mkdir()
            measured = [measure(job, p, plan.model, f) for (job, p, _), f in zip(units, folders)]
            zeros = [m.zero for m in measured if m.zero is not None]
            for folder in dict.fromkeys(z.spec.folder for z in zeros):
                serve([z for z in zeros if z.spec.folder == folder], plan.model.backends[folder])
            fitted = [prepare(job, p, m, f, plan.block.tile, plan.detail) for (job, p, _), m, f in zip(units, measured, folders)]
        except WRITE_ERRORS as x:  # a work file on a full disk: one line, naming the folder
            raise write_failure(plan.output, x, f"writing the reference run's work files (in {work}, removed) "
                                "failed") from None
        for (job, p, _), f in zip(units, fitted):
            for line in fit_lines(job, p, f):
                say(line)
        return Fits(units, fitted, [f.engine for f in fitted if f.engine is not None])

    def finish(self, plan: RefPlan, fits: Fits, rows: list[dict], say: Callable[[str], None], add) -> Outcome:
        """Each output written (a scene's cut into its inputs' outputs); its ``rows`` one summary row per input
        (with the engine's backend and tile), its decisions each input's band's, in the inputs' order."""
        from bandbridge.inference.place.reference_finish import ROWS, decision, finish, provenance
        from bandbridge.inference.place.reference_scene import cut
        ran, out, jobs, said = {r["file"]: r for r in rows}, [], plan.model.jobs, []
        for (job, rplan, scene), f in zip(fits.units, fits.fitted):
            got = ran.get(str(f.engine.src), {}) if f.engine is not None else {}
            stats = finish(job, rplan, f, provenance(rplan, f, job.spec, f.bundle),
                           add(f"{job.src.name}, written", -(-rplan.fine.height // ROWS)))
            secs = stats.seconds + float(got.get("seconds", 0.0))
            said += [decision(rplan, f)] * (len(scene.members) if scene else 1)
            for m, win in zip([jobs[i] for i in scene.members] if scene else [job], scene.windows if scene else [None]):
                extra = stats.extra_outputs if scene is None else \
                    cut(job.dst, list(job.opts.indices), m, win, {"bandbridge_fit_scope": scene.words(jobs)})
                mpix = stats.megapixels if scene is None else win[2] * win[3] / 1e6
                say(f"{m.dst}  {mpix:.2f} MPix in {secs * mpix / stats.megapixels:.1f} s ({f.fit.route})"
                    + "".join(f"\n{p}" for p in extra))
                out.append({"file": str(m.src), "status": "ok", "seconds": secs * mpix / stats.megapixels,
                            "mpix": mpix, "output": str(m.dst), "error": "", "backend": got.get("backend", ""),
                            "tile": got.get("tile", "")})
        return Outcome(plan.output, said, out, sum(r["seconds"] for r in out))


KIND = ReferenceKind()


def predict_with_reference(request: Request, *, engine: Engine = Engine(), stac: bool = False,
                           say: Callable[[str], None] = lambda line: None, bar=None, plan_only: bool = False,
                           kind=None):
    """``bandbridge predict … --reference REF``: the request (built by the command) run on the kind
    (``kind``, the command's from ``place/kinds.KINDS``; :data:`KIND` by default) by ``place/runner.run`` (here,
    or the engine's jobs on Dask); a
    ``jobs/predict.Outcome`` with one row per input, written to the summary CSV on a cluster (the inputs
    refused there listed as failed)."""
    from bandbridge.inference.jobs.distributed import check_cluster_flags, log_path, write_summary
    from bandbridge.inference.jobs.predict import Outcome as Report  # the command's, as plain predict's
    from bandbridge.inference.place import runner
    from bandbridge.inference.place.engine import summary_path
    c, opts, kind = engine.cluster, request.opts, kind or KIND
    check_cluster_flags(c.workers, c.scheduler, c.retries, c.strips, c.summary, opts.confidence)
    for bad, flag, why in ((stac, "--stac", "the output's tags say where the band came from"),
                           (opts.confidence, "--confidence", "the held-out error at the reference's scale is "
                                                             "in the output's tags (bandbridge_heldout_error)"),
                           (opts.dtype != "auto", f"--dtype {opts.dtype}", "the output takes the reference's "
                                                                           "type and units")):
        if bad:  # a flag that cannot go with --reference, refused in one line
            raise BandbridgeError(f"{flag} with --reference: {why}; drop {flag.split()[0]}")
    t0 = time.perf_counter()
    plan = kind.plan(request, engine, say)
    with (nullcontext(None) if plan_only else (bar or no_bar)()) as add:
        done = runner.run(kind, None, engine, say, plan_only, add, plan)
    rows = done.rows if done is not None else []
    path = summary_path(plan.output, engine)
    if plan_only or path is None:
        return Report(rows, time.perf_counter() - t0)
    rows = rows + [{"file": str(f), "status": "failed", "seconds": 0.0, "mpix": 0.0, "output": "",
                            "error": why} for f, why in plan.model.failed]
    write_summary(rows, path)
    return Report(rows, time.perf_counter() - t0, path, log_path(path))
