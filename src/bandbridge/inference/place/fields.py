"""Fields on the reference's grid onto rows of the fine grid and back, :data:`ROWS` rows at a time:
:class:`Warped` (GDAL's warper, any two grids) and :class:`Lattice` (the fine grid on the reference's
cells: gathers and sums), and the work files the place's kinds write and read by strips."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from bandbridge.data.grids import (BSPLINE_PAD, KERNELS, Grid, average_in_strips, block_sums, bspline_coefficients,
                                   kernel_weights, strip_grid, upsample_onto)
from bandbridge.inference.core.outputs import ROWS  # the one strip height: rows read, upsampled or written at a time

FAST = {"compress": "none", "predictor": "1"}  # work files: written once, read once, never kept


def read_rows(path: Path, width: int, a: int, b: int, band: int | list[int] | None = None) -> np.ndarray:
    """Rows ``[a, b)`` of ``path`` (``band``: 1-based, ``(b − a, W)``; a list of them or None, every band:
    ``(C, b − a, W)``), float32."""
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(path) as s:
        return s.read(band, window=Window(0, a, width, b - a)).astype(np.float32, copy=False)


def finite(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``v (h, w)`` as ``Warped.means`` reads it: ``(1, h, w)`` and where it is finite."""
    return v[None], np.isfinite(v)


def write_rows(out: Path, prof: dict, part: Callable[[int, int], Sequence[np.ndarray]],
               descriptions: Sequence[str] | None = None) -> Path:
    """``out`` (``prof``) written :data:`ROWS` rows at a time: ``part(a, b)``'s arrays ``(C_i, b − a, W)``
    as its bands in turn (each written as it is: no copy of the strip joined)."""
    import rasterio
    from rasterio.windows import Window
    h, w = prof["height"], prof["width"]
    with rasterio.open(out, "w", **prof) as d:
        if descriptions is not None:
            d.descriptions = tuple(descriptions)
        for a in range(0, h, ROWS):
            b, i = min(h, a + ROWS), 1
            for v in part(a, b):
                d.write(v, indexes=list(range(i, i + len(v))), window=Window(0, a, w, b - a))
                i += len(v)
    return out


class Warped:
    """Fields on the reference's ``grid`` onto rows of the ``fine`` grid and back, by GDAL's warper:
    any two grids (another CRS, a k that is not whole, cells off the pixels' edges)."""

    def __init__(self, fine: Grid, grid: Grid):
        self.fine, self.grid = fine, grid

    def up(self, field: np.ndarray, a: int, b: int, how: str) -> np.ndarray:
        """``field (C, h, w)`` interpolated by ``how`` (``grids.GDAL_NAMES``) onto rows ``[a, b)`` → ``(C, b − a, W)``."""
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

    def averaged(self, path: Path) -> np.ndarray:
        """``(h, w)``: band 1 of ``path`` (on the fine grid, NaN where unknown) averaged over its finite pixels."""
        return self.means(lambda a, b: finite(read_rows(path, self.fine.width, a, b, 1)))[0][0]


