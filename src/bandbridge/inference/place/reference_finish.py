"""A reference run's last pass: the output written from what the engine predicted (the fit's
bundle, ``reference_fit.py``) or from the model's zero-shot output, :data:`ROWS` rows at a time,
through the one writer (``core/outputs.py``):

- the **consistency correction** where the fit's check kept it: the residual ``r − mean_k(output)``
  of every clear cell (the cell means gathered from the engine's output) interpolated onto the rows;
- the **consistent route**: the zero-shot output calibrated to the reference and scaled per cell so
  that it averages back to it, the ratio interpolated bilinearly;
- values kept in the band's range (:func:`band_bounds`: the stored depth above, the reference's own
  floor below, and a reflectance or a DN never negative), stored in the
  reference's type and units, the input's bands before it with ``--append``, ``--index`` rasters
  beside it, COG or a picture where asked, and tags that say where the band came from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.bands import band_role, get_scaling
from bandbridge.data.grids import residual
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.data.reference import SIGNED
from bandbridge.inference.core.outputs import ROWS, Strip, opened, write_strips
from bandbridge.inference.core.predictor import PredictStats, index_plan
from bandbridge.inference.core.writer import model_tag, nodata_of, output_profile, tag_bands
from bandbridge.inference.place.fields import Warped, finite, read_rows
from bandbridge.inference.place.reference_fit import Fitted, held_out
from bandbridge.inference.place.contract import BandDecision
from bandbridge.inference.place.tags import write as write_tags
from bandbridge.policy import CONSISTENT_MARGIN

WORST = "at its worst octave checked (2 cells a side up to k), what the output's scale is taken to be"
ROUNDS = 2  # passes that make the consistent route's smooth ratio average back to the reference


def finish(job, plan, f: Fitted, tags: dict[str, str], tick: Callable[[], None] = lambda: None) -> PredictStats:
    """Write ``job``'s output (and extras) from the fitted run ``f``; ``tags`` go on every raster."""
    t0 = time.perf_counter()
    g, ref, fine = f.fit, plan.ref, plan.fine
    read, opts = job.opts.read, job.opts
    scaling = get_scaling(read.scaling, read.vmin, read.vmax)
    info = raster_info(job.src)
    dtype = np.promote_types(ref.dtype, info.dtype).name if opts.append else ref.dtype  # wide enough for both
    nodata = nodata_of(dtype, ref.nodata)
    names = (list(read.names) if opts.append else []) + [f"synthetic_{ref.names[0]}"]
    roles = ([band_role(n) for n in read.names] if opts.append else []) + ["other"]
    index_fns = index_plan(opts.indices, job.spec, list(read.names))
    paths = [job.dst] + [job.dst.with_name(f"{job.dst.stem}_{k}{job.dst.suffix or '.tif'}") for k in index_fns]
    co = None if opts.cog else opts.creation
    main = output_profile(info.crs, info.transform, fine.height, fine.width, len(names), dtype, 1, co)
    extra = output_profile(info.crs, info.transform, fine.height, fine.width, 1, "float32", 1, co)
    fields = Fields(f, plan)
    lo, hi = band_bounds(ref.values[:1], ref.valid, ref.k, ref.dtype, [ref.scale], [ref.offset],
                         [plan.role in SIGNED], ref.bits)  # the band's range (both finishes)
    in_scale, in_offset, _ = scaling.physical

    def setup(r) -> None:
        r.main.descriptions = tuple(names)
        tag_bands(r.main, roles)
        r.main.scales = [1.0] * (len(names) - 1) + [ref.scale]
        r.main.offsets = [0.0] * (len(names) - 1) + [ref.offset]
        for d, k in zip(r.extras, index_fns):
            d.descriptions = (k,)
        for d in [r.main, *r.extras]:
            d.update_tags(**tags, bandbridge_source=job.src.name)
        write_tags(r.main, "reference", [decision(plan, f)], first=len(names))

    def strip(a: int, b: int) -> Strip:
        """Rows ``[a, b)``: the band in the reference's stored units (the fit's output with its
        correction, or the consistent route's), the input's bands before it with ``--append``
        (as stored), and the ``--index`` rasters of the two."""
        band = clamped(fields.rows(a, b)[None], lo, hi)[0]  # the reference's stored units, in its range
        ok = np.isfinite(band)  # the engine wrote NaN where the input had no valid pixel
        x = np.zeros((0, b - a, fine.width), np.float32)
        if opts.append or index_fns:  # the input's bands are written or make an index
            r = read_raster(job.src, scaling, read.bands, window=(a, 0, b - a, fine.width), sensor=read.sensor)
            x, ok = r.data, ok & r.mask
        nir = ((np.nan_to_num(band) * ref.scale + ref.offset) - in_offset) / in_scale  # the input's model units
        indices = [fn(*[x[i] for i in idx], nir.astype(np.float32)) for fn, idx in index_fns.values()]
        values = np.concatenate([scaling.decode(x).astype(np.float64), band[None]]) if opts.append else band[None]
        return Strip(values, ok, indices)

    with opened(paths, main | {"nodata": nodata}, extra, opts.replace, opts.cog, opts.creation, setup) as rasters:
        write_strips(rasters, fine.height, fine.width, strip, dtype, nodata, tick)
    return PredictStats(job.dst, 0, time.perf_counter() - t0 + f.seconds, fine.height * fine.width / 1e6, paths[1:],
                        [f"reference-guided ({g.chosen}; {g.route})"])


