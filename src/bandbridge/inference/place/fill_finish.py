"""``bandbridge fill``'s last pass, by strips, through the one strip writer (``core/outputs.write_strips``):
the route's values in the scene's stored units, its held-out error round the gap spread into it
(``gapfill.edge_correction``), the SAR fit's values where no date is clear; the scene's bands in their own type,
and ``FILLED`` (1 observed, 2 filled, 0 neither).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from bandbridge.inference.place.fill_rows import ahead
from bandbridge.inference.place.fill_guides import Guides
from bandbridge.inference.place.fill_strips import ROWS, Scan
from bandbridge.learners.fill_fit import Decision
from bandbridge.learners.fill_regions import compose, used
from bandbridge.learners.gapfill import edge_correction

OBSERVED, FILLED = 1, 2  # the FILLED band's codes (0: no data, neither)


@dataclass(frozen=True)
class Stored:
    """How the scene's data bands are stored, which the output keeps (issue 85): the type, GDAL's scale and offset
    per band (physical = stored × scale + offset) and nodata; ``decoded``: the reader hands physical values (a
    cube's packed variables, which xarray decodes), put back into stored ones (:meth:`to_file`) on writing."""

    dtype: str
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    nodata: float | None
    decoded: bool = False

    @property
    def unit(self) -> str:
        """The unit of the values the fill computes in (as read), for its lines and tags."""
        if self.decoded:  # the cube's decoded values: its stored DN times its scale_factor
            return f"DN × {self.scales[0]:g}" if len(set(self.scales)) == 1 else "DN × each band's scale_factor"
        return "DN" if np.dtype(self.dtype).kind in "iu" else "the scene's stored units"

    def to_file(self, v: np.ndarray) -> np.ndarray:
        if not self.decoded:
            return v
        off, scale = (np.array(x, np.float64)[:, None, None] for x in (self.offsets, self.scales))
        return (v - off) / scale


def stored_form(r) -> Stored:
    """The scene's :class:`Stored` form from its header (``fill_rows.RowReader``): a GDAL file's own; a cube's
    packed integer variables (``scale_factor``, ``add_offset``, ``_FillValue``) where every data band is one,
    else float32 as read."""
    from bandbridge.data.cube_ref import is_cube, parse_ref
    from bandbridge.data.reader import raster_info
    if is_cube(r.item):
        from bandbridge.data.cube_dataset import cube_bands, open_cube
        ref = parse_ref(r.item)
        ds = open_cube(ref.path)
        bands = cube_bands(ds, ref.path)
        enc = [ds[bands[i].var].encoding for i in r.data]
        kinds = {str(np.dtype(e.get("dtype", "float32"))) for e in enc}
        if len(kinds) == 1 and np.dtype(next(iter(kinds))).kind in "iu":
            fill = enc[0].get("_FillValue")
            return Stored(next(iter(kinds)), tuple(float(e.get("scale_factor", 1.0)) for e in enc),
                          tuple(float(e.get("add_offset", 0.0)) for e in enc), None if fill is None else float(fill),
                          True)
        return Stored("float32", (1.0,) * len(r.data), (0.0,) * len(r.data), None)
    info = raster_info(r.item)

    def pick(v: tuple, default: float) -> tuple[float, ...]:
        return tuple(float(v[i]) if i < len(v) and v[i] is not None else default for i in r.data)
    dtype = "float32" if info.dtype in ("float64", "float16") else info.dtype
    return Stored(dtype, pick(info.scales, 1.0), pick(info.offsets, 0.0), info.nodata)


def reach(edge_px: float) -> int:
    """Rows a strip is read past its own for the edge correction (scipy's Gaussian truncates at 4σ:
    past it no residual is seen, so the correction there is what the whole scene gives)."""
    return int(4.0 * edge_px + 0.5) + 1 if edge_px > 0 else 0


@dataclass
class Parts:
    """What the last pass reads: the route's decision and where the engine wrote its fits."""

    dec: Decision
    first: Path | None  # the fit's engine output (route fit)
    sar: Decision | None = None
    sar_first: Path | None = None  # the SAR fit's engine output (pixels with no clear earlier date)
    only: Path | None = None  # the tiles' mask (the pixels to fill and the ring round them)
    sar_win: tuple[int, int, int, int] | None = None  # the scene's window ``sar_first`` covers (row, col, h, w)


def _rows(path: Path, a: int, b: int, w: int, win: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Rows ``[a, b)`` of the scene from ``path``, which covers its window ``win`` (all of it for
    None): NaN outside it."""
    import rasterio
    with rasterio.open(path) as s:
        r0, c0, h, ww = win or (0, 0, s.height, w)
        out = np.full((s.count, b - a, w), np.nan, np.float32)
        lo, hi = max(a, r0), min(b, r0 + h)
        if hi > lo:
            out[:, lo - a:hi - a, c0:c0 + ww] = s.read(window=Window(0, lo - r0, ww, hi - lo))
    return out


def route_rows(sc: Scan, gd: Guides, p: Parts, a: int, b: int) -> np.ndarray:
    """The route's values over rows ``[a, b)``, the scene's stored units ``(C, b − a, W)``: per
    pixel its gap region's route where the regions' routes differ (``fill_regions.compose``)."""
    dec = p.dec
    routes = used(dec.regions, dec.route)
    values = {r: _route(sc, gd, p, r, a, b) for r in routes}
    if dec.regions and gd.region is not None:
        return compose(dec.regions, dec.route, gd.region[a:b], values)
    return values[dec.route] if dec.route in values else next(iter(values.values()))


def _route(sc: Scan, gd: Guides, p: Parts, route: str, a: int, b: int) -> np.ndarray:
    """One route's values over rows ``[a, b)``: the fit's engine output, or the design's base
    mapped per band or as it is, or its interpolation of the dates before and after."""
    w, dec = sc.valid.shape[1], p.dec
    if route == "fit":
        return dec.units.to_stored(_rows(p.first, a, b, w))
    x = gd.rows(a, b)
    base = dec.units.to_stored(x[gd.channels["between" if route == "interpolated" else "base"]])
    base[:, ~gd.has_base[a:b]] = np.nan
    if route == "linear":
        ab = dec.linear.astype(np.float32)
        return base * ab[:, :1, None] + ab[:, 1:, None]
    return base  # as it is, or the design's interpolation (the base where one side has no clear date)


def finish(sc: Scan, gd: Guides, p: Parts, dest: Path, tags: dict[str, str], overwrite: bool, cog: bool,
           edge_px: float, bands: list = (), tick=lambda: None) -> int:
    """Write ``dest`` through the one strip writer (``core/outputs.write_strips``), tagged by ``tags`` and, per
    data band, the one schema from its decision ``bands`` (``place/contract.BandDecision``); the pixels filled."""
    from bandbridge.inference.core.outputs import Strip, opened, write_strips
    from bandbridge.inference.core.writer import FAST_DEFLATE, output_profile
    from bandbridge.inference.place.tags import write
    s, st = sc.scene.layer, stored_form(sc.scene)
    h, w = sc.valid.shape
    prof = output_profile(s.grid.crs, s.grid.transform, h, w, len(s.names) + 1, st.dtype, 1, FAST_DEFLATE)
    if st.nodata is not None and np.isfinite(st.nodata):
        prof["nodata"] = st.nodata
    if st.dtype != "float32":  # integer nodata below the FILLED codes' range would hide "observed"
        prof["nodata"] = prof.get("nodata", 0)
    strips, count = ahead(_loader(sc, gd, p, edge_px), range(0, h, ROWS), 2), 0  # two strips computed at once

    def strip(a: int, b: int) -> Strip:
        nonlocal count
        _, (y, filled) = next(strips)
        count += int(filled.sum())
        code = np.where(filled, FILLED, np.where(sc.valid[a:b] & ~sc.gap[a:b], OBSERVED, 0))
        return Strip(st.to_file(y), sc.valid[a:b] | filled, codes=code[None])

    def setup(rs) -> None:
        rs.main.descriptions = (*s.names, "FILLED")
        rs.main.update_tags(len(s.names) + 1, bandbridge_codes=f"{FILLED} filled, {OBSERVED} observed, 0 no data")
        rs.main.scales, rs.main.offsets = (*st.scales, 1.0), (*st.offsets, 0.0)  # the scene's, kept (issue 85)
        rs.main.update_tags(**tags)
        write(rs.main, "fill", list(bands))

    with opened([dest], prof, {}, overwrite, cog=cog, setup=setup) as out:
        write_strips(out, h, w, strip, st.dtype, prof.get("nodata"), tick, rows=ROWS)
        if "bandbridge_fill_pixels" in tags:  # what was filled, not what was to be (_put leaves no value unfilled)
            out.main.update_tags(bandbridge_fill_pixels=str(count))
    return count


def _loader(sc: Scan, gd: Guides, p: Parts, edge_px: float):
    """A strip's values and the pixels it filled, from its first row ``a`` (pure: each strip its own, so
    that ``fill_rows.ahead`` computes two at once): the route's values, corrected at the edge where the
    route was held out (each strip read with :func:`reach`'s halo), and the SAR fit's in the holes."""
    s, (h, w) = sc.scene.layer, sc.valid.shape
    r = reach(edge_px) if p.dec.held is not None else 0
    sampled, known = np.zeros((h, w), bool), p.dec.held  # rows, columns, the held-out residuals
    if known is not None:
        sampled[p.dec.sampled] = True
    holes = sc.gap & ~gd.has_base

    def load(a: int):
        b = min(h, a + ROWS)
        lo, hi = max(a - r, 0), min(h, b + r)
        y = sc.scene.rows(s.grid, lo, hi)
        todo = sc.gap[lo:hi] & gd.has_base[lo:hi]
        values = route_rows(sc, gd, p, lo, hi) if todo.any() or r else None
        if r and values is not None:
            res = np.where(sc.clear[lo:hi] & ~sampled[lo:hi], y - values, np.nan)
            if p.only is not None:  # outside the ring the engine ran no tile
                res[:, _rows(p.only, lo, hi, w)[0] == 0] = np.nan
            k = (known[0] >= lo) & (known[0] < hi)
            res[:, known[0][k] - lo, known[1][k]] = known[2][:, k]
            values = values + edge_correction(res.astype(np.float32), edge_px)
        cut = slice(a - lo, a - lo + b - a)
        y, todo = y[:, cut], todo[cut]
        filled = _put(y, values[:, cut] if values is not None else None, todo)
        hole = holes[a:b]
        if p.sar_first is not None and hole.any():
            filled |= _put(y, p.sar.units.to_stored(_rows(p.sar_first, a, b, w, p.sar_win)), hole)
        return y, filled
    return load


def _put(y: np.ndarray, values: np.ndarray | None, todo: np.ndarray) -> np.ndarray:
    """``values`` into ``y`` (both ``(C, h, w)``) where ``todo`` and every band of them is finite; those
    pixels (the filled ones): a pixel is never coded FILLED without a value, one without stays as observed."""
    if values is None:
        return np.zeros_like(todo)
    ok = todo & np.isfinite(values).all(0)
    y[:, ok] = values[:, ok]
    return ok