class Lattice(Warped):
    """:class:`Warped` where the fine grid lies on the reference's cells: one CRS, north up, a whole ``k``,
    each cell's edges on pixel edges (Sentinel-2's 20 m and 60 m grids on its 10 m one, Landsat's 90 m
    on its 30 m). Each upsampling (``grids.KERNELS``: GDAL's kernels; the edge cells held beyond the edge, as
    ``upsampling.padded_up`` pads them for the fit: the same values to 6e-8 for cubic) as weighted row and column
    gathers (the B-spline's on its coefficients, made once a field), and cell means as sums over each cell's
    pixels (no warper pass)."""

    def __init__(self, fine: Grid, grid: Grid, k: int, off: tuple[int, int]):
        super().__init__(fine, grid)
        self.k = k
        self.off = off
        self.cell = [(np.arange(n) + o) // k for n, o in ((fine.height, off[0]), (fine.width, off[1]))]
        self._coef = (None, None)  # (a field, its B-spline coefficients): made once, not for every strip

    def coefficients(self, field: np.ndarray, how: str) -> tuple[np.ndarray, int]:
        """What ``how``'s gathers weigh and how many cells it holds beyond each edge: ``field`` itself, or
        its B-spline coefficients (``bspline``), ``grids.BSPLINE_PAD`` cells beyond each edge."""
        if how != "bspline":
            return field, 0
        if self._coef[0] is not field:
            self._coef = (field, bspline_coefficients(field, BSPLINE_PAD))
        return self._coef[1], BSPLINE_PAD

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

    def taps(self, axis: int, how: str, pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(cells (n, T), weights (n, T))`` of the fine pixels along ``axis`` (0: rows): the cells each
        interpolates (of the grid with ``pad`` cells beyond each edge; clipped to it: the edge cell held
        beyond it) and their weights."""
        n, m = (self.fine.height, self.grid.height) if axis == 0 else (self.fine.width, self.grid.width)
        u = (np.arange(n) + self.off[axis] + 0.5) / self.k - 0.5  # in cells, their centres at whole numbers
        i0 = np.floor(u).astype(np.int64)
        d = np.array(KERNELS[how][0])
        return np.clip(i0[:, None] + d + pad, 0, m + 2 * pad - 1), kernel_weights(how, np.abs((u - i0)[:, None] - d))

    def up(self, field: np.ndarray, a: int, b: int, how: str) -> np.ndarray:
        field, pad = self.coefficients(field, how)
        return self._along(self._along(field, 1, a, b, how, pad), 2, 0, self.fine.width, how, pad)

    def _along(self, x: np.ndarray, axis: int, a: int, b: int, how: str, pad: int = 0) -> np.ndarray:
        """``x (C, h, w)`` interpolated along ``axis`` (1: rows, 2: columns) onto the fine pixels
        ``[a, b)`` (``x`` holding ``pad`` cells beyond each edge): the pixels at one place in their cells (a
        phase of ``k``) share their taps' weights, so each phase is a weighted sum of whole slices of the
        cells, written in place (one scratch slice); nearest repeats each cell ``k`` times."""
        k, off, m = self.k, self.off[axis - 1], x.shape[axis]
        lo, hi = (a + off) // k, (b - 1 + off) // k + 1  # the cells holding the pixels
        n, start = hi - lo, a + off - lo * k
        at = lambda i, s: (slice(None),) * i + (s,)  # noqa: E731
        if how == "nearest":
            return np.repeat(np.take(x, np.arange(lo, hi), axis=axis), k, axis=axis)[at(axis, slice(start,
                                                                                                   start + b - a))]
        # the cells (as offsets from its own, d) a pixel at each of the k places in its cell interpolates, and
        # their weights w (k, T), zero where a place takes fewer (grids.KERNELS: bilinear the two whose centres
        # it lies between, cubic and the B-spline four, Lanczos six)
        u = (np.arange(k) + 0.5) / k - 0.5  # each place's position from its cell's centre, in cells
        base = np.floor(u).astype(np.int64)
        taps = np.array(KERNELS[how][0])
        d = np.arange(base.min() + taps[0], base.max() + taps[-1] + 1)
        w = np.zeros((k, len(d)), np.float32)
        for p in range(k):
            w[p, base[p] + taps - d[0]] = kernel_weights(how, np.abs(u[p] - base[p] - taps))
        src = np.take(x, np.clip(np.arange(lo + d[0], hi + d[-1] + 1) + pad, 0, m - 1), axis=axis)
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
        """Each strip's float64 sums over its cells (``grids.block_sums``) divided as the strip is read: only a row of
        cells the next strip also holds is carried (summed as a whole-field sum would: the same values bit for bit), so
        no float64 field is held (10980² to 20 m, six bands: 1.45 GB); NaN, cover 0 where no pixel lies."""
        (r0, c0), k = self.off, self.k
        out = cover = carry = None
        for a in range(0, self.fine.height, ROWS):
            b = min(self.fine.height, a + ROWS)
            v, ok = read(a, b)
            if out is None:
                out = np.full((v.shape[0], self.grid.height, self.grid.width), np.nan, np.float32)
                cover = np.zeros((self.grid.height, self.grid.width), np.float32)
            sums, n = block_sums(v, k, ok, ((a + r0) % k, c0 % k))
            first = (a + r0) // k
            if carry is not None and carry[0] == first:  # the row of cells the strip before began
                sums[:, 0] += carry[1]
                n[0] += carry[2]
            split = b < self.fine.height and (b + r0) % k != 0  # its last row of cells goes on in the next strip
            carry = (first + len(n) - 1, sums[:, -1].copy(), n[-1].copy()) if split else None
            done = len(n) - split
            at = (slice(first, first + done), slice(c0 // k, c0 // k + n.shape[1]))
            with np.errstate(invalid="ignore", divide="ignore"):  # into float32 at once: no float64 quotient held
                np.divide(sums[:, :done], n[:done], out=out[(slice(None), *at)])
            cover[at] = n[:done] / k ** 2
        return out, cover

    def up_means(self, field: np.ndarray, how: str) -> np.ndarray:
        """Exact, with no pass over the fine grid: the interpolation is one sparse matrix per axis (two
        or four weights a pixel; nearest: each cell's own value) and the cell mean another, so each
        cell's mean is ``M_r @ field @ M_cᵀ``."""
        from scipy.sparse import csr_matrix
        (coef, pad), ms, empty = self.coefficients(field, how), [], []
        for axis, (cell, m) in enumerate(zip(self.cell, (self.grid.height, self.grid.width))):
            per = np.bincount(cell, minlength=m).astype(np.float64)
            empty.append(per == 0)
            if how == "nearest":
                continue
            idx, w = self.taps(axis, how, pad)
            n = len(cell)
            interp = csr_matrix((w.ravel(), (np.repeat(np.arange(n), idx.shape[1]), idx.ravel())),
                                shape=(n, m + 2 * pad))
            mean = csr_matrix((1 / per[cell], (cell, np.arange(n))), shape=(m, n))
            ms.append((mean @ interp).tocsr())
        out = field.astype(np.float32)  # nearest: each cell's own value; else a band at a time (no float64 stack)
        if how != "nearest":
            for i, f in enumerate(coef):
                out[i] = (ms[1] @ (ms[0] @ f.astype(np.float64)).T).T
        out[:, empty[0][:, None] | empty[1][None, :]] = np.nan
        return out

    def pixels_per_cell(self) -> np.ndarray:
        """``(h, w)``: how many fine pixels each cell holds (``k²`` inside, fewer at a partial edge, 0 outside)."""
        return np.outer(*(np.bincount(c, minlength=m) for c, m in zip(self.cell, (self.grid.height, self.grid.width))))