def band_bounds(values: np.ndarray, valid: np.ndarray, k: float, dtype: str, scales, offsets, signed,
                bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(lo (C,), hi (C,))``: the stored values each written band of the reference ``values (C, h, w)``
    (stored units, ``valid (h, w)`` its clear cells, ``k`` guide pixels a cell) is kept within, by both
    finishes (``sharpen_finish.finish``, :func:`finish`). Above, the stored range: ``2**bits − 1`` where the
    file states its depth (``NBITS``), else a maximum at exactly 2ⁿ − 1 of a depth under the type's (a
    sensor's saturation: WorldView-2's 11-bit 2047 stored as uint16, which states no depth), else the type's
    (none for floats). Below, the band's minimum less ``policy.FLOOR_DROP`` times how far its low end
    (``policy.FLOOR_QUANTILE``, not the minimum: one dark outlier cell would set it) drops one Wald step
    finer, the reference averaged by ``k`` against the reference (what a coarse cell hides below its mean),
    none with fewer than ``policy.FLOOR_CELLS`` whole cells one step down; and a physical 0 where the band
    is not ``signed`` (one flag a band). What set the rule: policy's rules."""
    from bandbridge.data.grids import block_mean
    from bandbridge.policy import FLOOR_CELLS, FLOOR_DROP, FLOOR_QUANTILE
    c = values.shape[0]
    lo, hi = np.full(c, -np.inf), np.full(c, np.inf)
    if not valid.any():
        return lo, hi
    kind = np.dtype(dtype)
    if kind.kind in "iu":
        top = max(float(np.max(v, where=valid, initial=-np.inf)) for v in values)  # one file, one depth
        depth = bits if bits and bits < kind.itemsize * 8 else next(
            (n for n in range(8, kind.itemsize * 8) if top == 2 ** n - 1), None)
        hi[:] = 2 ** depth - 1 if depth else np.iinfo(kind).max
    step = max(2, int(round(k)))
    coarse, cover = block_mean(values, step, valid)
    every = max(1, int(np.sqrt(valid.size / (1 << 20))))  # the low ends from about 2²⁰ cells of a large grid
    for i, v in enumerate(values):
        fine, whole = v[::every, ::every][valid[::every, ::every]], coarse[i][cover >= 1.0]
        if whole.size >= FLOOR_CELLS:  # fewer cells one step down say nothing of the low end: no floor of its own
            drop = float(np.quantile(whole, FLOOR_QUANTILE) - np.quantile(fine, FLOOR_QUANTILE))
            lo[i] = float(np.min(v, where=valid, initial=np.inf)) - FLOOR_DROP * max(drop, 0.0)
        if not signed[i]:
            lo[i] = max(lo[i], (0.0 - offsets[i]) / scales[i] if scales[i] else 0.0)  # 0.0, never -0.0
    return lo, hi


