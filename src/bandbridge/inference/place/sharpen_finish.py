"""The sharpener's work file and last pass, :data:`~bandbridge.inference.core.outputs.ROWS` rows at
a time, through the one writer (``core/outputs.py``):

- the **work file** the fit's bundle reads: the targets' upsampled reference (cubic, the fit's
  anchor) then the guides, in model values, on the finest guide's grid;
- the **output**: each band by its route — the engine's output for a fitted band, the reference
  upsampled by nearest, bilinear or cubic interpolation for the others — with the **consistency
  correction** where the band's check kept it (the residual ``r − mean_k(output)`` of every clear
  cell, the cell means gathered in a first pass, interpolated bilinearly onto the rows, and what
  the interpolated residual's own cell means miss added flat per cell: exact), kept in
  the band's range (``reference_finish.band_bounds``, predict's rule too: the stored depth above; below,
  the reference's minimum less what a coarse cell hides, and a physical 0 where the reference holds no
  negative value) and stored in the reference's type, scale and offset, one band per target, tagged per band;
  nodata where a guide is unknown or the reference's cell is (cloud, fill: nothing to sharpen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bandbridge.data.grids import Grid, average_in_strips, block_sums, strip_grid, upsample_onto
from bandbridge.inference.core.outputs import ROWS, Strip, opened, write_strips
from bandbridge.inference.core.writer import FAST_DEFLATE, nodata_of, output_profile
from bandbridge.inference.place.reference_fit import FAST


def write_channels(g, gunits, s, out: Path) -> Path:
    """The bundle's input: ``s``'s filled reference upsampled (cubic; on a lattice with its edge cells
    held beyond the edge, as the fit's own anchor was made) onto the guides' grid, then the guides
    (``g.read``) in model values (``gunits``), float32, NaN where a guide is unknown."""
    import rasterio
    from rasterio.windows import Window

    from bandbridge.policy import REFERENCE_UPSAMPLING
    fine = g.fine
    ct = s.filled.shape[0]
    gd = len(g.bands)
    prof = output_profile(fine.crs, fine.transform, fine.height, fine.width, ct + gd, "float32", 1, FAST)
    prof["interleave"] = "band"  # each band's blocks its own: written in two parts with no copy of the strip joined,
    # and read by the engine with no pixel-interleaved transposition (2 strips of 10 bands × 1024 × 10980: written
    # 0.86 → 0.72 CPU-s, 664-row windows read back 0.23 → 0.16)
    lattice = Lattice.of(fine, s.grid)
    with rasterio.open(out, "w", **prof) as d:
        for a in range(0, fine.height, ROWS):
            b = min(fine.height, a + ROWS)
            at = Window(0, a, fine.width, b - a)
            d.write(lattice.up(s.filled, a, b, REFERENCE_UPSAMPLING), indexes=list(range(1, ct + 1)), window=at)
            d.write(gunits.to_model(g.read(a, b)[0]), indexes=list(range(ct + 1, ct + gd + 1)), window=at)
    return out


class Warped:
    """Fields on the reference's ``grid`` onto rows of the ``fine`` grid and back, by GDAL's warper:
    any two grids (another CRS, a k that is not whole, cells off the pixels' edges)."""

    def __init__(self, fine: Grid, grid: Grid):
        self.fine, self.grid = fine, grid

    def up(self, field: np.ndarray, a: int, b: int, how: str) -> np.ndarray:
        """``field (C, h, w)`` interpolated by ``how`` (nearest, bilinear, cubic) onto rows ``[a, b)``
        → ``(C, b − a, W)``."""
        return upsample_onto(field, self.grid, strip_grid(self.fine, a, b), how)

    def means(self, read) -> tuple[np.ndarray, np.ndarray]:
        """``(C, h, w)`` each cell's mean of ``read(a, b) → (values (C, b − a, W), valid (b − a, W))``
        over its valid pixels (NaN where none), and ``(h, w)`` the share of the cell they cover."""
        return average_in_strips(read, self.fine, self.grid, ROWS)

    def up_means(self, field: np.ndarray, how: str) -> np.ndarray:
        """``(C, h, w)``: each cell's mean of ``field`` interpolated by ``how`` onto every fine pixel (NaN
        where a cell holds none)."""
        whole = lambda a, b: (self.up(field, a, b, how), np.ones((b - a, self.fine.width), bool))  # noqa: E731
        return self.means(whole)[0]


class Lattice(Warped):
    """:class:`Warped` where the fine grid lies on the reference's cells: one CRS, north up, a whole ``k``,
    each cell's edges on pixel edges (Sentinel-2's 20 m and 60 m grids on its 10 m one, Landsat's 90 m
    on its 30 m). Nearest, bilinear and cubic interpolation (Keys' a = −0.5, GDAL's; the edge cells held
    beyond the edge, as ``guided.padded_up`` pads them for the fit: the same values to 6e-8) as
    weighted row and column gathers, and cell means as sums over each cell's pixels: none through the
    warper, whose passes over the output took most of the finish at 10980²."""

    def __init__(self, fine: Grid, grid: Grid, k: int, off: tuple[int, int]):
        super().__init__(fine, grid)
        self.k = k
        self.off = off
        self.cell = [(np.arange(n) + o) // k for n, o in ((fine.height, off[0]), (fine.width, off[1]))]

    @classmethod
    def of(cls, fine: Grid, grid: Grid) -> Warped:
        """A :class:`Lattice` where ``fine`` lies on ``grid``'s cells, else a :class:`Warped`."""
        a, b = fine.transform, grid.transform
        if fine.crs != grid.crs or a.b or a.d or b.b or b.d or not a.a or not a.e:
            return Warped(fine, grid)
        k, ke = b.a / a.a, b.e / a.e
        col, row = ~b * (a.c, a.f)  # the fine grid's corner in cells
        off = (round(row * k), round(col * k))
        whole = lambda v: abs(v - round(v)) < 1e-6  # noqa: E731
        if not (whole(k) and abs(k - ke) < 1e-6 and round(k) >= 1 and whole(row * k) and whole(col * k)):
            return Warped(fine, grid)
        lat = cls(fine, grid, round(k), off)
        inside = all(c[0] >= 0 and c[-1] < n for c, n in zip(lat.cell, (grid.height, grid.width)))
        return lat if inside else Warped(fine, grid)

    def taps(self, axis: int, how: str, a: int = 0, b: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(cells (n, T), weights (n, T))`` of the fine pixels ``[a, b)`` along ``axis`` (0: rows): the
        cells each interpolates (clipped to the grid: the edge cell held beyond it) and their weights."""
        n, m = (self.fine.height, self.grid.height) if axis == 0 else (self.fine.width, self.grid.width)
        u = (np.arange(n)[a:b] + self.off[axis] + 0.5) / self.k - 0.5  # in cells, their centres at whole numbers
        i0 = np.floor(u).astype(np.int64)
        t = (u - i0)[:, None]
        if how == "bilinear":
            d, w = np.array([0, 1]), np.hstack([1 - t, t])
        else:  # cubic convolution, Keys (1981) with a = -0.5
            d = np.array([-1, 0, 1, 2])
            x = np.abs(t - d)
            w = np.where(x <= 1, 1.5 * x ** 3 - 2.5 * x ** 2 + 1, -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2)
        return np.clip(i0[:, None] + d, 0, m - 1), w.astype(np.float32)

    def up(self, field: np.ndarray, a: int, b: int, how: str) -> np.ndarray:
        return self._along(self._along(field, 1, a, b, how), 2, 0, self.fine.width, how)

    def _along(self, x: np.ndarray, axis: int, a: int, b: int, how: str) -> np.ndarray:
        """``x (C, h, w)`` interpolated along ``axis`` (1: rows, 2: columns) onto the fine pixels
        ``[a, b)``: the pixels at one place in their cells (a phase of ``k``) share their taps' weights,
        so each phase is a weighted sum of whole slices of the cells (no gather a pixel), written in
        place (one scratch slice, no temporary a tap: 0.54 → 0.39 CPU-s for six bands' cubic of a 1024-row
        strip at 10980², the same values); nearest repeats each cell ``k`` times."""
        k, off, m = self.k, self.off[axis - 1], x.shape[axis]
        lo, hi = (a + off) // k, (b - 1 + off) // k + 1  # the cells holding the pixels
        n, start = hi - lo, a + off - lo * k
        at = lambda i, s: (slice(None),) * i + (s,)  # noqa: E731
        if how == "nearest":
            return np.repeat(np.take(x, np.arange(lo, hi), axis=axis), k, axis=axis)[at(axis, slice(start,
                                                                                                   start + b - a))]
        d, w = _phases(k, how)
        src = np.take(x, np.clip(np.arange(lo + d[0], hi + d[-1] + 1), 0, m - 1), axis=axis)
        out = np.empty(x.shape[:axis] + (n, k) + x.shape[axis + 1:], np.float32)
        tmp = np.empty(x.shape[:axis] + (n,) + x.shape[axis + 1:], np.float32)
        for p in range(k):
            dst, taps = out[at(axis + 1, p)], np.flatnonzero(w[p])
            np.multiply(src[at(axis, slice(taps[0], taps[0] + n))], w[p, taps[0]], out=dst)
            for j in taps[1:]:
                np.multiply(src[at(axis, slice(j, j + n))], w[p, j], out=tmp)
                dst += tmp
        return out.reshape(x.shape[:axis] + (n * k,) + x.shape[axis + 1:])[at(axis, slice(start, start + b - a))]

    def means(self, read) -> tuple[np.ndarray, np.ndarray]:
        """Each strip's sums over its cells (``grids.block_sums``), a cell split between strips summed twice."""
        total = count = None
        (r0, c0), k = self.off, self.k
        for a in range(0, self.fine.height, ROWS):
            b = min(self.fine.height, a + ROWS)
            v, ok = read(a, b)
            if total is None:
                total = np.zeros((v.shape[0], self.grid.height, self.grid.width))
                count = np.zeros((self.grid.height, self.grid.width))
            sums, n = block_sums(v, k, ok, ((a + r0) % k, c0 % k))
            at = (slice((a + r0) // k, (a + r0) // k + n.shape[0]), slice(c0 // k, c0 // k + n.shape[1]))
            total[(slice(None), *at)] += sums
            count[at] += n
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total / count).astype(np.float32), (count / k ** 2).astype(np.float32)

    def up_means(self, field: np.ndarray, how: str) -> np.ndarray:
        """Exact, with no pass over the fine grid: the interpolation is one sparse matrix per axis (two
        or four weights a pixel; nearest: each cell's own value) and the cell mean another, so each
        cell's mean is ``M_r @ field @ M_cᵀ``."""
        from scipy.sparse import csr_matrix
        ms, empty = [], []
        for axis, (cell, m) in enumerate(zip(self.cell, (self.grid.height, self.grid.width))):
            per = np.bincount(cell, minlength=m).astype(np.float64)
            empty.append(per == 0)
            if how == "nearest":
                continue
            idx, w = self.taps(axis, how)
            n = len(cell)
            interp = csr_matrix((w.ravel(), (np.repeat(np.arange(n), idx.shape[1]), idx.ravel())), shape=(n, m))
            mean = csr_matrix((1 / per[cell], (cell, np.arange(n))), shape=(m, n))
            ms.append((mean @ interp).tocsr())
        out = field.astype(np.float32)  # nearest: each cell's own value; else a band at a time (no float64 stack)
        if how != "nearest":
            for i, f in enumerate(field):
                out[i] = (ms[1] @ (ms[0] @ f.astype(np.float64)).T).T
        out[:, empty[0][:, None] | empty[1][None, :]] = np.nan
        return out

    def pixels_per_cell(self) -> np.ndarray:
        """``(h, w)``: how many fine pixels each cell holds (``k²`` inside, fewer at a partial edge, 0 outside)."""
        return np.outer(*(np.bincount(c, minlength=m) for c, m in zip(self.cell, (self.grid.height, self.grid.width))))


def _phases(k: int, how: str) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets (T,), weights (k, T))``: the cells (as offsets from its own) a fine pixel at each of
    the ``k`` places in its cell interpolates by ``how``, and their weights (zero where a place takes
    fewer): nearest its own; bilinear the two whose centres it lies between; cubic four (Keys, a = −0.5)."""
    if how == "nearest":
        return np.array([0]), np.ones((k, 1), np.float32)
    u = (np.arange(k) + 0.5) / k - 0.5  # each place's position from its cell's centre, in cells
    base = np.floor(u).astype(np.int64)
    taps = np.array([0, 1]) if how == "bilinear" else np.array([-1, 0, 1, 2])
    d = np.arange(base.min() + taps[0], base.max() + taps[-1] + 1)
    w = np.zeros((k, len(d)), np.float32)
    for p in range(k):
        x = np.abs(u[p] - base[p] - taps)
        w[p, base[p] + taps - d[0]] = (1 - x if how == "bilinear" else
                                       np.where(x <= 1, 1.5 * x ** 3 - 2.5 * x ** 2 + 1,
                                                -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2))
    return d, w


class Rows:
    """The output's rows in model values, band by band by route, before and after the correction."""

    def __init__(self, plan, s, first: Path | None, coarse: tuple[np.ndarray, np.ndarray] | None = None):
        self.g, self.s, self.first = plan.guides, s, first
        self.fine: Grid = plan.guides.fine
        self.res = None
        self.known: tuple[int, int, np.ndarray] | None = None  # the last rows raw() read the guides' validity of
        self.lattice = Lattice.of(self.fine, s.grid)
        if any(b.corrected for b in s.bands):  # each cell's mean of the uncorrected output: a first pass, or none
            m = self.cell_means(coarse)
            if m is None:
                m, _ = self.lattice.means(lambda a, b: (lambda v: (v, np.isfinite(v).all(0)))(self.raw(a, b)))
            self.res = np.where(s.seen[None] & np.isfinite(m), s.filled - np.nan_to_num(m), 0.0).astype(np.float32)
            # what the smooth residual's own cell means miss, added flat per cell: the output then averages
            # back to the reference exactly (the bilinear residual alone left up to 119 DN on a test band)
            self.rest = (self.res - np.nan_to_num(self.lattice.up_means(self.res, "bilinear"))).astype(np.float32)

    def cell_means(self, coarse: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray | None:
        """``(Ct, h, w)``: each cell's mean of :meth:`raw`'s bands with no pass over the fine grid, where
        that is exact (None where not): on a lattice, no band from the engine, and, where a band takes
        its line, the guides valid on every pixel (``coarse``: their cell means in stored values and
        cover, ``sharpen.decided``'): a line is affine, so its cell mean is the line of the guides'
        cell means; an interpolation's is :meth:`Lattice.up_means`. At 4096² the first pass read every
        guide again and applied the lines to them: a third of the output stage."""
        s, lat = self.s, self.lattice
        if coarse is None or not isinstance(lat, Lattice) or any(b.base == "fit" for b in s.bands):
            return None
        lined = [i for i, b in enumerate(s.bands) if b.base == "regression"]
        x_c, cover = coarse
        if lined and not np.array_equal(np.round(cover * lat.k ** 2), lat.pixels_per_cell()):
            return None  # a guide unknown somewhere: the line's cells average over fewer pixels than the cell's
        m = np.empty(s.filled.shape, np.float32)
        if lined:
            m[lined] = s.lines.apply(s.guide_units.to_model(x_c))[lined]
            if getattr(s, "low", None) is not None:
                m[lined] += lat.up_means(s.low[lined], "cubic")
        for i, b in enumerate(s.bands):
            if b.base != "regression":
                m[i] = lat.up_means(s.filled[i:i + 1], b.base)[0]
        return m

    def raw(self, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` of every band by its route, uncorrected ``(Ct, b − a, W)``."""
        s = self.s
        out = np.empty((len(s.bands), b - a, self.fine.width), np.float32)
        fitted = None
        lined = [i for i, band in enumerate(s.bands) if band.base == "regression"]
        if lined:  # the bands' lines on the guides' rows (learners/sharpen_routes.py), every band's in one product
            xs = self.g.read(a, b)[0]
            self.known = (a, b, np.isfinite(xs).all(0))
            on = s.lines.apply(s.guide_units.to_model(xs))  # every band's at once (a band at a time: 6×)
            low = None if getattr(s, "low", None) is None else self.lattice.up(s.low[lined], a, b, "cubic")
            for j, i in enumerate(lined):  # band by band in place: no strip-sized copy of a fancy index
                out[i] = on[i]
                if low is not None:  # the lines' low-pass: the reference less the line averaged
                    out[i] += low[j]
        for i, band in enumerate(s.bands):
            if band.base == "fit":
                if fitted is None:
                    fitted = _rows(self.first, self.fine, a, b)
                    self.known = (a, b, np.isfinite(fitted).all(0))
                out[i] = fitted[i]
            elif band.base != "regression":  # nearest, bilinear or cubic upsampling
                out[i] = self.lattice.up(s.filled[i:i + 1], a, b, band.base)[0]
        return out

    def guided(self, a: int, b: int) -> np.ndarray:
        """``(b − a, W)``: where every guide is known on rows ``[a, b)``. The engine's output is NaN
        exactly there (its reader's mask of the work file, whose guides are NaN where unknown), as are
        the guides a line reads: the rows :meth:`raw` read last say it, and the guides are read again
        only where no band read them (a 600² run read them three times: 0.14 CPU-s each)."""
        if self.known is not None and self.known[:2] == (a, b):
            return self.known[2]
        return self.g.read(a, b)[1]

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows ``[a, b)`` with the correction where a band's check kept it (model values): the
        residual interpolated bilinearly, and what its cell means miss, flat per cell."""
        v = self.raw(a, b)
        if self.res is not None:
            which = [i for i, band in enumerate(self.s.bands) if band.corrected]
            fix = self.lattice.up(self.res[which], a, b, "bilinear")
            fix += self.lattice.up(self.rest[which], a, b, "nearest")
            for j, i in enumerate(which):
                v[i] += fix[j]
        return v


def stored_units(t) -> list[str]:
    """Each target's stored unit, the one every number on a line carries: ``DN`` for an integer type, else
    its units tag (``K``, ``reflectance``), else ``stored units``."""
    if np.dtype(t.dtype).kind in "iu":
        return ["DN"] * len(t.names)
    return [(t.units[i] if i < len(t.units) and t.units[i] else "stored units") for i in range(len(t.names))]


def best_upsampling(band) -> str:
    """The upsampled route (``+correction`` or not) of ``band`` (``learners/sharpen.BandRoute``) that
    held out best at the reference's scale."""
    from bandbridge.learners.sharpen import UPSAMPLERS
    return min((m for m in band.heldout if m.startswith(UPSAMPLERS)), key=band.heldout.get)


def _rows(path: Path, fine: Grid, a: int, b: int) -> np.ndarray:
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(path) as src:
        return src.read(window=Window(0, a, fine.width, b - a)).astype(np.float32, copy=False)  # float32 already


def negative(values: np.ndarray, valid: np.ndarray, scale: float, offset: float) -> bool:
    """Whether a band holds a negative physical value (dB, °C: then it is not clipped at 0) among its
    ``valid`` stored ``values``: its extremes' (no copy of the band: at 10980² the float64 copy of every
    clear cell of six bands was 1.4 GB at the finish's start)."""
    if not valid.any():
        return False
    lo, hi = (f(values, where=valid, initial=i) for f, i in ((np.min, np.inf), (np.max, -np.inf)))
    return min(float(lo) * scale + offset, float(hi) * scale + offset) < 0


def finish(plan, s, first: Path | None, tick=lambda: None, coarse: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Write ``plan``'s output from the decision ``s`` (and the engine's output ``first`` where a
    band took the fit): one band per target in the reference's type, scale and offset. ``coarse``:
    the guides' cell means and cover (:meth:`Rows.cell_means`)."""
    from bandbridge.inference.place.reference_finish import band_bounds, clamped
    from bandbridge.inference.place.tags import BandTags, write as write_tags
    from bandbridge.learners.sharpen import route_words
    t, fine = plan.targets, plan.guides.fine
    rows = Rows(plan, s, first, coarse)
    signed = [negative(v, t.valid, sc, of) for v, sc, of in zip(t.values, t.scales, t.offsets)]
    lo, hi = band_bounds(t.values, t.valid, t.k, t.dtype, t.scales, t.offsets, signed, t.bits)  # predict's rule
    unit = stored_units(t)
    nodata = nodata_of(t.dtype, t.nodata)
    main = output_profile(fine.crs, fine.transform, fine.height, fine.width, len(t.names), t.dtype, 1, FAST_DEFLATE)
    main["nodata"] = nodata
    extra = output_profile(fine.crs, fine.transform, fine.height, fine.width, 1, "float32", 1, None)

    def setup(r) -> None:
        r.main.descriptions = tuple(t.names)
        r.main.scales, r.main.offsets = list(t.scales), list(t.offsets)
        if any(t.units):
            r.main.units = tuple(t.units)
        write_tags(r.main, "sharpen", [BandTags(f"{b.route}: {route_words(b.route)}", b.stored(),
                                                b.stored(best_upsampling(b)), u) for b, u in zip(s.bands, unit)])
        for i, b in enumerate(s.bands, 1):
            best = best_upsampling(b)
            r.main.update_tags(i, bandbridge_why=b.why,
                               bandbridge_heldout_mae=f"{b.stored():.6g}",
                               bandbridge_upsampled_mae=f"{b.stored(best):.6g} ({best})",
                               bandbridge_heldout_scale=f"the reference's own cells (its stored unit: {unit[i - 1]})",
                               bandbridge_shift=plan.registered or "not measured",
                               bandbridge_range=f"{lo[i - 1]:.6g} to {hi[i - 1]:.6g} {unit[i - 1]}")
        r.main.update_tags(bandbridge_reference=Path(t.path).name, bandbridge_reference_bands=",".join(t.names),
                           bandbridge_guides=",".join(plan.guides.names), bandbridge_k=f"{t.k:.3f}",
                           bandbridge_learner=s.chosen if s.fitted else "none (no band took the fit)",
                           bandbridge_shift=plan.registered or "not measured")

    seen = t.valid.astype(np.float32)[None]

    def strip(a: int, b: int) -> Strip:
        """Rows ``[a, b)``: nodata where a guide is unknown or the reference's cell is (nothing to sharpen)."""
        stored = clamped(s.units.to_stored(rows.rows(a, b)), lo, hi)  # the band's range
        ok = rows.guided(a, b)
        cell = rows.lattice.up(seen, a, b, "nearest")[0] > 0.5
        return Strip(stored, ok & cell & np.isfinite(stored).all(0))

    with opened([plan.output], main, extra, True, plan.cog, None, setup) as rasters:
        write_strips(rasters, fine.height, fine.width, strip, t.dtype, nodata, tick)
