"""The sharpener's work file and last pass, :data:`~bandbridge.inference.core.outputs.ROWS` rows at
a time, through the one writer (``core/outputs.py``):

- the **work file** the fit's bundle reads: the targets' upsampled reference (cubic, the fit's
  anchor) then the guides, in model values, on the finest guide's grid;
- the **output**: each band by its route — the engine's output for a fitted band, the reference
  upsampled by nearest, bilinear or cubic interpolation for the others — with the **consistency
  correction** where the band's check kept it (the residual ``r − mean_k(output)`` of every clear
  cell, the cell means gathered in a first pass, interpolated bilinearly onto the rows, and what
  the interpolated residual's own cell means miss added flat per cell: exact), kept in
  the band's physical range (never below a physical 0 where the reference holds no negative value)
  and stored in the reference's type, scale and offset, one band per target, tagged per band;
  nodata where a guide is unknown or the reference's cell is (cloud, fill: nothing to sharpen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bandbridge.data.grids import Grid, average_in_strips, strip_grid, upsample_onto
from bandbridge.inference.core.outputs import ROWS, Strip, opened, write_strips
from bandbridge.inference.core.writer import nodata_of, output_profile
from bandbridge.inference.jobs.reference_fit import FAST


def write_channels(g, gunits, s, out: Path) -> Path:
    """The bundle's input: ``s``'s filled reference upsampled (cubic) onto the guides' grid, then the
    guides (``g.read``) in model values (``gunits``), float32, NaN where a guide is unknown."""
    import rasterio
    from rasterio.windows import Window

    from bandbridge.learners.guided import UPSAMPLING
    fine = g.fine
    ct = s.filled.shape[0]
    prof = output_profile(fine.crs, fine.transform, fine.height, fine.width, ct + len(g.bands), "float32", 1, FAST)
    with rasterio.open(out, "w", **prof) as d:
        for a in range(0, fine.height, ROWS):
            b = min(fine.height, a + ROWS)
            up = upsample_onto(s.filled, s.grid, strip_grid(fine, a, b), UPSAMPLING)
            x, _ = g.read(a, b)
            d.write(np.concatenate([up, gunits.to_model(x)]), window=Window(0, a, fine.width, b - a))
    return out


class Rows:
    """The output's rows in model values, band by band by route, before and after the correction."""

    def __init__(self, plan, s, first: Path | None):
        self.g, self.s, self.first = plan.guides, s, first
        self.fine: Grid = plan.guides.fine
        self.res = None
        if any(b.corrected for b in s.bands):  # the first pass: each cell's mean of the uncorrected output
            m, _ = average_in_strips(lambda a, b: (lambda v: (v, np.isfinite(v).all(0)))(self.raw(a, b)),
                                     self.fine, s.grid, ROWS)
            self.res = np.where(s.seen[None] & np.isfinite(m), s.filled - np.nan_to_num(m), 0.0).astype(np.float32)
            # what the smooth residual's own cell means miss, added flat per cell: the output then averages
            # back to the reference exactly (the bilinear residual alone left up to 119 DN on a test band)
            whole = lambda a, b: np.ones((b - a, self.fine.width), bool)  # noqa: E731
            up, _ = average_in_strips(lambda a, b: (self._up(self.res, a, b, "bilinear"), whole(a, b)), self.fine,
                                      s.grid, ROWS)
            self.rest = (self.res - np.nan_to_num(up)).astype(np.float32)

    def raw(self, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` of every band by its route, uncorrected ``(Ct, b − a, W)``."""
        s, sg = self.s, strip_grid(self.fine, a, b)
        out = np.empty((len(s.bands), b - a, self.fine.width), np.float32)
        fitted = None
        for i, band in enumerate(s.bands):
            if band.base == "fit":
                if fitted is None:
                    fitted = _rows(self.first, self.fine, a, b)
                out[i] = fitted[i]
            else:
                out[i] = upsample_onto(s.filled[i:i + 1], s.grid, sg, band.base)[0]
        return out

    def _up(self, field: np.ndarray, a: int, b: int, how: str) -> np.ndarray:
        return upsample_onto(field, self.s.grid, strip_grid(self.fine, a, b), how)

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` with the correction where a band's check kept it (model values): the
        residual interpolated bilinearly, and what its cell means miss, flat per cell."""
        v = self.raw(a, b)
        if self.res is not None:
            fix = self._up(self.res, a, b, "bilinear") + self._up(self.rest, a, b, "nearest")
            for i, band in enumerate(self.s.bands):
                if band.corrected:
                    v[i] += fix[i]
        return v


def _rows(path: Path, fine: Grid, a: int, b: int) -> np.ndarray:
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(path) as src:
        return src.read(window=Window(0, a, fine.width, b - a)).astype(np.float32)


def finish(plan, s, first: Path | None, tick=lambda: None) -> None:
    """Write ``plan``'s output from the decision ``s`` (and the engine's output ``first`` where a
    band took the fit): one band per target in the reference's type, scale and offset."""
    from bandbridge.learners.sharpen import route_words
    t, fine = plan.targets, plan.guides.fine
    rows = Rows(plan, s, first)
    scale, offset = np.array(t.scales)[:, None, None], np.array(t.offsets)[:, None, None]
    phys = t.values[:, t.valid] * scale[:, :, 0] + offset[:, :, 0]
    signed = (phys < 0).any(axis=1)  # a band holding negative values (dB, °C) is not clipped at 0
    floor = np.where(signed, -np.inf, -np.asarray(t.offsets) / np.asarray(t.scales))[:, None, None]
    nodata = nodata_of(t.dtype, t.nodata)
    main = output_profile(fine.crs, fine.transform, fine.height, fine.width, len(t.names), t.dtype, 1, None)
    main["nodata"] = nodata
    extra = output_profile(fine.crs, fine.transform, fine.height, fine.width, 1, "float32", 1, None)

    def setup(r) -> None:
        r.main.descriptions = tuple(t.names)
        r.main.scales, r.main.offsets = list(t.scales), list(t.offsets)
        for i, b in enumerate(s.bands, 1):
            ups = {m: e for m, e in b.heldout.items() if not m.startswith("fit")}
            best = min(ups, key=ups.get)
            r.main.update_tags(i, bandbridge_route=f"{b.route}: {route_words(b.route)}", bandbridge_why=b.why,
                               bandbridge_heldout_mae=f"{b.stored():.6g}",
                               bandbridge_upsampled_mae=f"{b.stored(best):.6g} ({best})",
                               bandbridge_heldout_scale="the reference's own cells (its stored units)")
        r.main.update_tags(bandbridge_reference=Path(t.path).name, bandbridge_reference_bands=",".join(t.names),
                           bandbridge_guides=",".join(plan.guides.names), bandbridge_k=f"{t.k:.3f}",
                           bandbridge_learner=s.chosen if s.fitted else "none (no band took the fit)",
                           bandbridge_shift="none measured or corrected: the grids are taken as given")

    seen = t.valid.astype(np.float32)[None]

    def strip(a: int, b: int) -> Strip:
        """Rows ``[a, b)``: nodata where a guide is unknown or the reference's cell is (nothing to sharpen)."""
        stored = np.maximum(s.units.to_stored(rows.rows(a, b)), floor)
        _, ok = plan.guides.read(a, b)
        cell = upsample_onto(seen, t.grid, strip_grid(fine, a, b), "nearest")[0] > 0.5
        return Strip(stored, ok & cell & np.isfinite(stored).all(0))

    with opened([plan.output], main, extra, True, False, None, setup) as rasters:
        write_strips(rasters, fine.height, fine.width, strip, t.dtype, nodata, tick)
