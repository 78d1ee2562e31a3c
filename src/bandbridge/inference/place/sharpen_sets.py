"""``bandbridge sharpen`` where the reference's targets lie on several grids (a Sentinel-2 product's
20 m and 60 m bands; a folder of band files of two resolutions): parts of one plan, one output.

The targets are grouped by their grid (:func:`target_sets`); the ``sharpen`` kind (``place/sharpen.py``) makes
every set's plan first (every refusal before any work) into one :class:`SetsPlan`, which the runner runs in its
one work folder: each set its own Wald protocol at its own ``k`` (×2 for 20 m, ×6 for 60 m against 10 m
guides), its own decision, a route per band and its own engine pass into a part file, one set after another
(a set's arrays let go before the next is read), then the parts merged strip by strip through the one writer
(``core/outputs.py``: a temporary name, then the rename) into one output on the guides' grid holding every band
in the reference's order (``--bands``' order where given), each with its own tags, scale, offset and units. The
same guides guide every set (the 10 m bands, or ``--guides``).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid
from bandbridge.inference.core.outputs import Strip, opened, write_strips
from bandbridge.inference.jobs.predict import Engine
from bandbridge.inference.place.plan import Block, Memory
from bandbridge.inference.place.sharpen_read import Guides, bands_of, coarser_by, default_targets, grid_of, pick, product_of
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


def set_summary(engine: Engine, dst: Path, i: int) -> Path | None:
    """Set ``i``'s summary CSV on a Dask cluster, named by its set beside the output
    (``bandbridge-summary-set1.csv``; ``--summary S.csv``: ``S-set1.csv``): each set's engine pass writes its own,
    and one file would keep the last set's rows; None here (no cluster, no summary)."""
    if not engine.on_cluster:
        return None
    base = Path(engine.cluster.summary) if engine.cluster.summary else dst.parent / "bandbridge-summary.csv"
    return base.with_name(f"{base.stem}-set{i + 1}{base.suffix}")


@dataclass
class SetsPlan:
    """The plan of a reference whose targets lie on several grids: each set's ``sharpen.SharpenPlan`` (a
    set's entry let go once it has run), the sets' band names, the output's band order, where it goes."""

    plans: list
    sets: list[list[str]]
    names: list[str]
    output: Path
    overwrite: bool = False
    cog: bool = False
    engine: Engine = Engine()
    ks: list[float] = field(default_factory=list)
    block: Block | None = None  # the sets' one block (:func:`sets_block`), made with the plans

    def __post_init__(self) -> None:
        self.ks = [p.targets.k for p in self.plans]
        self.block = sets_block(self.plans)

    @property
    def order(self) -> list[tuple[int, int]]:
        """Each output band's ``(set, its band in the set)``."""
        where = {n: (i, j) for i, s in enumerate(self.sets) for j, n in enumerate(s)}
        return [where[n] for n in self.names]

    def lines(self) -> list[str]:
        """The sets, each set's own plan (named by its set), the one output, the one block."""
        n, out = len(self.sets), [f"the reference's targets lie on {len(self.sets)} grids: one run per grid (its own "
                                  "Wald protocol, decision, routes and engine pass), the same guides for every set, "
                                  "one output"]
        for i, p in enumerate(self.plans):
            out.append(set_line(i, n, p))
            say_set(p.lines(), f"set {i + 1}", out.append)
        out.append(f"output: {self.output} ({'a COG, ' if self.cog else ''}{len(self.names)} band(s) in this order: "
                   f"{', '.join(self.names)}; each band's own scale, offset and tags; the sets written in the run's "
                   "work folder, merged by strips)")
        return out + self.block.lines()


@dataclass
class SetsFitted:
    """What the sets' runs left the finish: each set's part file, its decisions (``contract.Outcome``) and ``k``;
    no job of its own (each set's engine pass ran in its part)."""

    parts: list[tuple[Path, object, float]] = field(default_factory=list)
    jobs: list = field(default_factory=list)
    labels: dict | None = None


def set_line(i: int, n: int, plan) -> str:
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


def sets_block(plans: list) -> Block:
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
    from bandbridge.inference.place.plan import Disk, work_disk
    disk = Disk({f"set {i + 1}: {k}": v for i, p in enumerate(plans) for k, v in work_disk(p).files.items()}
                | {f"set {i + 1}: its part": 8.0 * p.guides.fine.height * p.guides.fine.width * len(p.targets.names)
                   for i, p in enumerate(plans)})  # a part's bands in the widest type a set writes
    return Block(f"per grid, one run each ({len(plans)} sets, one after another), per band as its set's line says",
                 b.backend, b.tile, b.where, Memory(now, 0.0, stages), disk=disk)


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
