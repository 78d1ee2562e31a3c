"""The inputs of ``bandbridge fill`` read by rows of the scene's grid, never whole: each file's
header opened once (its grid, bands, date and where its cloud mask is: an ``SCL``/``QA_PIXEL``
band in it, a cube reference's ``#scl``, or a file beside it, as ``fill_read.read_layer`` finds
them), then any strip of rows read onto the scene's grid — the same window where the grids agree,
else the window that covers the strip, reprojected by GDAL (``fill_read.onto``). Stored units, NaN
where not valid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from affine import Affine

from bandbridge.bands import clear
from bandbridge.data.cube_ref import is_cube, parse_ref
from bandbridge.data.grids import PIXELS_CRS, Grid
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.inference.jobs.fill_read import MASKS, SNOW_SCL, STORED, Layer, date_of, mask_beside, onto, scl_cube

Window = tuple[int, int, int, int]  # row, column, height, width
MARGIN = 2  # source pixels read past a strip's footprint (bilinear reads a neighbour)


@dataclass
class RowReader:
    """One input's header and how its rows and cloud mask are read; ``layer`` its
    :class:`~bandbridge.inference.jobs.fill_read.Layer` without values (names, grid, date, path)."""

    item: str
    flag: str
    layer: Layer
    data: list[int]  # indices of the file's data bands (its mask band left out)
    mask_band: int | None = None  # the file's own SCL/QA_PIXEL band
    mask_kind: str | None = None
    mask_file: "RowReader | None" = None  # a mask file beside it
    mask_cube: tuple[np.ndarray, Grid] | None = None  # a companion cube's SCL step (20 m: read once)
    sar_kind: str | None = None  # a SAR file's stored form (fill_read.sar_kind), told once by the scan

    @property
    def masked(self) -> bool:
        return self.mask_kind is not None

    def read(self, grid: Grid, win: Window, nearest: bool = False, bands: list[int] | None = None) -> np.ndarray:
        """Bands ``bands`` (file indices; default the data bands) over the window ``win`` (row,
        column, height, width) of ``grid``, ``(k, h, w)`` float32 stored units, NaN where not valid."""
        return _window(self.item, self.flag, self.layer.grid, grid, win, self.data if bands is None else bands,
                       nearest)

    def rows(self, grid: Grid, a: int, b: int, nearest: bool = False, bands: list[int] | None = None) -> np.ndarray:
        """:meth:`read` of rows ``[a, b)``, the whole width."""
        return self.read(grid, (a, 0, b - a, grid.width), nearest, bands)

    def mask_rows(self, grid: Grid, a: int, b: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(clear, snow)`` over rows ``[a, b)`` of ``grid`` (None where no mask / no SCL)."""
        if self.mask_band is not None:
            m = self.rows(grid, a, b, True, [self.mask_band])[0]
        elif self.mask_file is not None:
            m = self.mask_file.rows(grid, a, b, True, [0])[0]
        elif self.mask_cube is not None:
            m = onto(self.mask_cube[0][None], self.mask_cube[1], _part(grid, (a, 0, b - a, grid.width)), nearest=True)[0]
        else:
            return None, None
        return clear(m, self.mask_kind), (np.nan_to_num(m) == SNOW_SCL if self.mask_kind == "SCL" else None)


