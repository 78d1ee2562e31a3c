"""A reference run's last pass: the output written from what the engine predicted (the fit's
bundle, ``reference_fit.py``) or from the model's zero-shot output, :data:`ROWS` rows at a time,
through the one writer (``core/outputs.py``):

- the **consistency correction** where the fit's check kept it: the residual ``r − mean_k(output)``
  of every clear cell (the cell means gathered from the engine's output) interpolated onto the rows;
- the **consistent route**: the zero-shot output calibrated to the reference and scaled per cell so
  that it averages back to it, the ratio interpolated bilinearly;
- values kept in the band's physical range (a reflectance or a DN is never negative), stored in the
  reference's type and units, the input's bands before it with ``--append``, ``--index`` rasters
  beside it, COG or a picture where asked, and tags that say where the band came from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.bands import band_role, get_scaling
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.data.reference import SIGNED
from bandbridge.data.grids import average_in_strips, strip_grid, upsample_onto
from bandbridge.inference.core.outputs import ROWS, Strip, opened, write_strips
from bandbridge.inference.core.predictor import PredictStats, index_plan
from bandbridge.inference.core.writer import model_tag, nodata_of, output_profile, tag_bands
from bandbridge.inference.jobs.reference_fit import Fitted, averaged, band_rows, finite_band, held_out

ROUNDS = 2  # passes that make the consistent route's smooth ratio average back to the reference


def output_dtype(job, ref, info) -> str:
    """The output's type: the reference's (with ``--append``, wide enough for the input's, ``info``'s)."""
    if not job.opts.append:
        return ref.dtype
    return np.promote_types(ref.dtype, info.dtype).name


def finish(job, plan, f: Fitted, tags: dict[str, str], tick: Callable[[], None] = lambda: None) -> PredictStats:
    """Write ``job``'s output (and extras) from the fitted run ``f``; ``tags`` go on every raster."""
    t0 = time.perf_counter()
    g, ref, fine = f.fit, plan.ref, plan.fine
    read, opts = job.opts.read, job.opts
    scaling = get_scaling(read.scaling, read.vmin, read.vmax)
    info = raster_info(job.src)
    dtype = output_dtype(job, ref, info)
    nodata = nodata_of(dtype, ref.nodata)
    names = (list(read.names) if opts.append else []) + [f"synthetic_{ref.names[0]}"]
    roles = ([band_role(n) for n in read.names] if opts.append else []) + ["other"]
    index_fns = index_plan(opts.indices, job.spec, list(read.names))
    paths = [job.dst] + [job.dst.with_name(f"{job.dst.stem}_{k}{job.dst.suffix or '.tif'}") for k in index_fns]
    co = None if opts.cog else opts.creation
    main = output_profile(info.crs, info.transform, fine.height, fine.width, len(names), dtype, 1, co)
    main["nodata"] = nodata
    extra = output_profile(info.crs, info.transform, fine.height, fine.width, 1, "float32", 1, co)
    fields = Fields(f, plan)
    lo_stored = g.zero_stored if plan.role not in SIGNED else -np.inf
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

    def strip(a: int, b: int) -> Strip:
        """Rows ``[a, b)``: the band in the reference's stored units (the fit's output with its
        correction, or the consistent route's), the input's bands before it with ``--append``
        (as stored), and the ``--index`` rasters of the two."""
        stored = np.maximum(fields.rows(a, b), lo_stored)  # the reference's stored units
        ok = np.isfinite(stored)  # the engine wrote NaN where the input had no valid pixel
        x = np.zeros((0, b - a, fine.width), np.float32)
        if opts.append or index_fns:  # the input's bands are written or make an index
            r = read_raster(job.src, scaling, read.bands, window=(a, 0, b - a, fine.width), sensor=read.sensor)
            x, ok = r.data, ok & r.mask
        nir = ((np.nan_to_num(stored) * ref.scale + ref.offset) - in_offset) / in_scale  # the input's model units
        indices = [fn(*[x[i] for i in idx], nir.astype(np.float32)) for fn, idx in index_fns.values()]
        values = np.concatenate([scaling.decode(x).astype(np.float64), stored[None]]) if opts.append else stored[None]
        return Strip(values, ok, indices)

    with opened(paths, main, extra, opts.replace, opts.cog, opts.creation, setup) as rasters:
        write_strips(rasters, fine.height, fine.width, strip, dtype, nodata, tick)
    return PredictStats(job.dst, 0, time.perf_counter() - t0 + f.seconds, fine.height * fine.width / 1e6, paths[1:],
                        [f"reference-guided ({g.chosen}; {g.route})"])