def clamped(stored: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``stored (C, h, w)`` kept within ``lo``, ``hi`` (C,) in place (NaN stays NaN), float32 bounds: a float64
    bound made every strip float64 before the writer's cast."""
    shape = (-1,) + (1,) * (stored.ndim - 1)
    np.clip(stored, lo.astype(stored.dtype).reshape(shape), hi.astype(stored.dtype).reshape(shape), out=stored)
    return stored


class Fields:
    """The output's rows in the reference's stored units, from the engine's output or the
    zero-shot output, with what the reference's grid adds: the correction or the per-cell ratio
    (by GDAL's warper, ``fields.Warped``, the reference's grid however it lies)."""

    def __init__(self, f: Fitted, plan):
        g, self.f, self.fine = f.fit, f, plan.fine
        self.g, self.warp = g, Warped(plan.fine, g.grid)
        self.res = self.ratio = None
        if g.route != "consistent" and g.correct:
            m = self.warp.averaged(f.first)
            self.res = residual(g.filled, m, g.seen)
        if f.zero is not None and g.route == "consistent":
            self.ratio = self.consistent_ratio()

    def consistent_ratio(self) -> np.ndarray:
        """``(h, w)``: the per-cell factor of the consistent route. The ratio of the reference to
        the zero-shot output's cell means, interpolated bilinearly, no longer averages back to the
        reference exactly; :data:`ROUNDS` more passes over the output scale it again by what each
        cell still lacks (iterative proportional fitting), keeping it smooth and consistent."""
        from bandbridge.learners.guided import ratio_field
        g = self.g
        above = g.to_stored(self.zero_model(self.warp.averaged(self.f.zero))) - g.zero_stored
        target = np.where(g.seen, g.to_stored(g.filled) - g.zero_stored, np.nan)
        ratio = ratio_field(target, above)
        for _ in range(ROUNDS):
            self.ratio = ratio
            m = self.warp.means(lambda a, b: finite(self.rows(a, b) - g.zero_stored))[0][0]
            ratio = ratio * ratio_field(target, m)
        return ratio

    def zero_model(self, z: np.ndarray) -> np.ndarray:
        """The zero-shot output (its target's model values) in the fit's model values, as it is: the
        consistent route scales it cell by cell (no calibration line)."""
        a, b = self.f.zero_to_stored
        return self.g.to_model(z * a + b)

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` of the output, stored units (NaN where nothing was predicted)."""
        g = self.g
        if g.route == "consistent":
            above = g.to_stored(self.zero_model(read_rows(self.f.zero, self.fine.width, a, b, 1))) - g.zero_stored
            return self.shared(above * self.warp.up(self.ratio[None], a, b, "bilinear")[0] + g.zero_stored, a, b)
        y = read_rows(self.f.first, self.fine.width, a, b, 1)
        if self.res is not None:
            y = y + self.warp.up(self.res[None], a, b, "bilinear")[0]
        return self.shared(g.to_stored(y), a, b)

    def shared(self, y: np.ndarray, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` of ``y`` (stored units) with the share of its detail over the best upsampled reference
        that the test at the output's scale supports (``learners/transfer.py``; all of it where share is 1)."""
        g = self.g
        if g.route == "upsampled" or g.share >= 1:
            return y
        u = g.to_stored(self.warp.up(g.filled[None], a, b, g.upsampling)[0])
        return u + g.share * (y - u)


def provenance(plan, f: Fitted, spec, fit_spec=None) -> dict[str, str]:
    """The output's tags: where the band came from and the fit (the band's route, why and errors: its
    decision's tags, ``place/tags.py``)."""
    from bandbridge.learners.octaves import words
    g = f.fit
    dy, dx, err = f.shift
    return {"bandbridge_model": model_tag(spec), "bandbridge_reference": Path(plan.ref.path).name,
            "bandbridge_reference_band": plan.ref.names[0],
            "bandbridge_reference_date": plan.dates[1], "bandbridge_input_date": plan.dates[0],
            "bandbridge_date_gap_days": "unknown" if plan.gap_days is None else str(plan.gap_days),
            "bandbridge_k": f"{plan.ref.k:.3f}",
            "bandbridge_shift_px": f"{dy:+.2f},{dx:+.2f} (rows, columns of the reference; {f.shift_note}; "
                                   f"phase-correlation error {err:.2f})",
            "bandbridge_learner": g.chosen,
            "bandbridge_fit": model_tag(fit_spec) if fit_spec is not None else "none (no model of the fit runs)",
            "bandbridge_heldout_scale": "the reference's own cells (stored units of the reference)",
            "bandbridge_octaves": words(g.octaves),
            "bandbridge_upsampling": g.upsampling,
            "bandbridge_unseen_filled_from": g.filled_from or "none: the reference sees every cell",
            "bandbridge_reference_masked_by": plan.ref.masked_by or "nodata"}


def decision(plan, f: Fitted) -> BandDecision:
    """The reference's band's decision (``place/contract.BandDecision``): the route of ``f``'s fit
    (``learners/guided.GuidedFit``), its held-out error and the upsampled reference's, in the reference's stored
    units; the correction's decision its why."""
    from bandbridge.learners.guided import ROUTES
    g = f.fit
    stored = lambda e: g.stored_error(e) if np.isfinite(e) else float("nan")  # noqa: E731
    words = ROUTES[g.route] + (f" ({g.upsampling})" if g.route == "upsampled" else "")
    return BandDecision(f"synthetic_{plan.ref.names[0]}", g.route, words, stored(held_out(g)), stored(g.upsampled_mae),
                        g.upsampling, "the reference's stored units", g.why,
                        g.chosen if g.route == "fit" else "", g.share, g.scale)


def fit_lines(job, plan, f) -> list[str]:
    """What a user reads of one input's fit: the shift, the route and its held-out errors in the
    reference's stored units, at the reference's scale, and what filled the cells it cannot see."""
    from bandbridge.learners.octaves import words
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
                   f"reference upsampled by {g.upsampling} (MAE, {units}; at the reference's scale, not the output's; the figure the "
                   f"output's tags give); consistency correction {g.why}"
                   + (f" ({e(g.fit_mae):.4g} without it)" if g.correct else ""))
    elif g.route == "consistent":
        o = g.octaves
        held = (f"held out one scale coarser it errs {e(g.fit_mae):.4g} against {e(g.upsampled_mae):.4g} for the "
                f"best upsampled reference (MAE, {units}): {o['one_step_down']:.3g}× it, {o['octave_coarser']:.3g}× "
                f"an octave coarser, {o['output_scale']:.3g}× {WORST}")
        out.append(f"{name}: route: the model's own output made consistent with the reference cell by cell "
                   f"({g.cells:,} clear cells{', ' + g.tried + ' did not beat the upsampled reference' if g.tried else ''}); "
                   f"{held}")
    else:
        o = g.octaves
        left = (f"; the model's output made consistent would err {o['one_step_down']:.3g}× it one scale coarser, "
                f"{o['output_scale']:.3g}× {WORST}, not under {1 - CONSISTENT_MARGIN:.3g}" if o else "")
        if o and not np.isfinite(o["output_scale"]):
            left = ("; too few cells to check the model's output made consistent at two octaves (2 and 4 cells a side): "
                    "nothing would check it")
        fit = (f"; {g.tried} held out better at the reference's scale, but {words(g.carried)}: it would not carry"
               if g.carried else f"; {g.tried} held out no better than it" if g.tried else "")
        out.append(f"{name}: route: the reference upsampled by {g.upsampling} ({g.cells:,} clear cells"
                   + fit + left + ")")
    if g.scale:
        out.append(f"{name}: at the output's scale: {g.scale}")
    if g.filled_from:
        out.append(f"{name}: cells the reference cannot see: filled from {g.filled_from}")
    return out
