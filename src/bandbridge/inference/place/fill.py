"""``bandbridge fill`` as a kind of the fit at the place (:data:`KIND`, ``place/runner.py``; :func:`run_fill` is
the runner on the command's request): every input checked from its header (``fill_checks.py``), the scene scanned
and the flags written by strips (``fill_strips.py``, ``fill_guides.py``), the route that held out best decided on
a spread sample of the clear part (``learners/fill_fit.py``), the fit saved as a bundle and served by the one
engine only on the tiles holding a pixel to fill, then the last pass (``fill_finish.py``).

The output holds the scene's data bands in their own type and units, on its own grid, with the gap filled, and
``FILLED``: 1 where the scene is as observed, 2 where this filled it, 0 where neither (no data, or a gap pixel no
date is clear at). Its tags (``bandbridge_fill_*``; per band ``place/tags``' schema) say the route, why, and every
route's held-out MAE on the clear part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bandbridge.errors import BandbridgeError
from bandbridge.data.reads import check_output_file
from bandbridge.inference.place.contract import BandDecision, FillRequest, Outcome
from bandbridge.inference.place.fill_checks import FORMATS, check_inputs, fill_reads
from bandbridge.inference.jobs.predict import Engine
from bandbridge.inference.place.engine import OVERLAP
from bandbridge.inference.place.fill_finish import FILLED, OBSERVED
from bandbridge.inference.place.fill_inputs import check_sar_later, known_clear, open_inputs
from bandbridge.inference.place.fill_rows import RowReader
from bandbridge.policy import FILL_EDGE_PX, FILL_SNOW_MIN
from bandbridge.progress import current, steps

SAR_ALONE = ("none: the gap from Sentinel-1 alone, fitted on the clear part where that holds out better than a "
             "constant, else left as observed (on the WorldCereal protocol SAR alone scored 0.0316 against 0.0221 "
             "for an earlier date's per-band map: give an earlier clear date with --earlier where you have one)")


@dataclass
class Decided:
    """What a fill decided and did, between its fit and its finish (what its lines and tags say); the run
    returns ``place/contract.Outcome``, whose decisions (:func:`decisions`) and tags carry it."""

    route: str
    why: str
    mae: dict[str, float]
    chosen: str = ""
    features: str = ""
    clear_pixels: int = 0
    filled: int = 0
    unfillable: int = 0
    backend: str = ""  # what ran the fit's bundle ("" where no model ran)
    tile: int = 0
    tiles: int = 0  # tiles the engine ran (only those holding a pixel to fill)
    rows: list[dict] = field(default_factory=list)  # the engine's, one per job
    sources: str = ""  # which dates filled how much of the gap, in words
    sar_alone: str = ""  # gap pixels no date is clear at, filled from SAR alone: how, its own line and units
    sar: str = "none"  # the dates SAR was given at: "now", "now and then", "now, then and later", … or "none"
    regions: str = ""  # the gap's regions and their routes, where one differs from the scene's (fill_regions)


def run_fill(scene: str, out: str, earlier: list[str], sar: str | None = None, sar_earlier: str | list[str] | None = None,
             mask: str | None = None, *, say: Callable[[str], None] = print, engine: Engine = Engine(),
             plan_only: bool = False, add=None, **options) -> Outcome | None:
    """Fill ``scene``'s cloud gap and write it to ``out``: the output, each data band's decision (its route,
    why, learner, and every route's held-out MAE in ``checks``) and the engine's rows (``place/contract.Outcome``);
    None (nothing written) when there is no gap or only the plan was asked (``plan_only``: ``--plan``). ``say`` hears
    each line (the notes, the plan, the route, the held-out errors, the engine's run); ``engine``: the backend and
    cluster; ``options``: the request's other fields (``contract.FillRequest``: ``overwrite``, ``cog``, ``seed``,
    ``later`` clear dates after the scene, ``sar_later`` SAR at them, ``route`` a route that fills the gap whatever
    the check says, ``dilate`` the px the gap grows by)."""
    from bandbridge.inference.place.runner import run
    req = FillRequest(scene, out, tuple(earlier), sar, sar_earlier, mask, **options)
    return run(KIND, req, engine, say, plan_only, add)


def _plan(req: FillRequest, engine: Engine, say: Callable[[str], None]):
    """Every input checked and opened, the scene scanned and the run planned (``fill_plan.FillPlan``);
    None where the scene has no gap."""
    from bandbridge.inference.place.fill_plan import FillPlan, block
    from bandbridge.inference.place.fill_stac import found_dates
    from bandbridge.inference.place.fill_strips import scan
    scene, sar, mask, sar_later = req.scene, req.sar, req.mask, list(req.sar_later)
    pairs = [x for x in ([req.sar_earlier] if isinstance(req.sar_earlier, str) else req.sar_earlier or []) if x]
    for flag, item in [("", scene), *(("--earlier", x) for x in req.earlier), *(("--later", x) for x in req.later),
                       ("--sar", sar), *(("--sar-earlier", x) for x in pairs), *(("--sar-later", x) for x in sar_later),
                       ("--mask", mask)]:  # an empty path: GDAL would read '' as this folder, and name it "."
        if item is not None and not str(item).strip():
            raise BandbridgeError(f"{flag or 'the scene'} '{item}': an empty path; give the file's path")
    (earlier, clear), (later, clear_later) = known_clear(list(req.earlier)), known_clear(list(req.later))  # -e FILE#clear
    clear |= clear_later
    found = found_dates(scene, earlier, sar, pairs[0] if len(pairs) == 1 else None, later, say)  # -e/--later/--sar
    # stac: the Items' VRTs (one --sar-earlier per date is given as files)
    earlier, later, sar = found.earlier, found.later, found.sar
    sar_earlier = pairs if len(pairs) > 1 else found.sar_earlier
    dest = Path(req.out)
    check_output_file(dest, fill_reads([scene, *earlier, *later, sar, *(pairs if len(pairs) > 1 else [sar_earlier]),
                                        *sar_later], mask), req.overwrite, formats=FORMATS, command="fill")
    check_sar_later(later, sar, sar_later)
    check_inputs(scene, earlier, sar, sar_earlier, mask, later=later, sar_later=sar_later, clear=clear)
    inp = open_inputs(scene, earlier, sar, sar_earlier, mask, later, sar_later, clear)
    sc = scan(inp.scene, inp.mask, inp.sar_all(), req.dilate, current())  # the command's display (runner.run)
    if not sc.gap.any():
        say(f"{scene}: no cloud, shadow or masked pixel: nothing to fill, nothing written")
        return None
    if not earlier and not later and not sar:
        raise BandbridgeError(f"{scene}: {int(sc.gap.sum()):,} pixel(s) to fill and no --earlier; give an earlier "
                              "clear scene of the place with --earlier (or at least the scene's Sentinel-1 with --sar)")
    said = [f"the gap: {int(sc.gap.sum()):,} pixel(s) ({sc.gap.mean():.0%}) by {sc.masked_by}; "
            f"{int(sc.clear.sum()):,} clear pixel(s) to fit on",
            "earlier: " + (", ".join(f"{r.layer.when or '?'} ({'?' if d is None else d} d before)"
                                     for r, d in zip(inp.earlier, inp.days)) if inp.earlier else
                           "none" if inp.later else SAR_ALONE),
            *([f"later: {', '.join(f'{r.layer.when} ({d} d after)' for r, d in zip(inp.later, inp.later_days))}"]
              if inp.later else []), *inp.notes]  # the plan's own lines: the gap, the dates and the inputs' notes
    return FillPlan(dest, block(sc, inp, engine), said, sc, inp, req, bool(earlier or later), found.tags or {})


@dataclass
class Fitted:
    """The fill as fitted: the engine's ``jobs`` and their ``labels``, what the run decided (``run``), the
    flags pass's ``gd``, the finish's ``parts``, the dates' ``days`` and the unit the figures are in."""

    jobs: list
    labels: dict | None
    run: Decided
    gd: object
    parts: object
    days: list
    unit: str


def _fit(plan, work: Path, serve, say: Callable[[str], None], add) -> Fitted:
    """The flags pass, the decision (and the SAR fit's) and each fit saved as a bundle and an engine job."""
    from bandbridge.inference.place.fill_finish import Parts, stored_form
    from bandbridge.inference.place.fill_guides import FileSource, guides
    from bandbridge.learners.fill_fit import decide, decide_sar
    from bandbridge.learners.select import fit_threads
    sc, inp = plan.sc, plan.inp
    dates, days = inp.dates()
    gd = guides(sc, dates, inp.sar_all(), work, days, inp.dated_slots(), add)
    if gd.dropped:
        say(f"snow: SCL calls under {FILL_SNOW_MIN:.0%} of the scene's clear part snow, so earlier snow is not taken "
            "for the ground under the gap: " + ", ".join(f"{w or '?'} ({share:.0%} of it)" for w, share in gd.dropped))
    src = FileSource(sc, gd)
    src.unit = unit = stored_form(inp.scene).unit  # the route's figures are in it (one unit a line)
    todo, gap = sc.gap & gd.has_base, int(sc.gap.sum())  # the fits serve the whole gap: a large one takes only
    # what serves fast
    with fit_threads():  # the sample's features are small windows: one thread each beats two
        dec = decide(src, seed=plan.request.seed, force=plan.request.route, pixels_out=gap, gap=todo, progress=add)
        sar_dec = decide_sar(src, plan.request.seed, gap, add) if (sc.gap & ~gd.has_base).any() and \
            inp.sar[0] is not None else None
    src.close()
    del src, todo
    parts = Parts(dec, None, sar_dec)
    jobs = _jobs(plan, gd, parts, work)
    labels = {j.dst: f"{Path(inp.scene.item).name}, the {'SAR ' if j.dst == parts.sar_first else ''}fit" for j in jobs}
    return Fitted(jobs, labels, _decided(plan, gd, parts, dates, days, unit, say), gd, parts, days, unit)


def _jobs(plan, gd, parts, work: Path) -> list:
    """The engine's jobs: the route's fit on the tiles holding the pixels to fill (and the ring the edge pass
    reads), the SAR fit on the window holding the pixels no date is clear at."""
    from bandbridge.inference.place.engine import job
    from bandbridge.inference.place.fill_finish import reach
    from bandbridge.inference.place.fill_stack import bounds, only_mask, stacked
    from bandbridge.learners.fill_regions import used
    sc, inp, dec, sar_dec = plan.sc, plan.inp, parts.dec, parts.sar
    g, jobs, bands = sc.scene.layer.grid, [], inp.scene.layer.names
    names = [f"base {n}" for n in bands] + [f"date {i // len(bands) + 2} {bands[i % len(bands)]}"
                                            for i in range(len(gd.channels["dates"]))]  # the design's, for the record
    names += [f"interpolated {n}" for n in bands][:len(gd.channels["between"])]
    names += [n for k, ns in SAR_NAMES.items() for n in ns[:len(gd.channels.get(k, []))]]
    todo, holes = sc.gap & gd.has_base, sc.gap & ~gd.has_base
    if "fit" in used(dec.regions, dec.route) and todo.any():  # the scene's route, or a region's
        parts.only = only_mask(todo, reach(FILL_EDGE_PX) if dec.held is not None else 0, g, work / "only.tif")
        spec = _bundle(dec, gd, inp.scene.layer.names, work / "fit",
                       {"route": dec.route, "learner": dec.chosen, "features": dec.features,
                        "reads": [names[i] for i in dec.channels]})
        parts.first = work / "first.tif"
        jobs.append(job(spec, gd.stack.vrt, parts.first, (g.height, g.width), plan.block.tile,
                        f"the fill's fit ({spec.name})", only=parts.only))
    if sar_dec is not None:  # its pixels are few (no date clear there): its job is the window that holds them
        spec = _bundle(sar_dec, gd, inp.scene.layer.names, work / "sar",
                       {"route": "sar", "learner": sar_dec.chosen, "reads": [names[i] for i in sar_dec.channels]})
        parts.sar_first, parts.sar_win = work / "sar_first.tif", (win := bounds(holes, OVERLAP))
        src = stacked(gd.stack.vrt, list(range(len(gd.stack.names))), gd.stack.names, work / "sar.vrt", g, win)
        jobs.append(job(spec, src, parts.sar_first, win[2:], plan.block.tile, f"the fill's fit ({spec.name})",
                        only=only_mask(holes, 0, g, work / "holes.tif", win=win)))
    return jobs


def _bundle(dec, gd, targets: list[str], folder: Path, record: dict):
    """The decision's module saved as a bundle in ``folder`` (``place/bundle.save``); its spec. Input: the raw
    stack's bands (``fill_stack.py``) read through ``minmax`` over the fit's feed (``fill_fit.feed_of``), the
    design computed from them in the bundle (``models/fill_design.FillDesign``); output: the scene's bands
    ``targets`` in the fit's model values (written as float32)."""
    from bandbridge.generators import build_generator
    from bandbridge.inference.place.bundle import save
    from bandbridge.learners.fill_fit import HALF
    from bandbridge.learners.saved import learner_value
    from bandbridge.models.fill_design import Designed
    channels, c = gd.stack.names, len(targets)
    learner = learner_value(dec.fitted.generator())
    cfg = {**gd.stack.cfg, "channels": list(dec.channels)}
    args = {"bands": 0 if dec.route == "sar" else c, "half": HALF, "design": cfg}  # a region's fit maps the base
    # whatever the scene's route (fill_fit.Decision.module); the SAR fit maps no date
    module = build_generator("fill-base", len(channels), c, args, 1, learner, None)
    module.load_state_dict(Designed(cfg, dec.module()).state_dict())
    return save(folder, module, f"fill-{dec.route}",
                {"bands": list(range(len(channels))), "scaling": "minmax", "vmin": dec.feed[0], "vmax": dec.feed[1],
                 "band_names": channels}, {"bands": list(targets), "scaling": "minmax", "vmin": 0.0, "vmax": 1.0},
                {"name": "fill-base", "args": args, "learner": learner}, ("fill_fit", record))


def _decided(plan, gd, parts, dates, days, unit: str, say: Callable[[str], None]) -> Decided:
    """What the fill decided, said: the route and why, by region, SAR alone's and the dates' shares."""
    sc, dec, sar_dec, has_earlier = plan.sc, parts.dec, parts.sar, plan.has_earlier
    n_todo, n_holes = int((sc.gap & gd.has_base).sum()), int((sc.gap & ~gd.has_base).sum())
    run = Decided(dec.route, dec.why, dec.mae, dec.chosen, dec.features, dec.clear_pixels,
                  n_todo + (n_holes if sar_dec is not None else 0), n_holes if sar_dec is None else 0)
    at = [w for w, s in zip(("now", "then", "later"), plan.inp.sar) if s is not None]  # the dates SAR was given at
    run.sar = "none" if not at else at[0] if len(at) == 1 else ", ".join(at[:-1]) + " and " + at[-1]
    if not has_earlier:  # SAR alone: the route is the SAR fit or nothing, not an earlier date's
        run.route, run.why = (("sar", sar_dec.why) if sar_dec is not None else
                              ("none", "no earlier date, and SAR alone did not hold out better than a constant on "
                               "the clear part (or it is too small to fit on): the gap left as observed"))
    say(f"the route: {run.why}")  # the decision; the plan block's "route:" line is what the plan can tell
    if any(r.route != dec.route for r in dec.regions.values()):  # some region's route is not the scene's
        run.regions = "; ".join(r.text() for r in dec.regions.values())
        say(f"by region: {run.regions} (every MAE in {unit})")
    if sar_dec is not None and has_earlier:  # its own line: its error is in other units than the route's
        run.sar_alone = f"{n_holes:,} pixel(s) no earlier date is clear at: {sar_dec.why}"
        say(f"SAR alone: {run.sar_alone}")
    if has_earlier and n_todo:
        run.sources = sources(gd.counts, dates, days, run.route == "interpolated", n_todo)
        say(f"the gap filled from: {run.sources}")
    return run


def _finish(plan, fitted: Fitted, rows: list[dict], say: Callable[[str], None], add) -> Outcome:
    """The output written by the last pass (``fill_finish.finish``) and tagged; every data band's decision."""
    from bandbridge.inference.place.fill_finish import finish
    from bandbridge.inference.place.fill_strips import ROWS
    run, req, sc = fitted.run, plan.request, plan.sc
    if rows:  # the runner said them ("engine: …")
        run.rows, run.backend, run.tile = rows, rows[0].get("backend", ""), int(rows[0].get("tile") or 0)
        run.tiles = sum(int(r.get("tiles") or 0) for r in rows)
    if run.unfillable:
        say(f"{run.unfillable:,} gap pixel(s) have no clear earlier date: left as observed, FILLED 0 there")
    used = [d for d, u in zip(fitted.days, fitted.gd.used) if u]  # a date all snow left out is not in the tags
    said = tags(sc, [d for d in used if d is None or d > 0], [-d for d in used if d is not None and d < 0], run)
    said |= {"bandbridge_fill_mae_units": fitted.unit} if run.mae else {}
    bands = decisions(sc.scene.layer.names, run, fitted.unit)
    tick = steps(add, f"the finish: {plan.output.name} by strips", -(-sc.valid.shape[0] // ROWS))
    n = finish(sc, fitted.gd, fitted.parts, plan.output, said | plan.found_tags, req.overwrite, req.cog,
               FILL_EDGE_PX if plan.has_earlier else 0, bands, tick)
    if n < run.filled:  # fill_finish codes FILLED only where a value was written
        say(f"{run.filled - n:,} gap pixel(s) got no value from the route: left as observed, FILLED 0 there")
        run.filled = n
    say(f"written to {plan.output}")
    return Outcome(plan.output, bands, rows)


class FillKind:
    """``bandbridge fill`` on the contract of ``place/runner.py``."""

    name = "fill"
    plan, fit, finish = staticmethod(_plan), staticmethod(_fit), staticmethod(_finish)


KIND = FillKind()


def sources(counts, dates: list[RowReader], days: list[int | None], interpolated: bool, todo: int) -> str:
    """Which dates filled how much of the gap, in words (``fill_strips.Guides.counts``)."""
    row = counts[1] if interpolated else counts[0]
    parts = [(f"{r.layer.when or '?'} ({'?' if d is None else abs(d)} d {'before' if d is None or d > 0 else 'after'})",
              row[i]) for i, (r, d) in enumerate(zip(dates, days))]
    parts += [("the dates before and after interpolated", row[-1])] if interpolated else []
    return ", ".join(f"{what} {n / todo:.0%}" for what, n in parts if n)


SAR_NAMES = {"sar": ["SAR now VV", "SAR now VH", "SAR then VV", "SAR then VH", "VV change", "VH change"],
             "sar_later": ["SAR later VV", "SAR later VH", "VV change since now", "VH change since now"],
             "sar_dated": ["SAR at the base's date VV", "SAR at the base's date VH", "VV change to now",
                           "VH change to now"]}  # the design's SAR channels by group (fill_fit.channels_of)


def decisions(names: list[str], run: Decided, unit: str) -> list[BandDecision]:
    """Each data band's decision (``place/contract.BandDecision``): the scene's route, its held-out MAE on the
    clear part and the earlier date's as it is, in ``unit``; ``checks`` every route's held-out MAE by route."""
    from bandbridge.learners.fill_fit import ROUTES
    nan = float("nan")
    return [BandDecision(n, run.route, ROUTES.get(run.route, run.route), run.mae.get(run.route, nan),
                         run.mae.get("as-is", nan), "as-is", unit, run.why, run.chosen if run.route == "fit" else "",
                         checks=dict(run.mae))
            for n in names]


def tags(sc, before: list[int | None], after: list[int], run: Decided) -> dict[str, str]:
    """What the output says of the fill (GDAL metadata, ``bandbridge_fill_*``)."""
    t = {"bandbridge_fill_mask": sc.masked_by, "bandbridge_fill_pixels": str(run.filled),
         "bandbridge_fill_clear_pixels": str(run.clear_pixels),
         "bandbridge_fill_earlier_days": "none" if run.route in ("sar", "none") else  # no earlier date given
         ",".join("?" if d is None else str(d) for d in before),
         "bandbridge_fill_later_days": ",".join(str(d) for d in after) or "none",
         "bandbridge_fill_sar": run.sar,
         "bandbridge_fill_band": f"FILLED: {OBSERVED} observed, {FILLED} filled, 0 no data"}
    t |= {f"bandbridge_fill_mae_{k.replace('-', '_')}": f"{v:.6g}" for k, v in run.mae.items()}
    said = (("learner", run.chosen and f"{run.chosen} on {run.features}"), ("sources", run.sources),
            ("sar_alone", run.sar_alone), ("regions", run.regions),
            ("engine", run.backend and f"{run.backend}, {run.tiles} tile(s) of {run.tile}²"))
    return t | {f"bandbridge_fill_{k}": v for k, v in said if v}
