"""A reference run's first half: the input averaged onto the reference's grid, the shift between
the two registered, the model's zero-shot output where the route or the cells the reference cannot
see need it, the decision at the reference's scale (``learners/guided.py``), and the fit saved as a
model bundle — ``Anchored(learner, ReferenceBand)`` on the input's bands plus the upsampled
reference as one more band (a GDAL VRT of the two) — handed to the engine as a job like any other
(planner, tiler, backends, memory plan, Dask). ``reference_finish.py`` writes the output from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bandbridge.bands import find_role, get_scaling
from bandbridge.data.reader import raster_info, read_raster, select_bands
from bandbridge.data.grids import Grid, estimate_shift
from bandbridge.inference.core.options import InputReading
from bandbridge.inference.core.writer import output_profile
from bandbridge.inference.place.fields import FAST, Warped, write_rows
from bandbridge.policy import (MIN_COVER, MIN_SHIFT, REFERENCE_SHIFT_MOST, REFERENCE_UPSAMPLING, SHIFT_CELLS_MIN,
                               SHIFT_GAIN)


@dataclass
class Fitted:
    """One input's reference run after the fit: what the engine predicts and what the finish needs."""

    fit: object  # learners/guided.GuidedFit
    shift: tuple[float, float, float]  # rows, columns (reference pixels) and phase-correlation error
    shift_note: str  # whether the reference's grid was moved by it, and why
    engine: object | None  # jobs/job.Job: the fit's bundle on the stacked input (None: no model runs)
    zero: Path | None  # the model's zero-shot output (its target's model values), where it ran
    zero_to_stored: tuple[float, float]  # the zero-shot output's model values → the reference's stored units
    seconds: float = 0.0

    @property
    def first(self) -> Path | None:
        """What the engine writes: the fit's output in its model values."""
        return self.engine.dst if self.engine is not None else None

    @property
    def bundle(self):
        """The fit's bundle (its spec), where one runs."""
        return self.engine.spec if self.engine is not None else None


def coarse_inputs(job, grid: Grid, fine: Grid) -> tuple[np.ndarray, np.ndarray]:
    """``(x↓ (C, h, w) model values, cover (h, w))``: the input's bands area-averaged onto ``grid``
    and the share of each cell its valid pixels cover, read by strips."""
    return Warped(fine, grid).means(input_rows(job, fine.width))


def input_rows(job, width: int):
    """``rows(a, b)``: rows ``[a, b)`` of the input's bands the model reads ``(C, b − a, width)`` (model
    values) and where they are valid, and the scaling they were read by."""
    read = job.opts.read
    scaling = get_scaling(read.scaling, read.vmin, read.vmax)

    def rows(a: int, b: int):
        r = read_raster(job.src, scaling, read.bands, window=(a, 0, b - a, width), sensor=read.sensor)
        return r.data, r.mask
    rows.scaling = scaling
    return rows


