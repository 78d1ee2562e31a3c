"""``bandbridge sharpen`` where the reference's targets lie on several grids (a Sentinel-2 product's
20 m and 60 m bands; a folder of band files of two resolutions): one run, one output.

The targets are grouped by their grid (:func:`target_sets`); every set's plan is made first
(``sharpen.plan_sharpen``: every refusal before any work), then each set is sharpened by the runner
on the ``sharpen`` kind (``place/runner.run``) — its own Wald protocol at its own ``k`` (×2 for 20 m,
×6 for 60 m against 10 m guides), its own decision, a route per band, its own engine pass — into a work folder beside
the output, and the sets' outputs are merged strip by strip through the one writer
(``core/outputs.py``: a temporary name, then the rename) into one output on the guides' grid holding
every band in the reference's order (``--bands``' order where given), each with its own tags, scale,
offset and units. The work folder is deleted after. A reference whose targets share one grid takes
``sharpen.sharpen`` as it is. The same guides guide every set (the 10 m bands, or ``--guides``).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid
from bandbridge.inference.core.outputs import Strip, opened, write_strips
from bandbridge.inference.jobs.predict import Engine
from bandbridge.inference.place.plan import Block, Memory
from bandbridge.inference.place.contract import Outcome
from bandbridge.inference.place.sharpen import KIND, SharpenPlan, plan_sharpen, sharpen
from bandbridge.inference.place.sharpen_read import (Guides, bands_of, coarser_by, default_targets, grid_of,
                                                    open_guides, pick, product_of)
from bandbridge.policy import MERGE_PX_BYTES, MERGE_ROWS




def target_sets(reference: str, wanted: list[str] | None, g: Guides) -> tuple[list[str], list[list[str]]]:
    """``(names, sets)``: the target bands' names in the output's order (the reference's; ``wanted``'s
    where given) and grouped by the grid they lie on, the finest grid first, each set in that order.
    Refuses a ``--bands`` name no band has."""
    found = bands_of(reference, "--reference")
    if wanted:
        chosen = pick(found, wanted, "--bands", "reference's bands")
    else:  # a Sentinel-2 product's every band coarser than the guides by policy.MIN_K (its 20 m and 60 m sets for
        # 10 m guides), else sharpen_read.default_targets; a band that is one of the guides would guide itself
        guiding = {(Path(b.path).resolve(), b.index) for b in g.bands}
        bands = [b for b in found if (Path(b.path).resolve(), b.index) not in guiding] or found
        s2 = product_of(reference) == "sentinel2" and g.fine.crs is not None
        coarse = [b for b in bands if s2 and coarser_by(b, g.fine) is not None]
        chosen = coarse or default_targets(reference, bands, g.fine)
    groups: dict[tuple, list[str]] = {}
    area: dict[tuple, float] = {}
    for b in chosen:  # the grid a band is read on: its file's, coarsened by its cell (Landsat TIRS's 3 × 3)
        g0 = grid_of(b.path)
        (r, c), n = b.phase, b.cell  # a stack's band averaged back from where its cells start
        grid = Grid(g0.crs, g0.transform @ Affine.translation(c, r) @ Affine.scale(n), (g0.height - r) // n,
                    (g0.width - c) // n)
        key = (str(grid.crs), tuple(grid.transform)[:6], grid.height, grid.width)
        groups.setdefault(key, []).append(b.name)
        area[key] = abs(grid.transform.a * grid.transform.e - grid.transform.b * grid.transform.d)
    return [b.name for b in chosen], [groups[key] for key in sorted(groups, key=area.get)]


def sharpen_sets(fine: list[str], reference: str, output: str, guides: list[str] | None = None,
                 bands: list[str] | None = None, overwrite: bool = False, engine: Engine = Engine(),
                 plan_only: bool = False, seed: int = 0, say: Callable[[str], None] = lambda s: None,
                 model: str | None = None, cog: bool = False, reference_shift: str | tuple = "auto",
                 network: bool = True) -> Outcome | None:
    """``sharpen.sharpen`` for targets on any number of grids: each set of targets sharing a grid
    sharpened by a run of its own, all written into the one ``output`` (``cog``: a Cloud-Optimized
    GeoTIFF) in the reference's band order (``bands``' order where given); ``plan_only``: every set's
    plan said, nothing written (None). Returns every band's decision as written, in the output's order."""
    from bandbridge.inference.place.sharpen_shift import parse_shift
    t0 = time.perf_counter()
    parse_shift(reference_shift)  # a bad value refused before any read
    g = open_guides(fine, guides)
    names, sets = target_sets(reference, bands, g)
    if len(sets) == 1:  # one grid: the run as it always was (its targets named where a guide was left out)
        if not bands and names != [b.name for b in default_targets(reference, bands_of(reference, ""), g.fine)]:
            bands = names
        return sharpen(fine, reference, output, guides, bands, overwrite, engine, plan_only, seed, say, model,
                       cog=cog, reference_shift=reference_shift, network=network)
    dst = Path(output)
    plans: list[SharpenPlan | None] = [plan_sharpen(fine, reference, output, guides, s, overwrite, engine, model,
                                                    network=network)
                                       for s in sets]  # every refusal of reading, before any work
    for p in plans:  # --reference-shift, each set's plan says it (sharpen_shift.py)
        p.shift, p.seed = parse_shift(reference_shift), seed
    where = {n: (i, j) for i, s in enumerate(sets) for j, n in enumerate(s)}
    order = [where[n] for n in names]
    say(f"the reference's targets lie on {len(sets)} grids: one run per grid (its own Wald protocol, decision, "
        "routes and engine pass), the same guides for every set, one output")
    for i, p in enumerate(plans):
        say(set_line(i, len(sets), p))
        if plan_only:
            say_set(p.lines(), f"set {i + 1}", say)
    say(f"output: {dst} ({'a COG, ' if cog else ''}{len(names)} band(s) in this order: {', '.join(names)}; each "
        "band's own scale, offset and tags; the sets written in a work folder beside it, merged by strips, then "
        "deleted)")
    for line in sets_block(plans).lines():
        say(line)
    if plan_only:
        return None
    from bandbridge.fileio import temp_folder_beside
    from bandbridge.inference.place.runner import run
    work = temp_folder_beside(dst, "sharpen-sets")
    parts: list[tuple[Path, Outcome, float]] = []
    try:
        for i, s in enumerate(sets):
            plan, plans[i] = plans[i], None  # held no longer than its own run
            part, label = work / f"set{i + 1}.tif", f"set {i + 1} (k = {plan.targets.k:.2f})"
            res = run(KIND, None, set_engine(engine, dst, i), lambda line, label=label: say_set([line], label, say),
                      plan=dataclasses.replace(plan, output=part))
            parts.append((part, res, plan.targets.k))
            del plan
        merge([p for p, _, _ in parts], order, dst, overwrite, [(s, k) for s, (_, _, k) in zip(sets, parts)], cog)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"written: {dst}")
    return Outcome(dst, [parts[i][1].decisions[j] for i, j in order], [r for _, o, _ in parts for r in o.rows],
                   time.perf_counter() - t0)


def set_engine(engine: Engine, dst: Path, i: int) -> Engine:
    """Set ``i``'s engine options: on a Dask cluster its summary CSV is named by its set beside the
    output (``bandbridge-summary-set1.csv``; ``--summary S.csv``: ``S-set1.csv``): each set's engine
    pass writes its own, and one file would keep the last set's rows (the default, beside the set's
    work file, would go with the work folder)."""
    if not engine.on_cluster:
        return engine
    base = Path(engine.cluster.summary) if engine.cluster.summary else dst.parent / "bandbridge-summary.csv"
    summary = base.with_name(f"{base.stem}-set{i + 1}{base.suffix}")
    return dataclasses.replace(engine, cluster=dataclasses.replace(engine.cluster, summary=str(summary)))


def set_line(i: int, n: int, plan: SharpenPlan) -> str:
    """One set in words: its bands, its grid (its pixel side in its CRS's units, ``20 m``; plain pixels without
    one) and its ``k``."""
    t = plan.targets
    unit = "px" if t.grid.crs is None else getattr(t.grid.crs, "linear_units", "") or ""
    unit = "m" if unit.lower() in ("metre", "meter", "m") else unit or "CRS units"
    return (f"set {i + 1} of {n}: {', '.join(t.names)} on a {t.grid.height}×{t.grid.width} grid of "
            f"{abs(t.grid.transform.a):g} {unit} pixels, k = {t.k:.2f} (Wald's protocol ×{t.k:.2g} for these bands)")


def say_set(lines: list[str], label: str, say: Callable[[str], None]) -> None:
    """A set's own lines, each naming its set; its ``output:`` and ``written:`` lines left out (they
    name its work file: the one output is said once)."""
    for line in lines:
        if not line.startswith(("output: ", "written: ")):
            say(f"{label}: {line}")


def sets_block(plans: list[SharpenPlan]) -> Block:
    """The sets' one plan block: every set's backend and tile (the guides' grid's), and the memory: the
    process when the last plan was made, then, one after another, each set's own plan with the targets
    of the sets still to run held beside it, and the merge's :data:`MERGE_PX_BYTES` a pixel of a strip
    of :data:`MERGE_ROWS` rows and band (measured)."""
    held = [p.targets.values.nbytes + p.targets.valid.nbytes + p.targets.covered.nbytes for p in plans]
    now = plans[-1].resident
    stages = {f"set {i + 1}": p.memory().peak() + sum(held[i + 1:]) - now for i, p in enumerate(plans)}
    stages["the merge"] = MERGE_PX_BYTES * MERGE_ROWS * plans[-1].guides.fine.width * sum(len(p.targets.names)
                                                                                         for p in plans)
    b = plans[0].block
    return Block(f"per grid, one run each ({len(plans)} sets, one after another), per band as its set's line says",
                 b.backend, b.tile, b.where, Memory(now, 0.0, stages))


def work_type(dtype: str) -> str:
    """The float type a band of ``dtype`` is carried in exactly (float32 holds every integer of 16 bits)."""
    d = np.dtype(dtype)
    return "float32" if d == np.float32 or (d.kind in "iub" and d.itemsize <= 2) else "float64"


def merged_type(dtypes: list[str], nodatas: list[float | None]) -> tuple[str, float | None]:
    """The one output's type and nodata: the sets' own where they share them (a product's ``uint16``
    and its 0), else the float type that holds every set's values, nodata NaN."""
    if len(set(dtypes)) == 1 and len({repr(n) for n in nodatas}) == 1:
        return dtypes[0], nodatas[0]
    return work_type(str(np.result_type(*dtypes))) if len(set(dtypes)) > 1 else work_type(dtypes[0]), float("nan")