class Fields:
    """The output's rows in the reference's stored units, from the engine's output or the
    zero-shot output, with what the reference's grid adds: the correction or the per-cell ratio."""

    def __init__(self, f: Fitted, plan):
        g, self.f, self.fine = f.fit, f, plan.fine
        self.g = g
        self.res = self.ratio = None
        if g.route != "consistent" and g.correct:
            m = averaged(f.first, self.fine, g.grid)
            self.res = np.where(g.seen & np.isfinite(m), g.filled - np.nan_to_num(m), 0.0).astype(np.float32)
        if f.zero is not None and g.route == "consistent":
            self.ratio = self.consistent_ratio()

    def consistent_ratio(self) -> np.ndarray:
        """``(h, w)``: the per-cell factor of the consistent route. The ratio of the reference to
        the zero-shot output's cell means, interpolated bilinearly, no longer averages back to the
        reference exactly; :data:`ROUNDS` more passes over the output scale it again by what each
        cell still lacks (iterative proportional fitting), keeping it smooth and consistent."""
        from bandbridge.learners.guided import ratio_field
        g = self.g
        above = g.to_stored(self.zero_model(averaged(self.f.zero, self.fine, g.grid))) - g.zero_stored
        target = np.where(g.seen, g.to_stored(g.filled) - g.zero_stored, np.nan)
        ratio = ratio_field(target, above)
        for _ in range(ROUNDS):
            self.ratio = ratio
            m = average_in_strips(lambda a, b: finite_band(self.rows(a, b) - g.zero_stored), self.fine, g.grid, ROWS)[0][0]
            ratio = ratio * ratio_field(target, m)
        return ratio

    def zero_model(self, z: np.ndarray) -> np.ndarray:
        """The zero-shot output (its target's model values) in the fit's model values, as it is: the
        consistent route scales it cell by cell (no calibration line)."""
        a, b = self.f.zero_to_stored
        return self.g.to_model(z * a + b)

    def _zero_rows(self, a: int, b: int) -> np.ndarray:
        return self.zero_model(band_rows(self.f.zero, self.fine, a, b))

    def _up(self, field: np.ndarray, a: int, b: int, how: str) -> np.ndarray:
        return upsample_onto(field[None], self.g.grid, strip_grid(self.fine, a, b), how)[0]

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` of the output, stored units (NaN where nothing was predicted)."""
        g = self.g
        if g.route == "consistent":
            above = g.to_stored(self._zero_rows(a, b)) - g.zero_stored
            return above * self._up(self.ratio, a, b, "bilinear") + g.zero_stored
        y = band_rows(self.f.first, self.fine, a, b)
        if self.res is not None:
            y = y + self._up(self.res, a, b, "bilinear")
        return g.to_stored(y)


def provenance(plan, f: Fitted, spec, fit_spec=None) -> dict[str, str]:
    """The output's tags: where the band came from, the route and fit, and how well it held out."""
    g = f.fit
    dy, dx, err = f.shift
    stored = lambda e: "unknown" if not np.isfinite(e) else f"{g.stored_error(e):.6g}"  # noqa: E731
    return {"bandbridge_model": model_tag(spec), "bandbridge_reference": Path(plan.ref.path).name,
            "bandbridge_reference_band": plan.ref.names[0],
            "bandbridge_reference_date": plan.dates[1], "bandbridge_input_date": plan.dates[0],
            "bandbridge_date_gap_days": "unknown" if plan.gap_days is None else str(plan.gap_days),
            "bandbridge_k": f"{plan.ref.k:.3f}",
            "bandbridge_shift_px": f"{dy:+.2f},{dx:+.2f} (rows, columns of the reference; {f.shift_note}; "
                                   f"phase-correlation error {err:.2f})",
            "bandbridge_route": f"{g.route}: {_route_words(g.route)}",
            "bandbridge_learner": g.chosen,
            "bandbridge_fit": model_tag(fit_spec) if fit_spec is not None else "none (no model of the fit runs)",
            "bandbridge_heldout_mae": stored(held_out(g)),
            "bandbridge_upsampled_reference_mae": stored(g.upsampled_mae),
            "bandbridge_heldout_scale": "the reference's own cells (stored units of the reference)",
            "bandbridge_correction": g.why,
            "bandbridge_unseen_filled_from": g.filled_from or "none: the reference sees every cell",
            "bandbridge_reference_masked_by": plan.ref.masked_by or "nodata"}


def _route_words(route: str) -> str:
    from bandbridge.learners.guided import ROUTES
    return ROUTES[route]