def ahead(load, keys, workers: int = 1):
    """``(key, load(key))`` for each of ``keys`` in order, the next ``workers`` loaded in threads
    while the caller works on this one: a pass over the scene reads and computes its strips (GDAL's
    decompression, numpy's and scipy's arrays free the GIL) beside its own work, a strip or two ahead.
    ``load`` must be pure (each strip its own); the order of the answers is the keys'."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor
    keys = list(keys)
    with ThreadPoolExecutor(workers) as pool:
        queued = deque(pool.submit(load, k) for k in keys[:workers])
        for k, key in enumerate(keys):
            got = queued.popleft().result()
            if k + workers < len(keys):
                queued.append(pool.submit(load, keys[k + workers]))
            yield key, got


def open_rows(item: str, flag: str, find_mask: bool = True) -> RowReader:
    """``item`` (a raster, band folder or cube reference ``cube.nc@DATE[#scl[=FILE]]``) opened for
    reading by rows, its cloud mask found as ``fill_read.read_layer`` finds it."""
    scl = None
    if is_cube(item):
        ref = parse_ref(item)
        scl, item = ref.scl, str(replace(ref, scl=None))
    try:
        info = raster_info(item)
    except BandbridgeError as e:
        raise BandbridgeError(f"{flag}{' ' if flag else ''}{e}") from None
    grid = Grid(info.crs, info.transform if info.transform is not None else Affine.identity(), info.height, info.width)
    names = list(info.bands)
    inside = [i for i, n in enumerate(names) if n.upper() in MASKS]
    data = [i for i in range(len(names)) if i not in inside]
    layer = Layer(np.zeros((len(data), 0, 0), np.float32), [names[i] for i in data], grid, date_of(item), item, info.dtype,
                  nodata=info.nodata)
    r = RowReader(item, flag, layer, data)
    if inside:
        r.mask_band, r.mask_kind = inside[0], MASKS[names[inside[0]].upper()]
        layer.masked_by = names[inside[0]]
    elif scl:
        ref = parse_ref(item)
        r.mask_cube, r.mask_kind = scl_cube(ref.file(scl), ref.date, flag), "SCL"
        layer.masked_by = f"SCL of {Path(scl).name}"
    elif find_mask and (beside := mask_beside(item)) is not None:
        q, kind = beside
        r.mask_file, r.mask_kind, layer.masked_by = open_rows(str(q), flag, False), kind, q.name
    return r


def _part(grid: Grid, win: Window) -> Grid:
    return Grid(grid.crs, grid.transform @ Affine.translation(win[1], win[0]), win[2], win[3])


def same_grid(g: Grid, h: Grid) -> bool:
    return (g.height, g.width) == (h.height, h.width) and g.crs == h.crs and g.transform.almost_equals(h.transform)


def _window(item: str, flag: str, src: Grid, dst: Grid, want: Window, bands: list[int], nearest: bool) -> np.ndarray:
    """Bands of ``item`` (on ``src``) over the window ``want`` of ``dst``, NaN where not valid."""
    strip = _part(dst, want)
    if same_grid(src, dst):
        win = want
    else:  # the source window over the strip's footprint, then GDAL's warp onto it
        from rasterio.warp import transform_bounds
        from rasterio.windows import from_bounds
        left, top = strip.transform @ (0, 0)
        right, bottom = strip.transform @ (strip.width, strip.height)
        bounds = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
        if (src.crs or PIXELS_CRS) != (dst.crs or PIXELS_CRS):
            bounds = transform_bounds(dst.crs or PIXELS_CRS, src.crs or PIXELS_CRS, *bounds)
        w = from_bounds(*bounds, transform=src.transform)
        r0, c0 = int(np.floor(w.row_off)) - MARGIN, int(np.floor(w.col_off)) - MARGIN
        r1 = int(np.ceil(w.row_off + w.height)) + MARGIN
        c1 = int(np.ceil(w.col_off + w.width)) + MARGIN
        r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(max(r1, 0), src.height), min(max(c1, 0), src.width)
        if r1 <= r0 or c1 <= c0:
            return np.full((len(bands), want[2], want[3]), np.nan, np.float32)
        win = (r0, c0, r1 - r0, c1 - c0)
    try:
        r = read_raster(item, STORED, bands, window=win)
    except BandbridgeError as e:
        raise BandbridgeError(f"{flag}{' ' if flag else ''}{e}") from None
    v = r.data.astype(np.float32, copy=False)
    v[:, ~r.mask] = np.nan
    if same_grid(src, dst):
        return v
    return onto(v, _part(src, win), strip, nearest)
