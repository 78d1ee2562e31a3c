"""``bandbridge fill`` as one job on the one engine: every input opened and checked from its header
(``fill_rows.py``), the scene scanned and the fit's design written by strips (``fill_strips.py``),
the route that held out best decided on a spread sample of the clear part
(``learners/fill_fit.py``), the fit saved as a bundle and predicted by the engine only on the
tiles that hold a pixel to fill (``fill_engine.py``: backends, tiles, memory plan, Dask), then the
output written by strips with the edge correction (``fill_finish.py``) through the one writer.

The output holds the scene's data bands in their own type and units, on its own grid, with the gap
filled, and one more band, ``FILLED``: 1 where the scene is as observed, 2 where this filled it,
0 where neither (no data, or a gap pixel no earlier date is clear at). Its tags (``bandbridge_fill_*``)
say the route, why, and every route's held-out MAE on the clear part.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bandbridge.errors import BandbridgeError
from bandbridge.data.reads import check_output_file
from bandbridge.inference.place.fill_checks import FORMATS, check_inputs, check_named, fill_reads
from bandbridge.inference.place.fill_engine import FILL_TILE, OVERLAP, EngineOptions
from bandbridge.inference.place.fill_finish import FILLED, OBSERVED
from bandbridge.inference.place.fill_inputs import (EARLIER_STEPS, Inputs, check_sar_later, known_clear,  # noqa: F401
                                                   open_inputs)
from bandbridge.inference.place.fill_rows import RowReader
from bandbridge.policy import FILL_EDGE_PX, FILL_SNOW_MIN

SAR_ALONE = ("none: the gap from Sentinel-1 alone, fitted on the clear part where that holds out better than a "
             "constant, else left as observed (on the WorldCereal protocol SAR alone scored 0.0314 against 0.0232 "
             "for an earlier date's per-band map: give an earlier clear date with --earlier where you have one)")


@dataclass
class FillRun:
    """What a fill decided and did (what the line and the tags say)."""

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
             mask: str | None = None, overwrite: bool = False, cog: bool = True, seed: int = 0,
             say: Callable[[str], None] = print, engine: EngineOptions = EngineOptions(),
             plan_only: bool = False, add=None, later: list[str] = (), sar_later: list[str] = ()) -> FillRun | None:
    """Fill ``scene``'s cloud gap and write it to ``out``; None (nothing written) when there is no
    gap or only the plan was asked (``plan_only``: ``--plan``). ``say`` hears each line (the notes,
    the route, the held-out errors, the engine's run); ``engine``: the backend and cluster;
    ``later``: clear dates after the scene (``--later``); ``sar_later``: SAR at them (``--sar-later``, in order)."""
    from bandbridge.data.reader import return_large_buffers
    from bandbridge.inference.place.fill_stac import found_dates
    from bandbridge.inference.place.fill_strips import scan
    then = [sar_earlier] if isinstance(sar_earlier, str) else sar_earlier or []
    check_named([("", scene), *(("--earlier", x) for x in earlier), *(("--later", x) for x in later), ("--sar", sar),
                 *(("--sar-earlier", x) for x in then), *(("--sar-later", x) for x in sar_later), ("--mask", mask)])
    (earlier, clear), (later, clear_later) = known_clear(earlier), known_clear(later)  # -e FILE#clear
    clear |= clear_later
    pairs = [x for x in ([sar_earlier] if isinstance(sar_earlier, str) else sar_earlier or []) if x]
    found = found_dates(scene, earlier, sar, pairs[0] if len(pairs) == 1 else None, later, say)  # -e/--later/--sar
    # stac: the Items' VRTs (one --sar-earlier per date is given as files)
    earlier, later, sar = found.earlier, found.later, found.sar
    sar_earlier = pairs if len(pairs) > 1 else found.sar_earlier
    dest = Path(out)
    check_output_file(dest, fill_reads([scene, *earlier, *later, sar, *(pairs if len(pairs) > 1 else [sar_earlier]),
                                        *sar_later], mask), overwrite, formats=FORMATS, command="fill")
    check_sar_later(later, sar, sar_later)
    check_inputs(scene, earlier, sar, sar_earlier, mask, later=later, sar_later=sar_later, clear=clear)
    inp = open_inputs(scene, earlier, sar, sar_earlier, mask, later, sar_later, clear)
    return_large_buffers()  # the passes' strips go back to the system when freed, not into the heap's fragments
    # (a 10980² run held 3.9 GB in the fit after its design pass's strips, 2.5 GB during it)
    sc = scan(inp.scene, inp.mask, inp.sar_all())
    if not sc.gap.any():
        say(f"{scene}: no cloud, shadow or masked pixel: nothing to fill, nothing written")
        return None
    if not earlier and not later and not sar:
        raise BandbridgeError(f"{scene}: {int(sc.gap.sum()):,} pixel(s) to fill and no --earlier; give an earlier "
                              "clear scene of the place with --earlier (or at least the scene's Sentinel-1 with --sar)")
    lines = [f"the gap: {int(sc.gap.sum()):,} pixel(s) ({sc.gap.mean():.0%}) by {sc.masked_by}, dilated; "
             f"{int(sc.clear.sum()):,} clear pixel(s) to fit on",
             "earlier: " + (", ".join(f"{r.layer.when or '?'} ({'?' if d is None else d} d before)"
                                      for r, d in zip(inp.earlier, inp.days)) if earlier else
                            "none" if later else SAR_ALONE),
             *([f"later: {', '.join(f'{r.layer.when} ({d} d after)' for r, d in zip(inp.later, inp.later_days))}"]
               if inp.later else []), *inp.notes]
    if plan_only:
        from bandbridge.inference.place.fill_plan import plan_lines
        for line in lines + plan_lines(sc, inp, engine):
            say(line)
        return None
    for line in lines:
        say(line)
    work = _work(dest, engine)
    try:
        return _run(sc, inp, dest, work, overwrite, cog, seed, say, engine, add, bool(earlier or later), found.tags)
    finally:
        from bandbridge.inference.runtime.cache import forget
        for f in work.glob("*/model.yaml"):
            forget(f.parent)
        shutil.rmtree(work, ignore_errors=True)


def _work(dest: Path, engine: EngineOptions) -> Path:
    """Work files beside the output where a cluster's workers must read them, else in the temp folder."""
    if engine.on_cluster:
        from bandbridge.fileio import temp_folder_beside
        return temp_folder_beside(dest, "fill")
    return Path(tempfile.mkdtemp(prefix="bandbridge-fill-"))


def _run(sc, inp: Inputs, dest: Path, work: Path, overwrite: bool, cog: bool, seed: int, say, engine: EngineOptions,
         add, has_earlier: bool, found_tags: dict[str, str] | None = None) -> FillRun:
    """The passes, the decision, the engine and the last pass (see the module docstring)."""
    from bandbridge.inference.place.fill_engine import bounds, bundle, engine_job, only_mask, run_engine, stacked
    from bandbridge.inference.place.fill_finish import Parts, finish, reach, stored_form
    from bandbridge.inference.place.fill_strips import FileSource, guides
    from bandbridge.learners.fill_fit import decide, decide_sar
    from bandbridge.learners.fill_regions import differs, used
    from bandbridge.learners.select import fit_threads
    g = sc.scene.layer.grid
    dates, days = inp.dates()
    gd = guides(sc, dates, inp.sar_all(), work, days, inp.dated_slots())
    if gd.dropped:
        say(f"snow: SCL calls under {FILL_SNOW_MIN:.0%} of the scene's clear part snow, so earlier snow is not taken "
            "for the ground under the gap: " + ", ".join(f"{w or '?'} ({share:.0%} of it)" for w, share in gd.dropped))
    src = FileSource(sc, gd)
    src.unit = unit = stored_form(inp.scene).unit  # the route's figures are in it (one unit a line)
    todo, holes = sc.gap & gd.has_base, sc.gap & ~gd.has_base
    n_todo, n_holes = int(todo.sum()), int(holes.sum())
    gap = int(sc.gap.sum())  # the fits serve the whole gap: a large one takes only what serves fast
    with fit_threads():  # the sample's features are windows of 40² px: one thread each beats two (17 ms
        # against 3 ms a window on two busy cores), and the folds' fits run at one thread anyway
        dec = decide(src, seed=seed, pixels_out=gap, gap=todo)
        sar_dec = decide_sar(src, seed, gap) if n_holes and inp.sar[0] is not None else None
    src.close()
    names = _channel_names(inp, gd)
    raw = list(range(len(gd.stack.names)))
    jobs, parts = [], Parts(dec, None, sar_dec)
    size = (g.height, g.width)
    if "fit" in used(dec.regions, dec.route) and n_todo:  # the scene's route, or a region's
        parts.only = only_mask(todo, reach(FILL_EDGE_PX) if dec.held is not None else 0, g, work / "only.tif")
        spec = bundle(dec, gd.stack.names, inp.scene.layer.names, work / "fit",
                      {"route": dec.route, "learner": dec.chosen, "features": dec.features,
                       "reads": [names[i] for i in dec.channels]}, gd.stack.cfg)
        parts.first = work / "first.tif"
        jobs.append(engine_job(spec, gd.stack.vrt, parts.first, parts.only, size))
    if sar_dec is not None:  # its pixels are few (no date clear there): its job is the window that holds them
        spec = bundle(sar_dec, gd.stack.names, inp.scene.layer.names, work / "sar",
                      {"route": "sar", "learner": sar_dec.chosen, "reads": [names[i] for i in sar_dec.channels]},
                      gd.stack.cfg)
        parts.sar_first, parts.sar_win = work / "sar_first.tif", bounds(holes, OVERLAP)
        jobs.append(engine_job(spec, stacked(gd.stack.vrt, raw, gd.stack.names, work / "sar.vrt", g, parts.sar_win),
                               parts.sar_first,
                               only_mask(holes, 0, g, work / "holes.tif", win=parts.sar_win), parts.sar_win[2:]))
    del src, todo, holes  # 4 B a pixel of the scene the engine's tiles can use
    run = FillRun(dec.route, dec.why, dec.mae, dec.chosen, dec.features, dec.clear_pixels,
                  n_todo + (n_holes if sar_dec is not None else 0), n_holes if sar_dec is None else 0)
    run.sar = sar_said(inp.sar)
    sar_line = f"{n_holes:,} pixel(s) no earlier date is clear at: {sar_dec.why}" if sar_dec else ""
    if not has_earlier:  # SAR alone: the route is the SAR fit or nothing, not an earlier date's
        run.route, run.why = (("sar", sar_dec.why) if sar_dec is not None else
                              ("none", "no earlier date, and SAR alone did not hold out better than a constant on "
                               "the clear part (or it is too small to fit on): the gap left as observed"))
    say(f"route: {run.why}")
    if differs(dec.regions, dec.route):
        run.regions = "; ".join(r.text() for r in dec.regions.values())
        say(f"by region: {run.regions} (every MAE in {unit})")
    if sar_line and has_earlier:  # its own line: its error is in other units than the route's
        run.sar_alone = sar_line
        say(f"SAR alone: {sar_line}")
    if has_earlier and n_todo:
        run.sources = sources(gd.counts, dates, days, run.route == "interpolated", n_todo)
        say(f"the gap filled from: {run.sources}")
    if jobs:
        summary = (Path(engine.cluster.summary) if engine.cluster.summary else dest.parent / "bandbridge-summary.csv") \
            if engine.on_cluster else None
        name = Path(inp.scene.item).name
        labels = {j.dst: f"{name}, the {'SAR ' if j.dst == parts.sar_first else ''}fit" for j in jobs}
        run.rows = run_engine(jobs, engine, say, summary, add, labels, gap)
        first = run.rows[0]
        run.backend, run.tile = first.get("backend", ""), int(first.get("tile") or 0)
        run.tiles = sum(int(r.get("tiles") or 0) for r in run.rows)
        say(f"the fit predicted on {run.backend}: " + (f"{run.tiles} tile(s)" if run.tiles else "the tiles")
            + f" of {run.tile or FILL_TILE}² holding pixels to fill (overlap {OVERLAP} px)")
    if run.unfillable:
        say(f"{run.unfillable:,} gap pixel(s) have no clear earlier date: left as observed, FILLED 0 there")
    used = [d for d, u in zip(days, gd.used) if u]  # a date that is nothing but snow left out is not in the tags
    said = tags(sc, [d for d in used if d is None or d > 0], [-d for d in used if d is not None and d < 0], run)
    said |= {"bandbridge_fill_mae_units": unit} if run.mae else {}
    n = finish(sc, gd, parts, dest, said | (found_tags or {}), overwrite, cog, FILL_EDGE_PX if has_earlier else 0)
    if n < run.filled:  # fill_finish codes FILLED only where a value was written
        say(f"{run.filled - n:,} gap pixel(s) got no value from the route: left as observed, FILLED 0 there")
        run.filled = n
    say(f"written to {dest}")
    return run


def sources(counts, dates: list[RowReader], days: list[int | None], interpolated: bool, todo: int) -> str:
    """Which dates filled how much of the gap, in words (``fill_strips.Guides.counts``)."""
    row = counts[1] if interpolated else counts[0]
    parts = [(f"{r.layer.when or '?'} ({'?' if d is None else abs(d)} d {'before' if d is None or d > 0 else 'after'})",
              row[i]) for i, (r, d) in enumerate(zip(dates, days))]
    if interpolated:
        parts.append(("the dates before and after interpolated", row[-1]))
    return ", ".join(f"{what} {n / todo:.0%}" for what, n in parts if n)


def _channel_names(inp: Inputs, gd) -> list[str]:
    c = len(inp.scene.layer.names)
    names = [f"base {n}" for n in inp.scene.layer.names]
    names += [f"date {i // c + 2} {inp.scene.layer.names[i % c]}" for i in range(len(gd.channels["dates"]))]
    names += [f"interpolated {n}" for n in inp.scene.layer.names][:len(gd.channels["between"])]
    names += ["SAR now VV", "SAR now VH", "SAR then VV", "SAR then VH", "VV change", "VH change"][
        :len(gd.channels["sar"])]
    return names + ["SAR later VV", "SAR later VH", "VV change since now", "VH change since now"][
        :len(gd.channels.get("sar_later", []))] + [
        "SAR at the base's date VV", "SAR at the base's date VH", "VV change to now", "VH change to now"][
        :len(gd.channels.get("sar_dated", []))]


def sar_said(sar: list) -> str:
    """The dates SAR was given at, in words (``Inputs.sar``: now, then, later): "now and then", "none"…"""
    at = [w for w, s in zip(("now", "then", "later"), sar) if s is not None]
    return "none" if not at else at[0] if len(at) == 1 else ", ".join(at[:-1]) + " and " + at[-1]


def tags(sc, before: list[int | None], after: list[int], run: FillRun) -> dict[str, str]:
    """What the output says of the fill (GDAL metadata, ``bandbridge_fill_*``)."""
    t = {"bandbridge_fill_route": run.route, "bandbridge_fill_why": run.why,
         "bandbridge_fill_mask": sc.masked_by, "bandbridge_fill_pixels": str(run.filled),
         "bandbridge_fill_clear_pixels": str(run.clear_pixels),
         "bandbridge_fill_earlier_days": "none" if run.route in ("sar", "none") else  # no earlier date given
         ",".join("?" if d is None else str(d) for d in before),
         "bandbridge_fill_later_days": ",".join(str(d) for d in after) or "none",
         "bandbridge_fill_sar": run.sar,
         "bandbridge_fill_band": f"FILLED: {OBSERVED} observed, {FILLED} filled, 0 no data"}
    for k, v in run.mae.items():
        t[f"bandbridge_fill_mae_{k.replace('-', '_')}"] = f"{v:.6g}"
    if run.chosen:
        t["bandbridge_fill_learner"] = f"{run.chosen} on {run.features}"
    if run.sources:
        t["bandbridge_fill_sources"] = run.sources
    if run.sar_alone:
        t["bandbridge_fill_sar_alone"] = run.sar_alone
    if run.regions:
        t["bandbridge_fill_regions"] = run.regions
    if run.backend:
        t["bandbridge_fill_engine"] = f"{run.backend}, {run.tiles} tile(s) of {run.tile}²"
    return t
