"""Two pixel grids and the operations between them: area averaging of a fine image onto a coarse
grid (GDAL's ``average``, or exact area sums strip by strip), interpolation of a coarse image back
onto a fine grid, and the residual shift between two images by phase correlation. What
``data/reference.py`` and the reference path (``learners/guided.py``, ``inference/jobs/``) share.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from affine import Affine


@dataclass(frozen=True)
class Grid:
    """A pixel grid: ``crs`` (None: plain pixel coordinates), ``transform`` (pixel → world),
    ``height`` × ``width``."""

    crs: object | None
    transform: Affine
    height: int
    width: int

    def coarser(self, k: float) -> "Grid":
        """The same origin with pixels ``k`` times larger along a side (the shape rounded up)."""
        return Grid(self.crs, self.transform @ Affine.scale(k), int(np.ceil(self.height / k)),
                    int(np.ceil(self.width / k)))

    def padded(self, n: int) -> "Grid":
        """The grid with ``n`` more of its pixels round each edge."""
        return Grid(self.crs, self.transform @ Affine.translation(-n, -n), self.height + 2 * n, self.width + 2 * n)

    def shifted(self, dy: float, dx: float) -> "Grid":
        """The grid moved by ``(dy, dx)`` of its own pixels (what a misregistration looks like)."""
        return replace(self, transform=self.transform @ Affine.translation(dx, dy))


def average_onto(image: np.ndarray, valid: np.ndarray, src: Grid, dst: Grid,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``image (C, H, W)`` on ``src`` area-averaged onto ``dst`` → ``(C, h, w)`` and the
    fraction ``(h, w)`` of each cell its valid pixels cover (GDAL's ``average`` resampling)."""
    from rasterio.warp import Resampling, reproject
    kw = dict(src_transform=src.transform, dst_transform=dst.transform, src_crs=src.crs or PIXELS_CRS,
              dst_crs=dst.crs or PIXELS_CRS, resampling=Resampling.average)
    out = np.full((image.shape[0], dst.height, dst.width), np.nan, np.float32)
    for c in range(image.shape[0]):  # a band at a time: one masked copy of a band, not of the stack
        reproject(np.where(valid, image[c], np.float32(np.nan)).astype(np.float32, copy=False)[None], out[c:c + 1],
                  src_nodata=np.nan, dst_nodata=np.nan, **kw)
    cover = np.zeros((1, dst.height, dst.width), np.float32)
    reproject(valid[None].astype(np.uint8), cover, **kw)
    inside = _overlap(src, dst)
    if inside is None:  # another CRS or a rotated grid: where GDAL read any pixel
        reach = np.zeros((1, dst.height, dst.width), np.float32)  # the fraction: every pixel counted
        reproject(np.ones((1, *valid.shape), np.uint8), reach, **kw)
        inside = (reach[0] > 0).astype(np.float32)
    # GDAL's average reads the edge pixels for a cell just past the image: only the share of the
    # cell the image really covers counts
    return out, cover[0] * inside


def _overlap(src: Grid, dst: Grid) -> np.ndarray | None:
    """``(h, w)``: the share of each cell of ``dst`` that ``src``'s extent covers, for two north-up
    grids of one CRS (None otherwise)."""
    a, b = src.transform, dst.transform
    if src.crs != dst.crs or a.b or a.d or b.b or b.d:
        return None
    return extent_share(src, dst)


