"""The inputs of ``bandbridge fill`` read by rows of the scene's grid, never whole: each file's header opened once
(:func:`open_rows`: its grid, bands, date and cloud mask), then any strip read onto the scene's grid — the same
window where the grids agree; a GDAL file on another grid as the stack names it (:func:`placed`), so that the flags
and the stack agree; else the window covering the strip, reprojected (:func:`onto`). Stored units, NaN where not
valid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.transform import array_bounds

from bandbridge.bands import Scaling, clear
from bandbridge.data.cube_ref import CubeRef, is_cube, parse_ref
from bandbridge.data.formats import band_files
from bandbridge.data.grids import PIXELS_CRS, Grid
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.data.reference import file_date, parse_date
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_size
from bandbridge.inference.runtime.memory import available_bytes
from bandbridge.policy import FILL_READ_SHARE, FILL_RESAMPLING, WARP_BLOCK

Window = tuple[int, int, int, int]  # row, column, height, width
MARGIN = 2  # source pixels read past a strip's footprint (bilinear reads a neighbour)
KNOWN_CLEAR = "#clear"  # after a date's path (-e FILE#clear): known clear, no cloud mask needed (its mask kind)
STORED = Scaling("stored", 0.0, 1.0, units="stored")  # the file's own values, unscaled
MASKS = {"SCL": "SCL", "QA_PIXEL": "QA_PIXEL", "QA": "QA_PIXEL"}  # band name → bands.clear's kind
SNOW_SCL = 11  # the Sentinel-2 scene class "snow or ice" (bands.CLEAR_SCL counts it clear)
READ_BYTES_PER_BAND, READ_BYTES_PER_PX = 12, 2  # a pixel read whole: float32 three times a band, two masks


@dataclass
class Layer:
    """One file on its own grid: ``values (C, H, W)`` stored units (NaN where not valid),
    ``names`` its data bands, ``clear (H, W)`` where its mask says clear (None: no mask found),
    ``masked_by`` what said so."""

    values: np.ndarray
    names: list[str]
    grid: Grid
    when: date | None
    path: str
    dtype: str
    clear: np.ndarray | None = None
    masked_by: str = ""
    nodata: float | None = None
    snow: np.ndarray | None = None  # (H, W) where SCL says snow (None: no SCL)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.values).all(0)


def subject(flag: str, item: str) -> str:
    """``item`` as a refusal names it: after its flag, if any."""
    return f"{flag} {item}" if flag else item


def header(item: str, flag: str) -> tuple[object, Grid]:
    """``item``'s header (``data/reader.raster_info``; its refusal naming ``flag``) and its grid."""
    try:
        info = raster_info(item)
    except BandbridgeError as e:
        raise BandbridgeError(subject(flag, str(e))) from None
    return info, Grid(info.crs, info.transform if info.transform is not None else Affine.identity(), info.height,
                      info.width)


def check_fits(item: str, width: int, height: int, bands: int, flag: str, free: int | None = None) -> None:
    """Refuse from its header (``width`` × ``height`` px, ``bands``), before it is read, a file
    this machine cannot hold whole: more pixels than :data:`FILL_READ_SHARE` of the memory available
    (``free`` bytes, default now) holds at :data:`READ_BYTES_PER_BAND` a band."""
    free = available_bytes() if free is None else free
    if free is None:
        return
    per_px = READ_BYTES_PER_BAND * max(bands, 1) + READ_BYTES_PER_PX
    most = FILL_READ_SHARE * free / per_px
    check_size(subject(flag, item), width, height, most,
               f"fill reads it whole, {bands} band(s) at {per_px} bytes a pixel, about "
               f"{width * height * per_px / 1e9:.3g} GB, and takes a file up to {FILL_READ_SHARE:.0%} of the "
               f"{free / 1e9:.3g} GB this machine has available now (about {most / 1e6:.3g} MPix of {bands} band(s))",
               "crop it to the scene's footprint (gdal_translate -projwin) or free memory")


def date_of(item: str) -> date | None:
    """``item``'s date: a cube reference's ``@DATE``, else its tags or name (``reference.file_date``)."""
    if is_cube(item):
        return parse_date(parse_ref(item).date or "")
    import rasterio
    try:
        with rasterio.open(item) as src:
            tags = src.tags()
    except Exception:  # noqa: BLE001 - a band folder: its name may still say the date
        tags = {}
    return file_date(item, tags)


def mask_beside(item: str) -> tuple[Path, str] | None:
    """The cloud mask ``fill`` takes from beside a raster file: the first ``.tif`` in its folder
    whose name holds ``SCL`` or ``QA_PIXEL``, and its kind (``bands.clear``'s); None for a cube
    reference, a folder, or a file without one."""
    if is_cube(item) or not Path(item).is_file():
        return None
    for q in sorted(Path(item).parent.iterdir()):
        kind = next((k for n, k in MASKS.items() if n in q.name.upper()), None)
        if kind and q != Path(item) and q.suffix.lower() in (".tif", ".tiff"):
            return q, kind
    return None


def scl_cube(p: Path, when: str | None, flag: str) -> tuple[np.ndarray, Grid]:
    """The ``SCL`` variable of a companion cube at ``when``, undecoded (a class band: its fill
    must not become a float NaN), ``(h, w)`` float32, and its grid."""
    from bandbridge.data.cube_dataset import cube_info, open_cube, step_index, time_dim
    ds = open_cube(p, raw=True)
    if "SCL" not in ds.data_vars:
        raise BandbridgeError(f"{subject(flag, str(p))}: no SCL variable; name the cube that holds the "
                              "scene classification after #scl=")
    t = time_dim(ds)
    info = cube_info(str(p))
    check_fits(f"{p}#SCL", info.width, info.height, 1, flag)
    da = ds["SCL"].isel({t: step_index(ds, CubeRef(p, when))}) if t else ds["SCL"]
    return np.asarray(da.values, np.float32), Grid(info.crs, info.transform, info.height, info.width)