def register(job, ref, xc: np.ndarray, cover: np.ndarray, fine: Grid
             ) -> tuple[tuple[float, float, float], str, np.ndarray, np.ndarray]:
    """The shift registering the reference with the input, and whether to correct it: estimated by
    phase correlation on a band both hold (red where the reference has one, else the reference
    against the input's own linear map to it at the reference's scale), corrected only when it is
    at least :data:`~bandbridge.policy.MIN_SHIFT` and a linear map of the input's context features
    fits the reference at least :data:`~bandbridge.policy.SHIFT_GAIN` better shifted, on the whole and on
    each half of the grid (:func:`moved_fits`: a false peak — a thermal frame against the visible grey —
    improves some halves only, or nothing). Returns the shift, the decision
    in a phrase, and ``x↓``, cover on the grid the fit will use (the reference's grid moved or not)."""
    ok = ref.valid & (cover >= MIN_COVER)
    if int(ok.sum()) < SHIFT_CELLS_MIN:
        return (0.0, 0.0, 1.0), (f"not measured: {int(ok.sum())} clear cells, fewer than {SHIFT_CELLS_MIN} "
                                        "to register by"), xc, cover
    if np.ptp(ref.values[0][ok]) == 0:  # a flat image has no peak: phase correlation would find noise
        return (0.0, 0.0, 1.0), (f"not measured: the reference is one value ({float(ref.values[0][ok][0]):.4g}) "
                                 "over the input, nothing to register by"), xc, cover
    if ref.red is not None and (i := find_role(list(job.reading.names), "red")) is not None:
        pair = np.nan_to_num(xc[i]), np.nan_to_num(ref.red)
    else:
        pair = linear_map(xc, ref.values[0], ok), np.nan_to_num(ref.values[0])
    dy, dx, err = estimate_shift(*pair, ok)
    if max(abs(dy), abs(dx)) < MIN_SHIFT:
        return (dy, dx, err), f"below {MIN_SHIFT} reference pixels: none to correct", xc, cover
    if max(abs(dy), abs(dx)) > REFERENCE_SHIFT_MOST:
        return (dy, dx, err), (f"not corrected: more than {REFERENCE_SHIFT_MOST:g} reference pixels, a false peak (a "
                               "registered product is not off by more)"), xc, cover
    moved = ref.grid.shifted(dy, dx)
    xs, cs = coarse_inputs(job, moved, fine)
    (before, after), *halves = moved_fits(xc, xs, ref.values[:1], ok & (cs >= MIN_COVER))[:, :, 0]  # cells moved, not
    if shift_gains(before, after) and all(shift_gains(b, a) for b, a in halves):
        ref.grid = moved
        return (dy, dx, err), (f"corrected: a linear map of the input's context features fits the reference "
                                     f"{before:.4g} → {after:.4g} (MAE, stored units) moved by it, and each half of "
                                     "it better"), xs, cs
    if shift_gains(before, after):
        said = ", ".join(f"{a / b:.3f}" if b > 0 else "none" for b, a in halves)
        return (dy, dx, err), (f"not corrected: moved by it a linear map of the input's context features fits the "
                               f"reference better ({before:.4g} → {after:.4g}, MAE in stored units) but not each "
                               f"half of it {SHIFT_GAIN:.1%} better (top, bottom, left, right: {said} of its error): a "
                               "false peak (a misregistration moves the whole alike)"), xc, cover
    return (dy, dx, err), (f"not corrected: moved by it a linear map of the input's context features fits "
                                  f"the reference no better ({before:.4g} → {after:.4g}, MAE in stored units; a "
                                  "false peak)"), xc, cover


