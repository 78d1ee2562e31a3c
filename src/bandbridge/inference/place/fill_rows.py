"""The inputs of ``bandbridge fill`` read by rows of the scene's grid, never whole: each file's
header opened once (its grid, bands, date and where its cloud mask is: an ``SCL``/``QA_PIXEL``
band in it, a cube reference's ``#scl``, or a file beside it, as ``fill_read.read_layer`` finds
them), then any strip of rows read onto the scene's grid — the same window where the grids agree;
values of a GDAL file (or band folder) in the scene's CRS on another pixel size or origin through the
VRT source the fill's stack names it by (:func:`placed`: GDAL's bilinear, a pixel whose kernel touches
no data left out), in another CRS through GDAL's warped VRT of it (:func:`warped_text`, bilinear), so
the flags made from these reads and the stack's values agree; else (a cube's step, ``.npy``, masks)
the window that covers the strip, reprojected by GDAL (``fill_read.onto``). Stored units, NaN where
not valid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from affine import Affine

from bandbridge.bands import clear
from bandbridge.data.cube_ref import is_cube, parse_ref
from bandbridge.data.formats import band_files
from bandbridge.data.grids import PIXELS_CRS, Grid
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.fill_read import MASKS, SNOW_SCL, STORED, Layer, date_of, mask_beside, onto, scl_cube
from bandbridge.policy import FILL_RESAMPLING, WARP_BLOCK

Window = tuple[int, int, int, int]  # row, column, height, width
MARGIN = 2  # source pixels read past a strip's footprint (bilinear reads a neighbour)
KNOWN_CLEAR = "#clear"  # after a date's path (-e FILE#clear): known clear, no cloud mask needed (its mask kind)


@dataclass
class RowReader:
    """One input's header and how its rows and cloud mask are read; ``layer`` its
    :class:`~bandbridge.inference.place.fill_read.Layer` without values (names, grid, date, path)."""

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
        if self.mask_kind == KNOWN_CLEAR:  # -e FILE#clear: clear wherever it holds data
            return np.ones((b - a, grid.width), bool), None
        if self.mask_band is not None:
            m = self.rows(grid, a, b, True, [self.mask_band])[0]
        elif self.mask_file is not None:
            m = self.mask_file.rows(grid, a, b, True, [0])[0]
        elif self.mask_cube is not None:
            m = onto(self.mask_cube[0][None], self.mask_cube[1], part(grid, (a, 0, b - a, grid.width)), nearest=True)[0]
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


def open_rows(item: str, flag: str, find_mask: bool = True, known_clear: bool = False) -> RowReader:
    """``item`` (a raster, band folder or cube reference ``cube.nc@DATE[#scl[=FILE]]``) opened for
    reading by rows, its cloud mask found as ``fill_read.read_layer`` finds it; ``known_clear``: none
    looked for, the date is clear wherever it holds data (``-e FILE#clear``)."""
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
    if known_clear:
        r.mask_kind, layer.masked_by = KNOWN_CLEAR, "#clear (known clear)"
    elif inside:
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


def part(grid: Grid, win: Window) -> Grid:
    """``grid`` cut to the window ``win`` (row, column, height, width)."""
    return Grid(grid.crs, grid.transform @ Affine.translation(win[1], win[0]), win[2], win[3])


def same_grid(g: Grid, h: Grid) -> bool:
    return (g.height, g.width) == (h.height, h.width) and g.crs == h.crs and g.transform.almost_equals(h.transform)


def placement(src: Grid, dst: Grid) -> tuple[float, float, float, float] | None:
    """Where all of ``dst`` lies in ``src``'s pixels, ``(x, y, width, height)`` (fractions allowed: a VRT
    source's ``SrcRect``), where the grids share their CRS and both are north-up; None otherwise."""
    s, d = src.transform, dst.transform
    if (src.crs or PIXELS_CRS) != (dst.crs or PIXELS_CRS) or s.b or s.d or d.b or d.d or min(s.a, d.a) <= 0 \
            or max(s.e, d.e) >= 0:
        return None
    return ((d.c - s.c) / s.a, (d.f - s.f) / s.e, dst.width * d.a / s.a, dst.height * d.e / s.e)


def warps(src: Grid, dst: Grid) -> bool:
    """Whether a file on ``src`` reaches ``dst`` by GDAL's warped VRT (both georeferenced, no
    :func:`placement`: another CRS, or not north-up)."""
    return src.crs is not None and dst.crs is not None and placement(src, dst) is None


def warped_text(path: Path, nodata: float | None, dst: Grid) -> str:
    """GDAL's warped VRT (``VRTWarpedDataset`` XML, as ``gdalwarp -of VRT`` writes it) of every band of
    ``path`` on all of ``dst``: float32, bilinear, ``nodata`` left out, NaN where it has no value."""
    import re

    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    with rasterio.open(Path(path).resolve()) as s, WarpedVRT(
            s, crs=dst.crs, transform=dst.transform, height=dst.height, width=dst.width, resampling=Resampling[FILL_RESAMPLING],
            src_nodata=nodata, nodata=float("nan"), dtype="float32") as v:
        xml = v.tags(ns="xml:VRT")["xml:VRT"]
    return re.sub(r"<Block([XY])Size>\d+</Block[XY]Size>", lambda m: f"<Block{m[1]}Size>{WARP_BLOCK}</Block{m[1]}Size>", xml)


def band_sources(item: str, bands: tuple[int, ...]) -> tuple[tuple[Path, int, float | None], ...] | None:
    """Per band of ``bands`` (file indices) of ``item`` the GDAL file, its 1-based band and the values it
    leaves out (its nodata; NaN for a float file without one): a file's own bands, a band folder's files
    (all on one grid); None where GDAL cannot name them (a cube's step, ``.npy``, a palette image)."""
    import rasterio
    if is_cube(item):
        return None
    p = Path(item)
    if p.is_dir():
        pairs = [(f, 1) for f in (list(band_files(p).values())[j] for j in bands)]
    elif p.is_file() and p.suffix.lower() != ".npy":
        pairs = [(p, j + 1) for j in bands]
    else:
        return None
    out, grids = [], set()
    for f, b in pairs:
        with rasterio.open(f) as s:
            if b > s.count or s.colorinterp[0].name == "palette":
                return None
            grids.add((s.width, s.height, tuple(s.transform), str(s.crs)))
            float_ = np.dtype(s.dtypes[b - 1]).kind == "f"
            out.append((f, b, s.nodata if s.nodata is not None else float("nan") if float_ else None))
    return tuple(out) if len(grids) == 1 else None


def placed(item: str, src: Grid, dst: Grid, want: Window, bands: list[int]) -> np.ndarray | None:
    """Bands of ``item`` over the window ``want`` of ``dst`` read through a VRT of ``dst``'s whole grid
    (the stack's own sources: ``fill_stack.write_stack``), :data:`FILL_RESAMPLING`-resampled by GDAL, ``(k, h, w)``
    float32 stored units, NaN where the file has no value; None where :func:`placement` or
    :func:`band_sources` cannot name it."""
    import rasterio
    from rasterio.windows import Window as Win

    from bandbridge.inference.interop.vrt import Band, Source, vrt_text
    rect, srcs = placement(src, dst), band_sources(item, tuple(bands))  # a ComplexSource as the stack's: GDAL
    # resamples it in the file's own type (an integer file's values rounded), as it reads the stack
    if srcs is None or (rect is None and not warps(src, dst)):
        return None
    win = Win(want[1], want[0], want[3], want[2])
    if rect is None:  # one warp a file (its bands warped together), as the stack names them
        out = np.empty((len(srcs), want[2], want[3]), np.float32)
        for f in dict.fromkeys(f for f, _, _ in srcs):
            ks = [k for k, (g, _, _) in enumerate(srcs) if g == f]
            with rasterio.open(warped_text(f, srcs[ks[0]][2], dst)) as d:
                out[ks] = d.read([srcs[k][1] for k in ks], window=win)
        return out
    whole = (0, 0, dst.width, dst.height)
    xml = vrt_text(dst.width, dst.height, dst.crs, dst.transform,
                   [Band("float32", [Source(f, b, whole, rect, (1.0, 0.0), nd, FILL_RESAMPLING)], nodata=float("nan"))
                    for f, b, nd in srcs])
    with rasterio.open(xml) as d:
        return d.read(window=win).astype(np.float32, copy=False)


def _placed_or_said(item: str, flag: str, src: Grid, dst: Grid, want: Window, bands: list[int]) -> np.ndarray | None:
    """:func:`placed`, GDAL's failure to read the file said in one line naming it."""
    from rasterio.errors import RasterioError
    try:
        return placed(item, src, dst, want, bands)
    except RasterioError as e:
        raise BandbridgeError(f"{flag}{' ' if flag else ''}{item}: cannot read it ({e}); check the file") from None


def _window(item: str, flag: str, src: Grid, dst: Grid, want: Window, bands: list[int], nearest: bool) -> np.ndarray:
    """Bands of ``item`` (on ``src``) over the window ``want`` of ``dst``, NaN where not valid."""
    strip = part(dst, want)
    if same_grid(src, dst):
        win = want
    elif not nearest and (v := _placed_or_said(item, flag, src, dst, want, bands)) is not None:
        return v
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
    return onto(v, part(src, win), strip, nearest)
