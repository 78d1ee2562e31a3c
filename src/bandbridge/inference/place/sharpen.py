"""``bandbridge sharpen FINE… --reference COARSE -o OUT``: every band of a coarse raster sharpened
onto the grid of the finest guide, from every band of the fine rasters: the ``sharpen`` kind of the
fit at the place (``place/runner.py``'s contract, run by its one runner on the one engine).

- **plan** (:func:`plan_sharpen`): the guides and targets read (``sharpen_read.py``: every refusal
  before any work) and the plan stated, its block (``place/plan.Block``) last;
- **fit** (:meth:`Sharpen.fit`): the guides averaged onto the reference's grid strip by strip, its
  registration, the routes of every target decided at the reference's scale (``learners/sharpen.py``:
  one fit for all targets, a route per band, checked one Wald step down), the shift test; where any
  band takes the fit, the work file and the fit saved as one bundle with one output per target
  (``Anchored(learner, FillBase)``, the upsampled reference bands its anchor: ``place/bundle.save``),
  whose job the runner serves on the engine (here, or on Dask with ``--workers``/``--scheduler``);
- **finish**: ``sharpen_finish.finish`` writes each band by its route, in the reference's stored
  units, tagged by ``place/tags.py``.

:func:`sharpen` is the runner on that kind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.data.grids import extent_share
from bandbridge.errors import BandbridgeError
from bandbridge.inference.jobs.predict import Engine
from bandbridge.inference.place.contract import Outcome, SharpenRequest
from bandbridge.inference.place.plan import Block, Memory
from bandbridge.inference.place.sharpen_read import Guides, Targets, one_raster, open_guides, open_targets
from bandbridge.learners.sharpen_network import is_network
from bandbridge.policy import SHARPEN_FIT_BYTES, SHARPEN_TILE_PX_BYTES, SHARPEN_UNITS_CELLS


FORMATS = {".tif": "GeoTIFF", ".tiff": "GeoTIFF"}  # what sharpen writes: the reference's bands in its type,
# scale, offset and tags, which neither a picture, a VRT nor a NetCDF written under the GTiff driver is


@dataclass
class SharpenPlan:
    """What a run will do, decided before any work."""

    guides: Guides
    targets: Targets
    output: Path
    backend: object  # runtime/select.Decision of the fit's bundle (place/engine.decide)
    resident: float = 0.0  # this process's resident bytes when the plan was made (the targets read)
    cog: bool = False  # the output a Cloud-Optimized GeoTIFF (--cog), through the one writer
    shift: object = "auto"  # --reference-shift: "auto", "none" or (dy, dx) (sharpen_shift.parse_shift)
    registered: str = ""  # what the run measured and did to the reference's grid (its line, the output's tag)
    engine: Engine = Engine()  # how the bundle and -m's model run
    fine: list[str] = field(default_factory=list)  # FINE as given (-m's model runs on it)
    model: str | None = None  # -m: a model whose output is one more guide (sharpen_model.py)
    model_plan: object | None = None  # -m's model planned (jobs/plan.PredictPlan; None: at the run)
    seed: int = 0
    detail: float | None = None  # the share of a guided route's detail every guided band takes (None: the test's)
    dropped: list[str] = field(default_factory=list)  # the guides left out: each a target (sharpen_same.py)
    given: Guides | None = None  # the guides before any was left out: -m's model reads FINE's bands, all of them
    network: object = None  # the Sentinel-2 network offered on this run (sharpen_network.Network; None: not)
    network_line: str = ""  # what the plan says of it

    @property
    def block(self) -> Block:
        from bandbridge.inference.place.engine import tile_for, where
        f = self.guides.fine
        return Block("per band as its line says, held out at the reference's scale (one fit for all "
                     f"{len(self.targets.names)} bands, one bundle with an output per band)", self.backend,
                     tile_for(f.height, f.width), where(self.engine), self.memory())

    def lines(self) -> list[str]:
        """The plan in words: the grids, per band the guides and the route candidates, then the block."""
        g, t = self.guides, self.targets
        f, rg = g.fine, t.grid
        warped = g.warped()
        from bandbridge.inference.place.sharpen_shift import shift_plan
        out = [f"guides: {', '.join(g.names)} on a {f.height}×{f.width} grid"
               + (f" ({', '.join(warped)} warped onto it, bilinear)" if warped else ""),
               f"reference: {Path(t.path).name}, {len(t.names)} band(s) {', '.join(t.names)} ({t.dtype}"
               + (f", in {'/'.join(sorted({u for u in t.units if u}))}" if any(t.units) else "") + "); "
               f"{rg.height}×{rg.width} pixels read over the guides, k = {t.k:.2f}; {self.cells():,} clear cells the "
               "guides cover", shift_plan(self.shift)] + self.dropped
        from bandbridge.learners.transfer import planned
        out.append(f"{'each of ' if len(t.names) > 1 else ''}{', '.join(t.names)}: from {', '.join(g.names)}; "
                   f"{route_plan(self.cells(), t.k)}; {planned(len(g.names), self.detail)}")  # one rule, said once
        if self.network_line:
            out.append(self.network_line)
        if self.model:
            from bandbridge.inference.place.sharpen_model import model_lines
            out += model_lines(self.model_plan, self.model, g.fine.height * g.fine.width)
        out.append(f"output: {self.output} ({'a COG, ' if self.cog else ''}{len(t.names)} band(s), {t.dtype}, the "
                   "reference's scale and offset)")
        return out + self.block.lines()

    def cells(self) -> int:
        from bandbridge.policy import MIN_COVER
        return int((self.targets.valid & (self.targets.covered >= MIN_COVER)).sum())

    def memory(self) -> Memory:
        """Held now (the targets) and to the end (filled reference, cover, clear cells); then each stage's
        arrays by their sizes (policy's rule); the lines' low-pass takes the place of the targets' values,
        let go before the engine."""
        from bandbridge.inference.core.outputs import ROWS
        from bandbridge.inference.place.engine import strip_bytes, tile_for
        h, w = self.targets.grid.height, self.targets.grid.width
        n, ct, gd = h * w, len(self.targets.names), len(self.guides.names)
        f = self.guides.fine
        tile = tile_for(f.height, f.width)
        beside = self.network.beside_bytes(f.height * f.width) if self.network is not None else 0.0
        return Memory(self.resident, n * (4 * ct + 4 + 1), {
            "the guides' averages": n * (12 * gd + 12) + 3 * 4 * ROWS * f.width * gd,
            "the fit": SHARPEN_FIT_BYTES + n * (8 * gd + 4 + 4 * ct) + beside,
            "the engine": SHARPEN_FIT_BYTES + SHARPEN_TILE_PX_BYTES * tile ** 2 + strip_bytes(tile, f.width, 2 * ct + gd),
            "the output": n * (8 * ct + 8) + 3 * 4 * ROWS * f.width * ct
            + (n * 4 * ct if self.network is not None else 0)})  # the network's bands averaged for their correction:
    # a first pass over its output, its means held beside the output's (10980²: 4.27 GB peak; 6.05 planned at 8 B a cell
    # and band, 5.33 at these 4)


def route_plan(n: int, k: float) -> str:
    """The routes a band of ``n`` clear cells at ``k`` may take, in words."""
    from bandbridge.learners.guided import can_fit
    from bandbridge.learners.upsampling import UPSAMPLERS
    from bandbridge.learners.sharpen_routes import SHARE
    from bandbridge.policy import FALLBACK_UPSAMPLING, FIT_CELLS_MIN, FIT_DEGRADED_MIN, SHARPEN_TRANSFER_MIN, WALD_STEP
    ups = "/".join(UPSAMPLERS)
    line = (f"a line of the guides where, out of fold one Wald step down, it leaves at most {SHARE:.2g} of the "
            "best upsampling's error")
    if n / k ** 2 < FIT_DEGRADED_MIN:
        few = (f"the best upsampling averaged by {WALD_STEP:g}" if n / WALD_STEP ** 2 >= FIT_DEGRADED_MIN else
               f"{FALLBACK_UPSAMPLING} upsampling (too few averaged by {WALD_STEP:g} too)")
        return (f"{n:,} clear cells, too few to fit on or to choose an upsampling by (under {FIT_DEGRADED_MIN} "
                f"once averaged by k): {line}, else {few}")
    if not can_fit(n, k):
        return (f"{n:,} clear cells, too few to fit on (at least {FIT_CELLS_MIN:,}): {line}, else the upsampled "
                f"reference ({ups}, with or without the consistency correction, whichever holds out better)")
    down = next((s for s in (k, WALD_STEP) if n / s ** 2 >= SHARPEN_TRANSFER_MIN), None)
    check = (f"and one Wald step down (×{down:g}: {int(n / down ** 2):,} cells)" if down else
             "but one Wald step down holds too few cells to check it: no fit will be taken")
    return (f"the fit (one for all bands) where it beats {ups} upsampling held out at the reference's scale "
            f"{check}; else {line}; else the best upsampling; each with the consistency correction where it "
            "holds out better")


def plan_sharpen(fine: list[str], reference: str, output: str, guides: list[str] | None = None,
                 bands: list[str] | None = None, overwrite: bool = False,
                 engine: Engine = Engine(), model: str | None = None, cog: bool = False, network: bool | str = False
                 ) -> SharpenPlan:
    """Open every input (each refusal in one line) and decide the fit's backend: the plan; ``network``: the
    Sentinel-2 network offered where the run's bands are its (``sharpen_network.offered``)."""
    from bandbridge.data.reads import check_output_file
    from bandbridge.inference.place.engine import decide
    from bandbridge.inference.runtime.memory import resident_bytes
    dst = Path(output)
    if not fine:
        raise BandbridgeError("FINE: give at least one fine raster (or band folder) as the guides")
    # the output holds the reference's bands, units and tags, which only a GeoTIFF keeps; never an input
    check_output_file(dst, [*fine, reference, model], overwrite, formats=FORMATS, command="sharpen")
    g = open_guides(fine, guides)
    mp = None
    if model:  # the model's output band(s) join the guides (sharpen_model.py)
        from bandbridge.inference.place.sharpen_model import plan_model, with_model
        g, mp = with_model(g, fine, model), plan_model(one_raster(fine), model, dst, engine)
    t = open_targets(reference, bands, g.fine, lambda head: SharpenPlan(g, head, dst, None))  # memory, from headers
    if model:
        from bandbridge.inference.place.sharpen_model import for_targets
        g = for_targets(g, model, t.names)
    from bandbridge.inference.place.sharpen_same import dropped_lines, same_bands, without
    drop = same_bands(g, t)  # a band is never its own guide
    said, given, g = dropped_lines(g, drop), g, without(g, drop)
    from bandbridge.inference.place.sharpen_network import besides, offered
    beside = besides(reference, t.names, t.grid, g.fine) if network else ([], 1.0)
    net, line = offered(g.names, t.names, network, g.fine.height * g.fine.width, g.fine, beside)
    return SharpenPlan(g, t, dst, decide(g.fine.height * g.fine.width, engine), float(resident_bytes() or 0), cog,
                       engine=engine, fine=list(fine), model=model, model_plan=mp, dropped=said, given=given,
                       network=net, network_line=line)


@dataclass
class Fitted:
    """What the fit leaves the finish: the decision, the guides' cell means and cover, the engine's
    job (none where no band takes the fit) and the run's clock."""

    s: object  # learners/sharpen.Sharpening
    coarse: tuple[np.ndarray, np.ndarray]
    clock: object  # plan.Clock
    jobs: list = field(default_factory=list)
    labels: dict | None = None
    bounds: tuple | None = None  # sharpen_finish.value_bounds


class Sharpen:
    """The ``sharpen`` kind (``place/runner.Kind``): a reference's targets on one grid, or on several
    (``sharpen_sets.SetsPlan``: each grid's set its own part of the run, merged into one output)."""

    name = "sharpen"

    def plan(self, request: SharpenRequest, engine: Engine, say: Callable[[str], None]):
        """The request's inputs opened and planned (:func:`plan_sharpen`, a set's each where the targets lie on
        several grids), with its shift, seed and detail."""
        from bandbridge.inference.place.sharpen_read import bands_of, default_targets
        from bandbridge.inference.place.sharpen_sets import SetsPlan, target_sets
        from bandbridge.inference.place.sharpen_shift import parse_shift
        r = request
        how = parse_shift(r.reference_shift)  # a bad shift refused before any read
        g = open_guides(list(r.fine), _listed(r.guides))
        names, sets = target_sets(r.reference, _listed(r.bands), g)
        bands = _listed(r.bands)
        if len(sets) == 1 and not bands and names != [b.name for b in default_targets(r.reference,
                                                                                      bands_of(r.reference, ""), g.fine)]:
            bands = names  # one grid: its targets named where a guide was left out
        plans = [plan_sharpen(list(r.fine), r.reference, r.output, _listed(r.guides), bands if len(sets) == 1 else s,
                              r.overwrite, engine, r.model, r.cog, r.network) for s in sets]  # every refusal first
        for p in plans:
            p.shift, p.seed, p.detail = how, r.seed, r.detail
        return plans[0] if len(sets) == 1 else SetsPlan(plans, sets, names, Path(r.output), r.overwrite, r.cog, engine)

    def fit(self, plan, work: Path, serve, say: Callable[[str], None], add):
        """One grid's fit (:meth:`_fit`); several grids' runs, each set fitted, served and finished into its part
        of the work folder, one after another (:func:`sets_run`)."""
        if isinstance(plan, SharpenPlan):
            return self._fit(plan, work, serve, say, add)
        return sets_run(self, plan, work, serve, say, add)

    def finish(self, plan, fitted, rows: list[dict], say: Callable[[str], None], add) -> Outcome:
        """One grid's output (:meth:`_finish`); several grids' parts merged into the one output."""
        if isinstance(plan, SharpenPlan):
            return self._finish(plan, fitted, rows, say)
        from bandbridge.inference.place.sharpen_sets import merge
        parts = fitted.parts
        merge([p for p, _, _ in parts], plan.order, plan.output, plan.overwrite,
              [(s, k) for s, (_, _, k) in zip(plan.sets, parts)], plan.cog)
        say(f"written: {plan.output}")
        return Outcome(plan.output, [parts[i][1].decisions[j] for i, j in plan.order],
                       [r for _, o, _ in parts for r in o.rows])

    def _fit(self, plan: SharpenPlan, work: Path, serve, say: Callable[[str], None], add) -> Fitted:
        """The guides' averages, the grid's registration, the decision and the shift test; where any
        band takes the fit, the work file and the fit's bundle, whose job the runner serves."""
        from bandbridge.inference.place.engine import job, tile_for
        from bandbridge.inference.place.sharpen_finish import value_bounds, write_channels
        from bandbridge.learners.sharpen import route_words
        from bandbridge.inference.place.plan import Clock
        clock = Clock()
        if plan.model:  # the model's output on the fine raster, a guide (deleted with the work folder)
            from bandbridge.inference.place.sharpen_model import run_model
            run_model(plan, work, serve, say)
        bounds = value_bounds(plan.targets)  # before the fit's arrays are held
        s, gunits, coarse = decided(plan, clock, say)
        for b in s.bands:
            say(f"{b.name}: {b.route} ({route_words(b.route)}): {b.why}"
                + (f"; at the output's scale, {b.scale}" if b.guided and b.scale else "")
                + (f"; {b.network}" if b.network and not is_network(b.route) else ""))
        networked = any(is_network(b.route) for b in s.bands)
        out = Fitted(s, None if s.fitted or networked else coarse, clock, bounds=bounds)
        plan.targets.values = coarse = None  # not held on: the bounds are taken, and a fit needs no cell means
        if s.fitted or networked:  # one work file for both bundles: one pass reads each of its tiles for both
            g, t = plan.guides, plan.targets
            size, tile = (g.fine.height, g.fine.width), tile_for(g.fine.height, g.fine.width)
            channels = write_channels(g, gunits, s, work / "channels.tif",
                                      plan.network.values if networked else None)
            clock.mark("the work file")
            if s.fitted:
                say(f"the fit: {s.chosen} on {s.cells:,} clear cells, one for all {len(t.names)} bands")
            from bandbridge.inference.place.sharpen_finish import bundles
            for spec, dst, note in bundles(plan, s, networked, work):
                out.jobs.append(job(spec, channels, dst, size, tile, note))
        if plan.network is not None:  # the bands beside: in the work file now, not held through the engine
            plan.network.values = None
        return out

    def _finish(self, plan: SharpenPlan, fitted: Fitted, rows: list[dict], say: Callable[[str], None]
                ) -> Outcome:
        """The output written (``sharpen_finish.finish``); every band's decision, in the output's order."""
        from bandbridge.inference.place.sharpen_finish import decisions, finish, stored_units
        s, clock = fitted.s, fitted.clock
        if fitted.jobs:
            clock.mark("the engine")
        done = {j.dst.name: j.dst for j in fitted.jobs}
        from bandbridge.inference.place.sharpen_finish import BOTH_OUT, FIT_OUT, NETWORK_OUT
        finish(plan, s, done.get(FIT_OUT, done.get(BOTH_OUT)), fitted.bounds, coarse=fitted.coarse,
               network=done.get(NETWORK_OUT, done.get(BOTH_OUT)))
        clock.mark("the output")
        say(f"written: {plan.output}")
        say(f"time: {clock}")
        return Outcome(plan.output, decisions(s, stored_units(plan.targets)), rows)


KIND = Sharpen()


def sharpen(fine: list[str], reference: str, output: str, *, engine: Engine = Engine(), plan_only: bool = False,
            say: Callable[[str], None] = lambda s: None, plan: SharpenPlan | None = None, **options) -> Outcome | None:
    """Sharpen every band of ``reference`` onto the finest grid of ``fine`` into ``output``: the ``sharpen`` kind
    (``place/kinds.KINDS``) on the one runner, as the command runs it. ``options``: the request's other fields
    (``contract.SharpenRequest``: ``guides``/``bands`` only these, ``overwrite``, ``model`` ``-m``, ``cog``, ``seed``,
    ``reference_shift`` ``--reference-shift`` (``sharpen_shift.py``), ``detail`` the share of a guided route's detail
    every guided band takes (None: the test at the output's scale decides, ``learners/transfer.py``), ``network``
    the Sentinel-2 network offered as a route (``--network``; a folder: that bundle of it)). ``plan_only``: say the
    plan and write nothing (None); ``plan``: one :func:`plan_sharpen` made already. Returns what was written, its
    decision band by band (``place/contract.Outcome``)."""
    from bandbridge.inference.place.runner import run
    t0 = time.perf_counter()
    q = SharpenRequest(tuple(fine), reference, output, **options)
    if plan is not None:
        from bandbridge.inference.place.sharpen_shift import parse_shift
        plan.shift, plan.seed, plan.model, plan.detail = parse_shift(q.reference_shift), q.seed, q.model, q.detail
        plan.fine = list(fine) or plan.fine
        if not q.network and plan.network is not None:
            plan.network, plan.network_line = None, ""
    res = run(KIND, q, engine, say, plan_only, None, plan)
    if res is not None:
        res.seconds = time.perf_counter() - t0
    return res


def sets_run(kind: Sharpen, plan, work: Path, serve, say: Callable[[str], None], add):
    """Each set of ``plan`` (``sharpen_sets.SetsPlan``) fitted, served (its summary CSV its own on a cluster) and
    finished into its part in ``work``, its lines named by its set; a set's plan let go once it has run."""
    from bandbridge.inference.place.runner import engine_line
    from bandbridge.inference.place.sharpen_sets import SetsFitted, say_set, set_summary
    out = SetsFitted()
    for i, k in enumerate(plan.ks):
        p, plan.plans[i] = plan.plans[i], None  # held no longer than its own run
        told = lambda line, label=f"set {i + 1} (k = {k:.2f})": say_set([line], label, say)  # noqa: E731
        part = work / f"set{i + 1}"
        part.mkdir()
        p.output = part / "part.tif"
        fitted = kind._fit(p, part, serve, told, add)
        rows = serve(fitted.jobs, labels=fitted.labels, summary=set_summary(plan.engine, plan.output, i))
        if rows:
            told(engine_line(rows, fitted.jobs))
        out.parts.append((p.output, kind._finish(p, fitted, rows, told), k))
        del p, fitted
    return out


def _listed(names) -> list[str] | None:
    """A request's names as the readers take them (None: every one)."""
    return None if names is None else list(names)


def decided(plan: SharpenPlan, clock, say: Callable[[str], None]):
    """``(the decision, the guides' units, (their cell means, cover))``: the guides averaged onto the
    reference's grid (again where its registration moved it), the routes of every target decided
    there, and a guided band the guides look shifted against back on its upsampling."""
    from bandbridge.inference.place.fields import Lattice
    from bandbridge.inference.place.sharpen_finish import stored_units
    from bandbridge.inference.place.sharpen_shift import misregistered, registered
    from bandbridge.learners.sharpen import Headroom, decide
    from bandbridge.policy import MIN_COVER
    g, t = plan.guides, plan.targets
    # x↓ (G, h, w) stored values and each cell's cover, by sums over each cell's pixels where the grids share a lattice
    x_c, cover = Lattice.of(g.fine, t.grid).means(g.read)
    for i, name in enumerate(g.names):  # a guide band of one value over the reference guides nothing
        v = x_c[i][(cover > 0) & np.isfinite(x_c[i])]
        if v.size and np.ptp(v) == 0:
            raise BandbridgeError(f"FINE {g.bands[i].path}: its band {name} is one value ({v[0]:.6g}) everywhere over "
                                  "the reference: it guides nothing; leave it out with --guides")
        if not v.size:
            raise BandbridgeError(f"FINE {g.bands[i].path}: its band {name} has no valid pixel over the reference; "
                                  "give guides of the same place")
    clock.mark("reading")
    units = stored_units(t)  # every number on a line in these
    dy, dx, plan.registered = registered(g, t, x_c, cover, plan.shift, units)
    say(plan.registered)
    if (dy, dx) != (0.0, 0.0):  # the targets' grid moved, the guides averaged onto it again
        t.grid = t.grid.shifted(dy, dx)
        t.covered = extent_share(g.fine, t.grid)
        x_c, cover = Lattice.of(g.fine, t.grid).means(g.read)
    clock.mark("the grid's registration")
    step = max(1, int(np.sqrt(cover.size / SHARPEN_UNITS_CELLS)))  # the guides' units from every step-th cell
    xs, ok = x_c[:, ::step, ::step], (t.valid & (cover >= MIN_COVER))[::step, ::step]
    gunits = Headroom(np.nan_to_num(xs, nan=np.nanmedian(xs)), ok)
    if plan.network is not None:  # each band's stored value → the reflectance the network reads; the bands beside
        from bandbridge.inference.place.sharpen_network import mapped_units, read_beside
        mapped_units(plan.network, x_c, t)
        read_beside(plan.network, t.path)
    from bandbridge import policy
    from bandbridge.inference.place.output_scale import window
    read = lambda: window(g.read, g.fine, t.grid, t.k, gunits.to_model)  # noqa: E731 - the test's window, and the fit's
    got = read() if "sharpen" in policy.AREA_FIT else None  # the fit learned area to point (read here: its rule)
    s = decide(gunits.to_model(x_c), t.values, t.valid, cover, t.grid, t.k, t.names,
               pixels_out=g.fine.height * g.fine.width, seed=plan.seed, guide_units=gunits, unit_names=units,
               network=plan.network, fine=got[2] if got else None)
    clock.mark("the fit")
    shifted = misregistered(g, t, x_c, cover, [i for i, b in enumerate(s.bands) if b.guided], units, (dy, dx))
    clock.mark("the shift test")
    for i, why in shifted.items():
        s.bands[i].upsampled(why)
    if any(b.guided for b in s.bands):  # what the guides say at the output's scale: the share of detail taken
        from bandbridge.learners.transfer import evidence, take
        fine_x, kk, _ = got or read()  # read once, and only where a band is guided
        take(s.bands, evidence(fine_x, kk, g.names), plan.detail)
        clock.mark("the test at the output's scale")
    if not s.fitted:
        s.learner = None
    return s, gunits, (x_c, cover)
