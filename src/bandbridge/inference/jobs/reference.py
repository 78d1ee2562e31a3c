"""``bandbridge predict … --reference REF``: the band from a coarse or earlier reference of the
same place (``learners/guided.py`` fits it), one input at a time.

For each input: the reference's band of the model's target role is read over the input's
footprint (``data/reference.py``); the shift between the input and the reference is measured by
phase correlation and corrected; the date gap is stated; the
self-supervised fit is made at the reference's scale and applied at the input's; the output is the
band at the input's resolution and grid, in the reference's stored units (its scale and offset
tags), with tags saying where it came from.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.bands import FAMILY, INDICES, band_role, find_role, get_scaling
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.data.reference import (LOW_OVERLAP, Grid, Reference, average_onto, estimate_shift, file_date,
                                      open_reference, parse_date, raster_grid)
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_paths
from bandbridge.inference.core.predictor import PredictStats, predict_file
from bandbridge.inference.interop.stac_search import find_reference, is_search
from bandbridge.inference.core.writer import model_tag, open_output, output_profile, tag_bands, to_cog, verify_written

MIN_SHIFT = 0.2  # reference pixels: measured on NAIP at k = 2, 6 and 16, a reference in place read
# 0.0–0.1 and one shifted by 0.5 read 0.4–0.7 (scripts in docs/results/reference): below this, noise
FAR_DAYS = 365  # a date gap beyond this is warned of (the fit still uses what the scene kept)


@dataclass(frozen=True, kw_only=True)
class ReferenceOptions:
    """``--reference`` and the flags that go with it."""

    source: str  # a raster or band folder (or what interop/stac_search resolved it to)
    mask: str | None = None  # --reference-mask: SCL or QA_PIXEL raster on the reference's grid
    date: str | None = None  # --reference-date, where the file does not say it
    band: str | None = None  # --reference-band: the role to read (default: the model's target's)
    zero_shot: bool = False  # the model's own output as one more feature of the fit. Off: measured
    # by `bandbridge wald --zero-shot-feature` (docs/results/wald.json) it was worse on 11 of 17
    # cases, tied on 2 (NAIP k = 16: 18.45 against 17.19 DN): averaged onto the coarse grid it is not what the
    # model says at that scale; it helped only where the reference was clouded (8.10 against 11.33)


@dataclass
class Plan:
    """What one input's reference run will do, decided before any work."""

    ref: Reference
    role: str
    fine: Grid
    gap_days: int | None
    dates: tuple[str, str]  # the input's and the reference's, as found ("unknown" where not)
    zero_shot: bool = False  # ReferenceOptions.zero_shot

    def line(self, src: Path) -> str:
        g = self.ref.grid
        gap = ("date gap unknown (--reference-date sets it)" if self.gap_days is None else "the same day"
               if self.gap_days == 0 else f"{abs(self.gap_days)} days {'after' if self.gap_days > 0 else 'before'} the input")
        cover = float(self.ref.valid.mean())
        return (f"{src.name}: reference {Path(self.ref.path).name} ({self.ref.names[0]}, {self.role}, "
                f"{self.ref.dtype}; {g.height}×{g.width} pixels over the input, k = {self.ref.k:.2f}; "
                f"{100 * cover:.0f} % clear{' by ' + self.ref.masked_by if self.ref.masked_by else ''}; "
                f"input {self.dates[0]}, reference {self.dates[1]}: {gap})")


def check_reference_flags(opts, cluster: bool, stac: bool) -> None:
    """Flags that cannot go with ``--reference``, each refused in one line."""
    for bad, flag, why in ((cluster, "--workers/--scheduler", "a reference run fits each input here, file by file"),
                           (stac, "--stac", "the output's tags say where the band came from"),
                           (opts.confidence, "--confidence", "the held-out error at the reference's scale is "
                                                             "in the output's tags (bandbridge_heldout_mae)"),
                           (opts.dtype != "auto", f"--dtype {opts.dtype}", "the output takes the reference's "
                                                                           "type and units")):
        if bad:
            raise BandbridgeError(f"{flag} with --reference: {why}; drop {flag.split()[0]}")