def extent_share(src: Grid, dst: Grid) -> np.ndarray:
    """``(h, w)``: the share of each cell of ``dst`` inside ``src``'s extent (its bounds in ``dst``'s
    CRS: exact for two north-up grids of one CRS, the bounding box otherwise)."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds
    left, bottom, right, top = array_bounds(src.height, src.width, src.transform)
    if src.crs is not None and dst.crs is not None and src.crs != dst.crs:
        left, bottom, right, top = transform_bounds(src.crs, dst.crs, left, bottom, right, top, densify_pts=21)
    inv = ~dst.transform
    cols, rows = zip(*[inv @ (x, y) for x in (left, right) for y in (bottom, top)])
    c0, c1, r0, r1 = min(cols), max(cols), min(rows), max(rows)
    j, i = np.arange(dst.width), np.arange(dst.height)
    ox = np.clip(np.minimum(j + 1, c1) - np.maximum(j, c0), 0, 1)
    oy = np.clip(np.minimum(i + 1, r1) - np.maximum(i, r0), 0, 1)
    return (oy[:, None] * ox[None, :]).astype(np.float32)


def average_in_strips(read: Callable[[int, int], tuple[np.ndarray, np.ndarray]], src: Grid, dst: Grid,
                      rows: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """:func:`average_onto` of an image too large to hold: ``read(a, b)`` gives rows ``[a, b)``
    of ``src`` as ``(C, b − a, W)`` values and their ``(b − a, W)`` valid mask; each strip's
    area-weighted sums and valid counts on ``dst`` (GDAL's ``sum``) are added up, so a cell split
    between strips averages exactly as a whole read would. Returns ``(C, h, w)`` means (NaN
    where nothing valid) and the share of each cell the valid pixels cover."""
    from rasterio.warp import Resampling, reproject
    weights = _axis_weights(src, dst)
    total = count = None
    for a in range(0, src.height, rows):
        b = min(src.height, a + rows)
        x, ok = read(a, b)
        if weights is not None:  # one CRS, north up: the area sums as two sparse products
            wr, wc = weights[0][:, a:b], weights[1]
            if total is None:
                total = np.zeros((x.shape[0], dst.height, dst.width), np.float64)
                count = np.zeros((dst.height, dst.width), np.float64)
            # every band and the valid mask in one product along the columns, then each along the rows
            stack = np.concatenate([np.where(ok, x, np.float32(0)), ok[None].astype(np.float32)])
            cols = (wc @ stack.reshape(-1, stack.shape[-1]).T).T.reshape(stack.shape[0], b - a, -1)
            for c in range(x.shape[0]):
                total[c] += wr @ cols[c]
            count += wr @ cols[-1]
            continue
        strip = strip_grid(src, a, b)
        kw = dict(src_transform=strip.transform, dst_transform=dst.transform, src_crs=strip.crs or PIXELS_CRS,
                  dst_crs=dst.crs or PIXELS_CRS, resampling=Resampling.sum)
        if total is None:
            total = np.zeros((x.shape[0], dst.height, dst.width), np.float64)
            count = np.zeros((dst.height, dst.width), np.float64)
        part = np.zeros((1, dst.height, dst.width), np.float32)
        for c in range(x.shape[0]):
            part[:] = 0
            # invalid pixels as 0 in a plain sum (no nodata: GDAL's sum then weighs every pixel alike)
            reproject(np.where(ok, x[c], np.float32(0)).astype(np.float32, copy=False)[None], part,
                      src_nodata=None, dst_nodata=0, **kw)
            total[c] += part[0]
        part[:] = 0
        reproject(ok.astype(np.float32)[None], part, src_nodata=None, dst_nodata=0, **kw)
        count += part[0]
    cell = abs(dst.transform.a * dst.transform.e - dst.transform.b * dst.transform.d) / \
        abs(src.transform.a * src.transform.e - src.transform.b * src.transform.d)
    if src.crs != dst.crs:  # pixel areas in two CRSs: the interior cells' count is the cell's size
        cell = float(count.max()) if count.max() > 0 else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # in place: the sums' size once, not three times
        np.divide(total, np.maximum(count, 1e-9), out=total)
        total[:, count <= 1e-9] = np.nan
        means = total.astype(np.float32)
    return means, np.clip(count / cell, 0.0, 1.0).astype(np.float32)


def block_sums(x: np.ndarray, k: int, valid: np.ndarray | None = None, off: tuple[int, int] = (0, 0)
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(sums (C, h, w), counts (h, w))``, float64: the sum of ``x (C, H, W)``'s ``valid (H, W)``
    pixels (None: the pixels where every band is finite) in each ``k × k`` cell of a lattice whose
    cells' edges lie on pixel edges, and how many there are. The image's first pixel lies ``off``
    ``(rows, columns)`` pixels into its cell (``0 ≤ off < k``); ``h = ⌈(H + off₀) / k⌉``, ``w`` alike,
    so a cell the image covers only in part (at an edge) sums the pixels it holds. By reshaped sums, a
    band at a time (one copy of a band, float32 or ``x``'s float64, never of the stack)."""
    c, hh, ww = x.shape
    r0, c0 = off
    h, w = -(-(hh + r0) // k), -(-(ww + c0) // k)
    ok = np.isfinite(x).all(0) if valid is None else np.asarray(valid, bool)
    gaps = None if ok.all() else ~ok
    buf = np.zeros((h * k, w * k), np.promote_types(x.dtype, np.float32))  # the image in whole cells, zeros round it
    view = buf[r0:r0 + hh, c0:c0 + ww]

    def summed(a: np.ndarray, masked: bool) -> np.ndarray:
        np.copyto(view, a)
        if masked and gaps is not None:
            np.copyto(view, 0, where=gaps)  # an invalid pixel's value (NaN, fill) never enters a sum
        rows = buf.reshape(h, k, w * k)
        part = rows[:, 0].astype(np.float64)
        for j in range(1, k):  # whole rows added in turn (a strided reduction along the cell took 3× the CPU)
            part += rows[:, j]
        out = part[:, 0::k].copy()
        for j in range(1, k):
            out += part[:, j::k]
        return out

    sums = np.stack([summed(x[i], True) for i in range(c)]) if c else np.zeros((0, h, w))
    return sums, summed(ok, False)


def block_mean(x: np.ndarray, k: int, valid: np.ndarray | None = None, off: tuple[int, int] = (0, 0)
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(means (C, h, w), cover (h, w))``, float32: :func:`block_sums`' mean of each ``k × k`` cell
    over its valid pixels (NaN where it holds none; a partial edge cell the mean of the pixels it
    holds) and the share of the whole cell they cover (``count / k²``: a partial edge cell's below 1).
    For ``off = (0, 0)`` the cells are those of ``Grid.coarser(k)``: exactly GDAL's ``average`` there
    where every pixel is valid, without a pass of the warper a band."""
    sums, counts = block_sums(x, k, valid, off)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    return means.astype(np.float32), (counts / k ** 2).astype(np.float32)


def mtf_sigma(k: int, mtf: float) -> float:
    """The Gaussian's standard deviation (fine pixels) whose response times a ``k × k`` block mean's
    is ``mtf`` at the ``k``-coarser grid's Nyquist frequency ``ν = 1/(2k)`` cycles a pixel. On the
    fine pixels the block's response there is ``D = sin(πkν) / (k sin(πν)) = 1 / (k sin(π/2k))``
    (0.7071 for ``k = 2``) and a Gaussian's ``exp(−2π²σ²ν²)``, so ``σ = k √(−2 ln(mtf / D)) / π``
    (0 where the block alone is as soft: ``mtf ≥ D``)."""
    g = mtf * k * np.sin(np.pi / (2 * k))
    return 0.0 if g >= 1 else float(k * np.sqrt(-2 * np.log(g)) / np.pi)


def mtf_mean(x: np.ndarray, k: int, mtf: float | None) -> np.ndarray:
    """``x (C, H, W)`` as a sensor ``k`` times coarser whose modulation transfer at its Nyquist
    frequency is ``mtf`` would see it (Wald's protocol with the sensor's MTF, as Aiazzi et al. 2006
    degrade by an MTF-matched Gaussian): each band blurred by :func:`mtf_sigma`'s Gaussian (edges
    mirrored), then :func:`block_mean`'s cells; ``(C, H/k, W/k)`` float32, ``H`` and ``W`` whole cells.
    ``mtf`` None: the block means alone."""
    from scipy.ndimage import gaussian_filter
    s = mtf_sigma(k, mtf) if mtf else 0.0
    soft = np.stack([gaussian_filter(b.astype(np.float32), s, mode="mirror") for b in x]) if s > 0 else x
    return block_mean(soft, k)[0]


def _axis_weights(src: Grid, dst: Grid):
    """``(rows (h, H), columns (w, W))`` sparse matrices: the share of each ``src`` pixel's side
    inside each ``dst`` cell's, for two north-up grids of one CRS (None otherwise), so that a
    cell's area sum of an image ``X`` is ``rows @ X @ columns.T``, exactly as GDAL's ``sum``."""
    from scipy.sparse import csr_matrix
    a, b = src.transform, dst.transform
    if src.crs != dst.crs or a.b or a.d or b.b or b.d:
        return None

    def along(n_src: int, n_dst: int, origin: float, step: float, d_origin: float, d_step: float):
        edges = (origin + step * np.arange(n_src + 1) - d_origin) / d_step  # src edges in dst cells
        lo, hi = np.minimum(edges[:-1], edges[1:]), np.maximum(edges[:-1], edges[1:])
        rows, cols, vals = [], [], []
        first = np.floor(lo).astype(np.int64)
        for shift in range(int(np.ceil((hi - lo).max())) + 2):  # every dst cell a src pixel touches
            cell = first + shift
            part = np.clip(np.minimum(hi, cell + 1) - np.maximum(lo, cell), 0, None) / np.maximum(hi - lo, 1e-12)
            keep = (part > 0) & (cell >= 0) & (cell < n_dst)
            rows.append(cell[keep])
            cols.append(np.flatnonzero(keep))
            vals.append(part[keep])
        return csr_matrix((np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n_dst, n_src))
    return (along(src.height, dst.height, a.f, a.e, b.f, b.e), along(src.width, dst.width, a.c, a.a, b.c, b.a))


def rows_under(fine: Grid, grid: Grid, margin: float = 0.0) -> tuple[int, int]:
    """``(a, b)``: the rows of ``fine`` under ``grid``'s extent grown by ``margin`` of its cells a side (in
    ``fine``'s CRS where the two differ: a reference in EPSG:4326 over UTM guides), clipped to ``fine``."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds
    t = grid.transform @ Affine.translation(-margin, -margin)
    left, bottom, right, top = array_bounds(grid.height + 2 * margin, grid.width + 2 * margin, t)
    if grid.crs is not None and fine.crs is not None and grid.crs != fine.crs:
        left, bottom, right, top = transform_bounds(grid.crs, fine.crs, left, bottom, right, top, densify_pts=21)
    rows = [(~fine.transform @ (x, y))[1] for x in (left, right) for y in (bottom, top)]
    return max(0, int(np.floor(min(rows)))), min(fine.height, int(np.ceil(max(rows))))


def strip_grid(fine: Grid, a: int, b: int) -> Grid:
    """Rows ``[a, b)`` of ``fine`` as a grid of their own."""
    return Grid(fine.crs, fine.transform @ Affine.translation(0, a), b - a, fine.width)


# The upsamplings by name, made by GDAL's warper (GDAL_NAMES) and by the lattice's gathers (fields.Lattice): each's
# taps (offsets from the cell at or before the pixel) and weight at a distance in cells (normalised as GDAL's Lanczos).
def _keys(x: np.ndarray) -> np.ndarray:
    """Cubic convolution (Keys 1981, a = −0.5: GDAL's ``cubic``)."""
    return np.where(x <= 1, 1.5 * x ** 3 - 2.5 * x ** 2 + 1, -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2)


def _bspline(x: np.ndarray) -> np.ndarray:
    """The cubic B-spline β³ (GDAL's ``cubicspline``; on :func:`bspline_coefficients` it interpolates: Unser 1999)."""
    return np.where(x < 1, 2 / 3 - x ** 2 + x ** 3 / 2, np.clip(2 - x, 0, None) ** 3 / 6)


def _lanczos(x: np.ndarray) -> np.ndarray:
    """Lanczos, a = 3: sinc(x) sinc(x / 3) (GDAL's ``lanczos``)."""
    return np.where(x < 3, np.sinc(x) * np.sinc(x / 3), 0.0)


KERNELS = {"bilinear": ((0, 1), lambda x: np.clip(1 - x, 0, None)), "cubic": ((-1, 0, 1, 2), _keys),
           "bspline": ((-1, 0, 1, 2), _bspline), "lanczos": ((-2, -1, 0, 1, 2, 3), _lanczos)}
BSPLINE_PAD = 2  # B-spline coefficients kept beyond each edge: the farthest a tap of a pixel within the grid reaches
GDAL_NAMES = {"nearest": "nearest", "bilinear": "bilinear", "cubic": "cubic", "bspline": "cubic_spline",
              "lanczos": "lanczos"}


def kernel_weights(how: str, dist: np.ndarray) -> np.ndarray:
    """``how``'s weights at ``dist (..., T)`` cells from each tap, summing to 1 over the taps (float32)."""
    w = KERNELS[how][1](dist)
    return (w / w.sum(-1, keepdims=True)).astype(np.float32)


def bspline_coefficients(field: np.ndarray, pad: int = 0) -> np.ndarray:
    """``field (C, h, w)`` → the cubic B-spline's coefficients that interpolate it at the cells' centres, float32
    ``(C, h + 2 pad, w + 2 pad)`` (``pad`` beyond each edge; a pixel's taps reach 2): scipy's ``spline_filter`` on
    the field padded by 12 replicated cells (the edge held beyond it; its own edge rule moves none by 0.27¹²)."""
    from scipy.ndimage import spline_filter
    out = np.empty((len(field), field.shape[1] + 2 * pad, field.shape[2] + 2 * pad), np.float32)
    cut = (slice(12 - pad, -12 + pad or None),) * 2
    for i, band in enumerate(field):
        out[i] = spline_filter(np.pad(band.astype(np.float64), 12, mode="edge"), order=3, mode="nearest")[cut]
    return out


def upsample_onto(coarse: np.ndarray, src: Grid, dst: Grid, method: str = "bilinear") -> np.ndarray:
    """``coarse (C, h, w)`` on ``src`` interpolated onto ``dst`` by ``method`` (:data:`GDAL_NAMES`: nearest,
    bilinear, cubic convolution, the interpolating cubic B-spline, Lanczos) → ``(C, H, W)``; ``coarse``
    must be filled (no NaN)."""
    from rasterio.warp import Resampling, reproject
    if method == "bspline":  # its coefficients, BSPLINE_PAD cells of them beyond each edge: no tap of GDAL's is held
        coarse, src = bspline_coefficients(coarse, BSPLINE_PAD), src.padded(BSPLINE_PAD)
    out = np.zeros((coarse.shape[0], dst.height, dst.width), np.float32)
    reproject(np.ascontiguousarray(coarse, np.float32), out, src_transform=src.transform,
              dst_transform=dst.transform, src_crs=src.crs or PIXELS_CRS, dst_crs=dst.crs or PIXELS_CRS,
              resampling=getattr(Resampling, GDAL_NAMES[method]))
    return out


# Plain images are placed in a local metric frame (GDAL's warper needs a CRS on both sides; one
# unit a pixel, far from any pole, so nothing is distorted).
PIXELS_CRS = "LOCAL_CS[\"pixels\",UNIT[\"metre\",1]]"


def estimate_shift(fixed: np.ndarray, moving: np.ndarray, valid: np.ndarray, edges: bool = True,
                   ) -> tuple[float, float, float]:
    """``(dy, dx, error)``: ``moving (h, w)`` shows at ``(i, j)`` what ``fixed`` shows at
    ``(i + dy, j + dx)`` (so a grid labelling ``moving`` is corrected by ``Grid.shifted(dy, dx)``),
    by phase correlation to a tenth of a pixel, scikit-image's ``phase_cross_correlation``, on
    the images' gradients so that two bands of unlike brightness still agree), and its
    normalised root-mean-square error (1: no peak at all)."""
    from skimage.registration import phase_cross_correlation
    a, b = (np.where(valid, x, np.nanmean(np.where(valid, x, np.nan))) for x in (fixed, moving))
    if edges:
        a, b = _edges(a), _edges(b)
    if not (np.ptp(a) > 0 and np.ptp(b) > 0):  # a flat image: no peak to find
        return 0.0, 0.0, 1.0
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    (dy, dx), error, _ = phase_cross_correlation(a * window, b * window, upsample_factor=10,
                                                 normalization=None)
    return float(dy), float(dx), float(error)


def _edges(x: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(x.astype(np.float64))
    return np.hypot(gy, gx)


def nearest_filled(r: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``r (C, h, w)`` as float32 with every cell outside ``valid`` its nearest valid cell's value (the footprint's
    margin too, which the interpolations read), in place where ``r`` is float32 (every caller's is a temporary)."""
    r = r.astype(np.float32, copy=False)
    if valid.all() or not valid.any():
        return r
    from scipy.ndimage import distance_transform_edt
    idx = distance_transform_edt(~valid, return_distances=False, return_indices=True)
    for band in r:
        band[...] = band[idx[0], idx[1]]
    return r


def residual(r: np.ndarray, m: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The consistency correction's residual, float32 ``(C, h, w)`` (or ``(h, w)``): the reference ``r`` less a
    prediction's cell means ``m`` on each cell ``seen`` (broadcast) that has a mean, 0 elsewhere; made in ``m`` itself
    (a copy of the field at 10980² to 20 m, six bands: 0.72 GB each; float64 means cast last, as the difference was)."""
    ok = np.isfinite(m)
    ok &= seen
    np.subtract(r, m, out=m, where=ok)
    np.copyto(m, 0.0, where=~ok)
    return m.astype(np.float32, copy=False)