def onto(values: np.ndarray, src: Grid, dst: Grid, nearest: bool = False, what: str = "a layer") -> np.ndarray:
    """``values (C, h, w)`` (NaN: no data) on ``src`` reprojected onto ``dst`` → ``(C, H, W)``,
    bilinear (``nearest`` for classes and masks); NaN where ``src`` has nothing (:func:`unplaced`: refused)."""
    from rasterio.warp import Resampling, reproject
    if (bad := unplaced(what, src, dst)) is not None:
        raise bad
    out = np.full((values.shape[0], dst.height, dst.width), np.nan, np.float32)
    reproject(values.astype(np.float32), out, src_transform=src.transform, dst_transform=dst.transform,
              src_crs=src.crs or PIXELS_CRS, dst_crs=dst.crs or PIXELS_CRS, src_nodata=np.nan, dst_nodata=np.nan,
              resampling=Resampling.nearest if nearest else Resampling.bilinear)
    return out


def unplaced(what: str, src: Grid, dst: Grid) -> BandbridgeError | None:
    """The refusal of ``what`` on ``src`` where it or the scene (``dst``) has no georeference and the other has
    (a CRS without a geotransform has none: its pixels would be metres at the CRS's origin)."""
    if (src.crs is None or src.transform == Affine.identity()) == (dst.crs is None):
        return None
    if dst.crs is None:
        return BandbridgeError(f"{what}: georeferenced ({src.crs}) but the scene has no georeference, so where it "
                               "lies on the scene is unknown; give the scene as a GeoTIFF with its CRS")
    w, s, e, n = array_bounds(dst.height, dst.width, dst.transform)
    why = "a CRS but no geotransform" if src.crs else "no CRS: a PNG, JPEG or plain TIFF"
    return BandbridgeError(f"{what}: has no georeference ({why}), so where it lies on the scene is unknown; give it "
                           f"the scene's (gdal_translate -a_srs {dst.crs} -a_ullr {w:.10g} {n:.10g} {e:.10g} {s:.10g} IN "
                           f"OUT.tif, if it covers the scene's {dst.width}×{dst.height} px)")


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
    """``(key, load(key))`` for each of ``keys`` in order, the next ``workers`` loaded in threads (GDAL, numpy
    and scipy free the GIL) while the caller works on this one; ``load`` must be pure (each strip its own)."""
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
    info, grid = header(item, flag)
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
        r.mask_cube, r.mask_kind = scl_cube(ref.file(scl), ref.date, flag), "SCL"
        layer.masked_by = f"SCL of {Path(scl).name}"
    elif find_mask and (beside := mask_beside(item)) is not None:  # (path, kind)
        r.mask_file, r.mask_kind, layer.masked_by = open_rows(str(beside[0]), flag, False), beside[1], beside[0].name
    return r


def covering(src: Grid, bounds: tuple[float, float, float, float]) -> tuple[Window | None, float]:
    """The window of ``src`` (row, column, height, width) over ``bounds`` (in its CRS) and :data:`MARGIN`
    pixels round them, within ``src`` (None where they do not meet), and the bounds' area in its pixels."""
    from rasterio.windows import from_bounds
    w = from_bounds(*bounds, transform=src.transform)
    r0, c0 = max(int(np.floor(w.row_off)) - MARGIN, 0), max(int(np.floor(w.col_off)) - MARGIN, 0)
    r1 = min(int(np.ceil(w.row_off + w.height)) + MARGIN, src.height)
    c1 = min(int(np.ceil(w.col_off + w.width)) + MARGIN, src.width)
    return ((r0, c0, r1 - r0, c1 - c0) if r1 > r0 and c1 > c0 else None), float(w.width * w.height)


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


def _window(item: str, flag: str, src: Grid, dst: Grid, want: Window, bands: list[int], nearest: bool) -> np.ndarray:
    """Bands of ``item`` (on ``src``) over the window ``want`` of ``dst``, NaN where not valid."""
    strip = part(dst, want)
    if same_grid(src, dst):
        win = want
    else:  # placed (GDAL's failure said in one line naming the file), else the source window over the strip's
        # footprint, then GDAL's warp onto it
        from rasterio.errors import RasterioError
        from rasterio.warp import transform_bounds
        try:
            if not nearest and (v := placed(item, src, dst, want, bands)) is not None:
                return v
        except RasterioError as e:
            raise BandbridgeError(f"{subject(flag, item)}: cannot read it ({e}); check the file") from None
        left, top = strip.transform @ (0, 0)
        right, bottom = strip.transform @ (strip.width, strip.height)
        bounds = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
        if (src.crs or PIXELS_CRS) != (dst.crs or PIXELS_CRS):
            bounds = transform_bounds(dst.crs or PIXELS_CRS, src.crs or PIXELS_CRS, *bounds)
        win = covering(src, bounds)[0]
        if win is None:
            return np.full((len(bands), want[2], want[3]), np.nan, np.float32)
    try:
        r = read_raster(item, STORED, bands, window=win)
    except BandbridgeError as e:
        raise BandbridgeError(subject(flag, str(e))) from None
    v = r.data.astype(np.float32, copy=False)
    v[:, ~r.mask] = np.nan
    return v if same_grid(src, dst) else onto(v, part(src, win), strip, nearest)