def plan_reference(job, ropts: ReferenceOptions, say: Callable[[str], None] = lambda s: None) -> Plan:
    """Open the reference for ``job``'s input (every refusal before any work) and state the plan."""
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
        found = find_reference(job.src, source, given or mine, role)
        say(found.note)
        source, mask, given = found.href, mask or found.mask, found.when
    ref = open_reference(source, role, fine, mask)
    theirs = given or ref.when
    gap = (theirs - mine).days if mine and theirs else None
    plan = Plan(ref, role, fine, gap, (str(mine or "unknown"), str(theirs or "unknown")), ropts.zero_shot)
    if job.opts.indices:
        _check_units(job, ref)
    cover = float(ref.valid.mean())
    if cover < LOW_OVERLAP:
        say(f"warning: {job.src.name}: only {100 * cover:.0f} % of the input is seen by a clear reference "
            "pixel; the rest is filled from the input alone")
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


def run_reference(job, backend, plan: Plan, say: Callable[[str], None] = lambda s: None,
                  progress: Callable[[int], None] | None = None,
                  add: Callable[[str, int], Callable[..., None]] | None = None) -> PredictStats:
    """Predict ``job``'s input with its reference (``plan``): zero-shot, shift, fit, apply, write;
    ``add(what, total)`` gives a progress bar's advance (predict's protocol)."""
    from bandbridge.learners import guided
    t0 = time.perf_counter()
    spec, src, ref, fine = job.spec, job.src, plan.ref, plan.fine
    read = job.opts.read
    scaling = get_scaling(read.scaling, read.vmin, read.vmax)
    bands = list(read.bands)
    with tempfile.TemporaryDirectory(prefix="bandbridge-ref-") as tmp:
        first = read_raster(src, scaling, bands=bands[:1])
        x_valid = first.mask  # the input's valid pixels (nodata, non-finite), as read
        z = None
        if plan.zero_shot:
            zpath = Path(tmp) / "zero_shot.tif"
            predict_file(backend, spec, src, zpath, replace(job.opts, dtype="float32", append=False, indices=(),
                                                            cog=False, confidence=False, creation={}), progress)
            z = _read_band(zpath)

        def coarse(grid: Grid, band0: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
            # one band at a time, whole (area averaging needs every pixel of a cell), none kept
            # once averaged; band0: the first band already read, taken from the list
            each = []
            for i, b in enumerate(bands):
                data = band0.pop() if i == 0 and band0 else read_raster(src, scaling, bands=[b]).data
                each.append(average_onto(data, x_valid, fine, grid))
                del data
            cols, cover = [m[0] for m, _ in each], each[0][1]  # the share of each cell the input covers
            zc = average_onto(z[None], x_valid & np.isfinite(z), fine, grid)[0] if z is not None else None
            return np.stack(cols), zc, cover

        band0 = [first.data]
        del first
        xc, zc, cover = coarse(ref.grid, band0)
        dy, dx, err = _shift(xc, zc, ref, cover, job)
        shifted = max(abs(dy), abs(dx)) >= MIN_SHIFT
        if shifted:
            ref.grid = ref.grid.shifted(dy, dx)
            xc, zc, cover = coarse(ref.grid)
        say(f"{src.name}: shift between input and reference {dy:+.1f}, {dx:+.1f} reference pixels (rows, "
            f"columns; phase correlation){'; corrected' if shifted else '; none to correct'}")
        g = guided.fit(xc, zc, ref.values[0], ref.valid, cover, ref.grid, ref.k, plan.gap_days,
                       say=lambda s: say(f"{src.name}: {s}"))
        say(f"{src.name}: held out at the reference's scale: the fit {g.stored_error(g.fit_mae):.4g}, "
            f"with the consistency correction {g.stored_error(g.corrected_mae):.4g}, the upsampled reference "
            f"{g.stored_error(g.upsampled_mae):.4g} (MAE, the reference's stored units); correction {g.why}")

        def rows(a: int, b: int):
            r = read_raster(src, scaling, bands=bands, window=(a, 0, b - a, fine.width))
            return r.data, (z[None, a:b] if z is not None else None)
        tick = add(f"{src.name}, strips at full scale", guided.strips(fine)) if add else (lambda: None)
        pred = guided.apply(g, fine, rows, tick)
        del z
    res = guided.residual(g, pred, x_valid, fine)
    tags = provenance(plan, g, (dy, dx), shifted, err, spec)
    paths = _write(job, lambda a, b: g.to_stored(guided.corrected(g, pred[a:b], res, fine, a)), x_valid, ref, tags)
    secs = time.perf_counter() - t0
    return PredictStats(job.dst, 0, secs, fine.height * fine.width / 1e6, paths[1:],
                        [f"reference-guided ({g.chosen}; correction {g.why.split(':')[0]})"])


def _read_band(p: Path) -> np.ndarray:
    import rasterio
    with rasterio.open(p) as s:
        return s.read(1).astype(np.float32)


def _shift(xc: np.ndarray, zc: np.ndarray, ref: Reference, cover: np.ndarray, job) -> tuple[float, float, float]:
    """The shift registering the reference with the input, on a band both hold: red where the
    reference has one, else the reference against the input's linear map to it (fitted on the
    coarse cells; a misregistration barely moves a map of a few coefficients). Measured on NAIP
    (k = 2–16, shifts of 0 and ½ cell), it read within 0.3 cell on the full date where the input's
    mean band did too, and within 0.2 cell on the 256² sample where the mean band was off by up to
    0.8 (a lake that is dark in NIR only); the zero-shot output registered worse than both."""
    ok = ref.valid & (cover > 0.99)
    if ref.red is not None and (i := find_role(list(job.reading.names), "red")) is not None:
        return estimate_shift(np.nan_to_num(xc[i]), np.nan_to_num(ref.red), ok)
    from bandbridge.learners.linear import least_squares
    x = np.nan_to_num(xc)
    coef = least_squares(x[:, ok].T, ref.values[0][ok, None])[:, 0]
    return estimate_shift(np.tensordot(coef[:-1], x, 1) + coef[-1], np.nan_to_num(ref.values[0]), ok)


def provenance(plan: Plan, g, shift: tuple[float, float], shifted: bool, err: float, spec) -> dict[str, str]:
    """The output's tags: where the band came from and how well the fit held out."""
    return {"bandbridge_model": model_tag(spec), "bandbridge_reference": Path(plan.ref.path).name,
            "bandbridge_reference_band": plan.ref.names[0],
            "bandbridge_reference_date": plan.dates[1], "bandbridge_input_date": plan.dates[0],
            "bandbridge_date_gap_days": "unknown" if plan.gap_days is None else str(plan.gap_days),
            "bandbridge_k": f"{plan.ref.k:.3f}",
            "bandbridge_shift_px": f"{shift[0]:+.2f},{shift[1]:+.2f} (rows, columns of the reference; "
                                   f"{'corrected' if shifted else 'below ' + str(MIN_SHIFT)}; phase-correlation error {err:.2f})",
            "bandbridge_learner": g.chosen,
            "bandbridge_heldout_mae": f"{g.stored_error(min(g.fit_mae, g.corrected_mae) if g.correct else g.fit_mae):.6g}",
            "bandbridge_upsampled_reference_mae": f"{g.stored_error(g.upsampled_mae):.6g}",
            "bandbridge_correction": g.why,
            "bandbridge_reference_masked_by": plan.ref.masked_by or "nodata"}


def _dtype_range(dtype: str) -> tuple[float, float]:
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    return float(info.min), float(info.max)


WRITE_ROWS = 1024  # rows written at a time: whole-image copies of the output would double its peak


def _write(job, band: Callable[[int, int], np.ndarray], valid: np.ndarray, ref: Reference,
           tags: dict[str, str]) -> list[Path]:
    """The band (``band(a, b)``: rows ``[a, b)`` in the reference's stored units; with
    ``--append`` the input's bands before it, as stored) in the reference's type and units;
    ``--index`` rasters beside it; COG where asked. Written a strip of rows at a time."""
    import rasterio
    from rasterio.windows import Window
    opts, src = job.opts, job.src
    info = raster_info(src)
    bands = [int(b) for b in opts.read.bands]
    dtype = np.promote_types(ref.dtype, info.dtype).name if opts.append else ref.dtype
    nodata = ref.nodata if ref.nodata is not None else (float("nan") if np.dtype(dtype).kind == "f" else 0)
    lo, hi = _dtype_range(dtype)
    names = (list(opts.read.names) if opts.append else []) + [f"synthetic_{ref.names[0]}"]
    roles = ([band_role(n) for n in opts.read.names] if opts.append else []) + ["other"]
    paths = [job.dst] + [job.dst.with_name(f"{job.dst.stem}_{k}{job.dst.suffix or '.tif'}") for k in opts.indices]
    prof = output_profile(info.crs, info.transform, info.height, info.width, len(names), dtype, 1,
                          None if opts.cog else opts.creation)
    prof["nodata"] = nodata
    scaling = get_scaling(opts.read.scaling, opts.read.vmin, opts.read.vmax)
    phys = scaling.physical
    with atomic_paths(paths, opts.replace) as temps:
        with rasterio.Env(), open_output(temps[0], prof) as d, ExitStack() as more:
            d.descriptions = tuple(names)
            tag_bands(d, roles)
            idx = []
            p1 = output_profile(info.crs, info.transform, info.height, info.width, 1, "float32", 1,
                                None if opts.cog else opts.creation)
            for t, k in zip(temps[1:], opts.indices):
                o = more.enter_context(open_output(t, p1))
                o.descriptions = (k,)
                o.update_tags(**tags, bandbridge_source=src.name)
                idx.append((o, k))
            src_ds = more.enter_context(rasterio.open(src)) if opts.append else None
            for a in range(0, info.height, WRITE_ROWS):
                b = min(info.height, a + WRITE_ROWS)
                win = Window(0, a, info.width, b - a)
                out, ok = band(a, b), valid[a:b]
                if np.dtype(dtype).kind in "iu":
                    out = np.clip(np.rint(out), max(lo, 1 if nodata == 0 else lo), hi)
                if src_ds is not None:
                    for i, bi in enumerate(bands):
                        d.write(src_ds.read(bi + 1, window=win).astype(dtype), i + 1, window=win)
                d.write(np.where(ok, out, nodata).astype(dtype), len(names), window=win)
                for o, k in idx:
                    fn, roles_k = INDICES[k]
                    ins = [read_raster(src, scaling, bands=[bands[find_role(list(opts.read.names), r)]],
                                       window=(a, 0, b - a, info.width)).data[0] * phys[0] + phys[1]
                           for r in roles_k[:-1]]
                    v = fn(*ins, out * ref.scale + ref.offset).astype(np.float32)
                    o.write(np.where(ok, v, np.nan).astype(np.float32), 1, window=win)
            d.scales = [1.0] * (len(names) - 1) + [ref.scale]
            d.offsets = [0.0] * (len(names) - 1) + [ref.offset]
            d.update_tags(**tags, bandbridge_source=src.name)
        if opts.cog:
            for t in temps:
                to_cog(t, opts.creation)
        for t, p in zip(temps, paths):
            verify_written(t, p)
    return paths