def merge(parts: list[Path], order: list[tuple[int, int]], dst: Path, overwrite: bool,
          sets: list[tuple[list[str], float]], cog: bool = False) -> None:
    """The sets' outputs ``parts`` (one grid) into ``dst``: band ``j`` of set ``i`` for each ``(i, j)``
    of ``order``, :data:`MERGE_ROWS` rows at a time through the one writer (a temporary name, then the rename), each
    band with its own description, scale, offset, units and tags, and its set's ``k`` and learner;
    nodata where its set's output holds nodata; ``cog``: made a Cloud-Optimized GeoTIFF before the
    rename, as predict's ``--cog``. Values pass unchanged where the type is shared."""
    import rasterio
    from rasterio.windows import Window

    from bandbridge.inference.core.writer import FAST_DEFLATE, output_profile  # a one-grid run's output's deflate
    with ExitStack() as stack:
        srcs = [stack.enter_context(rasterio.open(p)) for p in parts]
        a = srcs[0]
        dtype, nodata = merged_type([s.dtypes[0] for s in srcs], [s.nodata for s in srcs])
        carry = np.dtype(work_type(dtype))
        h, w = a.height, a.width
        main = output_profile(a.crs, a.transform, h, w, len(order), dtype, 1, FAST_DEFLATE) | {"nodata": nodata}
        extra = output_profile(a.crs, a.transform, h, w, 1, "float32", 1, None)
        tags = [s.tags() for s in srcs]
        learners = [f"{','.join(n)}: {t.get('bandbridge_learner', '')}" for (n, _), t in zip(sets, tags)]

        names = [srcs[i].descriptions[j] for i, j in order]

        def setup(r) -> None:
            r.main.descriptions = tuple(names)
            r.main.scales = [srcs[i].scales[j] for i, j in order]
            r.main.offsets = [srcs[i].offsets[j] for i, j in order]
            units = [srcs[i].units[j] or "" for i, j in order]
            if any(units):
                r.main.units = tuple(units)
            for b, (i, j) in enumerate(order, 1):
                r.main.update_tags(b, **srcs[i].tags(j + 1), bandbridge_k=tags[i].get("bandbridge_k", ""),
                                   bandbridge_set=f"{i + 1} of {len(srcs)}: {','.join(sets[i][0])} at k = "
                                   f"{sets[i][1]:.3f}, learner {tags[i].get('bandbridge_learner', '')}")
            r.main.update_tags(**tags[0])
            r.main.update_tags(bandbridge_reference_bands=",".join(names),
                               bandbridge_k="; ".join(f"{','.join(n)}: {t.get('bandbridge_k', '')}"
                                                      for (n, _), t in zip(sets, tags)),
                               bandbridge_learner="; ".join(learners), bandbridge_sets=str(len(srcs)))

        def strip(r0: int, r1: int) -> Strip:
            """Rows ``[r0, r1)`` of every band, NaN where its set wrote nodata."""
            out = np.empty((len(order), r1 - r0, w), carry)
            win = Window(0, r0, w, r1 - r0)
            for i, s in enumerate(srcs):
                v = s.read(window=win).astype(carry)
                nd = s.nodata
                if nd is not None and not np.isnan(nd):
                    v[v == nd] = np.nan
                for b, (i2, j) in enumerate(order):
                    if i2 == i:
                        out[b] = v[j]
            return Strip(out, np.ones((r1 - r0, w), bool))

        with opened([dst], main, extra, overwrite, cog, None, setup) as rasters:
            write_strips(rasters, h, w, strip, dtype, nodata, rows=MERGE_ROWS)