def moved_fits(xc: np.ndarray, xs: np.ndarray, rs: np.ndarray, both: np.ndarray) -> np.ndarray:
    """``(5, 2, Ct)``: :func:`context_maps`'s MAE of each band of ``rs (Ct, h, w)`` from the input on the reference's
    grid as it is (``xc``) and moved (``xs``) — ``[part, 0]`` before, ``[part, 1]`` after — on the cells ``both`` of
    the whole grid, then of its top, bottom, left and right halves: the shift test of both kinds (the reference's
    :func:`register`, the sharpener's ``sharpen_shift.misregistered``). A misregistration moves the whole alike,
    so moving it fits each half better."""
    from bandbridge.learners.guided import features
    h, w = both.shape
    made = [(x, features(np.nan_to_num(x).astype(np.float32))) for x in (xc, xs)]  # once each, not a part each
    out = []
    for part in (np.s_[:, :], np.s_[:h // 2, :], np.s_[h // 2:, :], np.s_[:, :w // 2], np.s_[:, w // 2:]):
        cells = np.zeros_like(both)
        cells[part] = both[part]
        out.append([context_maps(x, rs, cells, f) for x, f in made])
    return np.asarray(out, dtype=np.float64)


def linear_map(xc: np.ndarray, r: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``(h, w)``: the input's least-squares linear map to the reference, fitted on the cells ``ok``."""
    from bandbridge.learners.linear import least_squares
    x = np.nan_to_num(xc)
    coef = least_squares(x[:, ok].T, r[ok, None])[:, 0]
    return np.tensordot(coef[:-1], x, 1) + coef[-1]


def context_maps(xc: np.ndarray, rs: np.ndarray, ok: np.ndarray, made: np.ndarray | None = None) -> np.ndarray:
    """``(Ct,)``: the MAE on the cells ``ok`` of the least-squares linear map of the input's context
    features at the reference's scale (``guided.features``; ``made``: those features made already) to each
    band of ``rs (Ct, h, w)``: how well the two agree, the features made once for all."""
    from bandbridge.learners.guided import features
    from bandbridge.learners.linear import least_squares
    if int(ok.sum()) < 3:
        return np.full(len(rs), np.inf)
    f = (features(np.nan_to_num(xc).astype(np.float32)) if made is None else made)[:, ok].T
    if len(f) < 10 * f.shape[1]:  # too few cells for the context's many coefficients: the bands alone
        f = np.nan_to_num(xc)[:, ok].T
    y = np.stack([r[ok] for r in rs], axis=1)
    coef = least_squares(f, y)
    return np.abs(f @ coef[:-1] + coef[-1] - y).mean(axis=0)


def shift_gains(before, after):
    """The shift test: whether moved by a shift the context map fits at least ``policy.SHIFT_GAIN`` better
    (``before``, ``after``: MAE, floats or arrays; 0 → 0 is no gain)."""
    return (after < before) & (after <= (1 - SHIFT_GAIN) * before)


@dataclass
class Measured:
    """One input at the reference's scale before the fit: its bands averaged onto the reference's
    grid (``xc``, ``cover``), registered (``shift``, ``why``), and the model's own output's job where
    the fit needs it (``zero``, ``engine.own_output``)."""

    xc: np.ndarray
    cover: np.ndarray
    shift: tuple[float, float, float]
    why: str
    zero: object | None
    seconds: float
    stated: Grid | None = None  # the reference's grid as its file states it, where the shift moved it


def measure(job, plan, model, work: Path) -> Measured:
    """Coarse averages, the shift and the model's own output's job where needed (``model``: the
    inputs' ``jobs/plan.PredictPlan``)."""
    t0 = time.perf_counter()
    stated = plan.ref.grid
    xc, cover = coarse_inputs(job, stated, plan.fine)
    shift, why, xc, cover = register(job, plan.ref, xc, cover, plan.fine)
    from bandbridge.inference.place.engine import own_output
    from bandbridge.learners.guided import can_fit, is_holes
    seen = plan.ref.valid & (cover >= MIN_COVER)  # the model's own output where the consistent route (too few
    # cells to fit on) or more than a few holes the input covers and the reference cannot see may need it
    needs = not can_fit(int(seen.sum()), plan.ref.k) or not is_holes(~plan.ref.valid & (cover > 0), seen, cover)
    zero = own_output(job, model, work / "zero_shot.tif", f"{job.src.name}, the model's own output") if needs else None
    return Measured(xc, cover, shift, why, zero, time.perf_counter() - t0, None if plan.ref.grid is stated else stated)


def prepare(job, plan, m: Measured, work: Path, tile: int, detail: float | None = None) -> Fitted:
    """The decision at the reference's scale for ``job`` (``m``: measured, its model's own output
    served where it needed one), the share of its detail taken (``detail``, else the test at the output's
    scale) and the fit's bundle and stacked input on ``tile``² tiles."""
    from concurrent.futures import ThreadPoolExecutor

    from bandbridge.learners import guided
    from bandbridge.learners.sharpen import fit_octaves
    t0 = time.perf_counter()
    ref, fine = plan.ref, plan.fine
    # the model's output in its model values m is a·m + b in the reference's stored units, through both physical
    # units (a model of DN against a reference of reflectance is calibrated at the reference's scale after)
    t = job.spec.target
    pscale, poffset, _ = get_scaling(t.scaling, t.vmin, t.vmax).physical
    zero, z_c, units = (m.zero.dst if m.zero else None), None, (pscale / ref.scale, (poffset - ref.offset) / ref.scale)
    if zero is not None:
        z_c = Warped(fine, ref.grid).averaged(zero) * units[0] + units[1]
    from bandbridge import policy
    from bandbridge.inference.place.output_scale import window
    from bandbridge.learners.transfer import evidence, take_route
    read = lambda: window(input_rows(job, fine.width), fine, ref.grid, ref.k)  # noqa: E731 - the test's, the fit's
    got = read() if "reference" in policy.AREA_FIT else None  # the fit learned area to point (read here: its rule)
    with ThreadPoolExecutor(1) as side:  # the upsampled reference written beside the fit (one core)
        up = []
        g = guided.fit(m.xc, ref.values[0], ref.valid, m.cover, ref.grid, ref.k, plan.gap_days, z_c,
                       zero_stored=-ref.offset / ref.scale, pixels_out=fine.height * fine.width,
                       filled_now=lambda filled: up.append(side.submit(
                           upsampled_reference, job, plan, filled, ref.grid, work / "reference_up.tif")),
                       carry=fit_octaves, fine=got[2] if got else None)
        if g.route != "upsampled":  # what the input's bands say at the output's scale: the share of detail taken
            fine_x, kk, _ = got or read()  # read once, and only where the route is guided
            take_route(g, evidence(fine_x, kk, list(job.opts.read.names or [])), detail)
        up, why = up[0].result(), m.why
        if g.route == "upsampled" and m.stated is not None:  # the shift served the fit only: no guide is used, so
            ref.grid = g.grid = m.stated  # the reference is upsampled as its file states it (the baseline's grid)
            why += "; not applied to the output: it takes no guide, the reference upsampled on its own grid"
        if g.route == "upsampled" and (m.stated is not None or g.upsampling != REFERENCE_UPSAMPLING):
            # the side job's is the fit's input (cubic, on the moved grid): the route's own interpolation and grid
            up = upsampled_reference(job, plan, g.filled, ref.grid, work / "reference_up.tif", g.upsampling)
        engine = save_fit(job, plan, g, work, up, tile) if g.route != "consistent" else None
    return Fitted(g, m.shift, why, engine, zero, units, time.perf_counter() - t0 + m.seconds)


def save_fit(job, plan, g, work: Path, up: Path, tile: int):
    """The fit as a bundle in ``work/fit`` (``place/bundle.save``: the input's bands by position and
    the upsampled reference ``up`` read as one stacked source, the reference's band the target in
    its physical units) and the engine's job for it, predicted into ``work/first.tif``."""
    from bandbridge.generators import build_generator
    from bandbridge.inference.place import bundle, engine
    from bandbridge.learners.guided import HALF
    from bandbridge.learners.saved import learner_value
    read, ref = job.opts.read, plan.ref
    n = len(read.bands)
    names = [*(read.names or [str(b) for b in read.bands]), "reference"]
    learner = learner_value(g.learner.generator())
    module = build_generator("reference", n + 1, 1, {"half": HALF}, 1, learner, None)
    module.learner.load_state_dict(g.learner.module(n + 1, 1).state_dict())
    reading = InputReading(bands=list(range(n + 1)), names=names, scaling=read.scaling, vmin=read.vmin, vmax=read.vmax)
    at = [g.to_stored(np.float32(v)) * ref.scale + ref.offset for v in (0.0, 1.0)]
    stored = lambda e: g.stored_error(e) if np.isfinite(e) else None  # noqa: E731
    spec = bundle.save(work / "fit", module, f"{job.spec.name}-reference-fit",
                       {"bands": reading.bands, "scaling": read.scaling, "vmin": read.vmin, "vmax": read.vmax,
                        "band_names": names},
                       {"bands": [plan.role], "scaling": "minmax", "vmin": float(at[0]), "vmax": float(at[1])},
                       {"name": "reference", "args": {"half": HALF}, "learner": learner},
                       ("reference_fit", {"reference": Path(ref.path).name, "k": round(float(ref.k), 3),
                                          "route": g.route, "learner": g.chosen, "cells": g.cells,
                                          "stored_range": [g.lo, g.hi], "heldout_mae_stored": stored(held_out(g)),
                                          "upsampled_mae_stored": stored(g.upsampled_mae)}))
    return engine.job(spec, stacked(job, up, work / "stacked.vrt"), work / "first.tif",
                      (plan.fine.height, plan.fine.width), tile, f"{job.src.name}, the fit", read=reading)


def held_out(g) -> float:
    """The held-out error (model values) of what is written: the fit's, or with the consistency
    correction where the check applied it. The one figure the line, the tags and ``model.yaml`` give."""
    return min(g.fit_mae, g.corrected_mae) if g.correct else g.fit_mae


def upsampled_reference(job, plan, filled: np.ndarray, grid: Grid, out: Path, how: str = REFERENCE_UPSAMPLING) -> Path:
    """The filled reference (``filled`` on ``grid``, model values) interpolated onto the input's
    grid by ``how`` (``grids.GDAL_NAMES``; the fit's input: ``policy.REFERENCE_UPSAMPLING``), stored in the input's units (``scaling.decode``: what the input's
    scaling reads back as the model values), by strips; kept inside the scaling's clip and off a stored 0
    (nodata for some scalings)."""
    fine, read, warp = plan.fine, job.opts.read, Warped(plan.fine, grid)
    scaling = get_scaling(read.scaling, read.vmin, read.vmax)
    info = raster_info(job.src)
    prof = output_profile(info.crs, info.transform, fine.height, fine.width, 1, "float32", 1, FAST) | {"nodata": None}
    up = lambda a, b: warp.up(filled[None], a, b, how)[0]  # noqa: E731
    return write_rows(out, prof, lambda a, b: [scaling.decode(np.clip(up(a, b), 1e-3, 1.0))[None]])


def stacked(job, up: Path, out: Path) -> Path:
    """A VRT of the input's bands the model reads (in its order) and the upsampled reference. An
    input GDAL cannot stack (a band folder, ``.npy``, a datacube) is first copied band by band."""
    from bandbridge.inference.interop.vrt import Band, Source, write_vrt
    read = job.opts.read
    src = Path(job.src)
    info = raster_info(src)
    if src.is_file() and src.suffix.lower() != ".npy" and info.driver:
        idx = select_bands(info.bands, read.bands, src)
        # Float32 throughout: GDAL reads one type per call, and it converts the input's exactly
        bands = [Band("float32", [Source(src, i + 1)], info.nodata) for i in idx]
    else:
        src = copied(job, out.with_name("input.tif"))
        bands = [Band("float32", [Source(src, i + 1)]) for i in range(len(read.bands))]
    bands.append(Band("float32", [Source(up, 1)], None, "reference"))
    return write_vrt(out, info.width, info.height, info.crs, info.transform, bands)


def copied(job, out: Path) -> Path:
    """The input's bands the model reads, as stored (``scaling.decode`` of what was read), in a
    float32 GeoTIFF; invalid pixels NaN."""
    read = job.opts.read
    info = raster_info(job.src, read.names, read.sensor, read.bands)
    rows = input_rows(job, info.width)

    def part(a: int, b: int) -> list[np.ndarray]:
        data, mask = rows(a, b)
        v = rows.scaling.decode(data)
        v[:, ~mask] = np.nan
        return [v]
    return write_rows(out, output_profile(info.crs, info.transform, info.height, info.width, len(read.bands), "float32",
                                          1, FAST), part)
