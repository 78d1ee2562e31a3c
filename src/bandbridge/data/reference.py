"""A coarse or earlier reference of the band at the same place, read on its own pixel grid over
the input's footprint: a Sentinel-2 or Landsat scene for an aerial image, a 20 m band for a 10 m
one, an older survey.

What comes back (:class:`Reference`) is the band in the reference's **stored units** (the file's
scale and offset kept to be written back), its valid cells (nodata, non-finite values, and clouds
and shadows where the product ships a Sentinel-2 ``SCL`` or a Landsat ``QA_PIXEL`` layer, inside
the file or beside it), its grid (CRS, transform, shape) and ``k``, how many input pixels one
reference pixel spans along a side. Files without a coordinate system on both sides are taken to
cover the same extent (a pair of plain images). The operations between the two grids are in
``data/grids.py``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
from affine import Affine

from bandbridge.bands import band_role, canonical_band_name, clear
from bandbridge.data.grids import PIXELS_CRS, Grid, extent_share
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_regular
from bandbridge.policy import KELVIN_RANGE, KELVIN_SPREAD, MAX_K, MIN_CELLS, MIN_COVER, MIN_K, NEGATIVE_SHARE

try:  # GDAL's own errors (CPLE_*) are not RasterioError: both mean a read (or write) went wrong
    from rasterio._err import CPLE_BaseError as _CPLE
except ImportError:  # pragma: no cover - a rasterio without it raises RasterioError only
    from rasterio.errors import RasterioError as _CPLE
from rasterio.errors import RasterioError

RASTER_ERRORS = (RasterioError, _CPLE)  # what GDAL raises when a raster's pixels cannot be read or written


@contextmanager
def pixels_read(name: str, src, where: str = ""):
    """GDAL's errors reading ``src``'s pixels inside, as one line starting with ``name`` (the flag and
    file; ``where``: the rows read) and the fix: a VRT whose source is no raster (or gone) opens, then
    fails here; so do a corrupt tile and a truncated JP2, found only when their window is read."""
    try:
        yield
    except RASTER_ERRORS as e:
        why = str(e.__cause__ or e).splitlines()[0][:160] if str(e.__cause__ or e) else "read failed"
        fix = ("a VRT must name rasters that exist and GDAL reads; give the raster itself" if src.driver == "VRT"
               else "the file is truncated or corrupt: copy or download it again")
        raise BandbridgeError(f"{name}: its pixels{where} cannot be read ({why}); {fix}") from None


MASK_NAMES = {"SCL": "SCL", "QA_PIXEL": "QA_PIXEL", "QA": "QA_PIXEL"}
_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})[-_]?(0[1-9]|1[0-2])[-_]?(0[1-9]|[12]\d|3[01])(?!\d)")


@dataclass
class Reference:
    """The reference band(s) over the input's footprint (see the module docstring)."""

    values: np.ndarray  # (Cr, h, w) float32, stored units
    valid: np.ndarray  # (h, w) bool: clear, finite, not nodata
    grid: Grid
    names: list[str]  # the bands read (their file names)
    path: str
    k: float  # input pixels per reference pixel along a side
    dtype: str  # the stored type (the output is written in it)
    scale: float = 1.0  # physical = stored × scale + offset (GDAL's tags; 1 and 0 where unset)
    offset: float = 0.0
    nodata: float | None = None
    masked_by: str = ""  # "SCL", "QA_PIXEL" or "" (nodata and non-finite values only)
    when: date | None = None  # acquisition date, where the file says it
    red: np.ndarray | None = None  # (h, w) the reference's red band, where it holds one: the shift
    # is measured on it (a band both hold)
    assumed: str = ""  # how its band was taken where no name said its role
    covered: np.ndarray | None = None  # (h, w) the share of each cell inside the input's footprint
    bits: int | None = None  # the stored depth its file states (NBITS), where it does

    @property
    def clear_cells(self) -> int:
        """The clear cells the input covers whole (at least ``policy.MIN_COVER``): what a fit is
        made on (the window's margin and the cells the input only touches are not)."""
        inside = self.covered >= MIN_COVER if self.covered is not None else True
        return int((self.valid & inside).sum())

    @property
    def clear_share(self) -> float:
        """The share of the cells the input touches that are clear (the margin past it left out)."""
        touched = self.covered > 0 if self.covered is not None else np.ones(self.valid.shape, bool)
        return float((self.valid & touched).sum() / max(int(touched.sum()), 1))


def raster_grid(path: str | Path) -> Grid:
    """The pixel grid of a raster (a plain image, without a CRS, in its own pixel coordinates:
    the frame :func:`open_reference` puts two plain images in)."""
    from bandbridge.data.reader import raster_info
    info = raster_info(path)
    return Grid(info.crs, info.transform if info.crs is not None else Affine.identity(), info.height, info.width)


def file_date(path: str | Path, tags: dict | None = None) -> date | None:
    """The acquisition date a raster states: a date tag (``ACQUISITIONDATE``, ``DATE_ACQUIRED``,
    ``datetime``, ``TIFFTAG_DATETIME``) or an 8-digit date in its name (NAIP's ``…_20200831``,
    Sentinel-2's ``…_20200219_…``); None when neither does."""
    for key, v in (tags or {}).items():
        if key.upper() in ("ACQUISITIONDATE", "ACQUISITION_DATE", "DATE_ACQUIRED", "DATETIME",
                           "TIFFTAG_DATETIME", "SENSING_TIME", "BANDBRIDGE_DATE"):
            if d := parse_date(str(v)):
                return d
    for part in (Path(str(path)).name, Path(str(path)).parent.name):
        if d := parse_date(part):
            return d
    return None


def parse_date(text: str) -> date | None:
    """The first calendar date in ``text`` (``2020-08-31``, ``20200831``, ``2020:08:31``)."""
    m = _DATE.search(text.replace(":", "-"))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def band_files(path) -> tuple[list[tuple], Path | None]:
    """Every band of a reference as ``(file, 1-based index, name)``, and a companion mask file
    (``SCL``/``QA_PIXEL``) beside it where there is one (a GDAL ``/vsi…`` address: none looked for).
    A one-band file without a description is named by its file name (``B08.tif``)."""
    from bandbridge.data.formats import open_raster
    if isinstance(path, Path) and path.is_dir():
        files = sorted(q for q in path.iterdir() if q.suffix.lower() in (".tif", ".tiff", ".jp2"))
        return [(q, 1, canonical_band_name(q.stem)) for q in files], None
    with open_raster(path) as src:
        names = [canonical_band_name(d) if d else f"BAND{i + 1}" for i, d in enumerate(src.descriptions)]
        if src.count == 1 and not src.descriptions[0]:
            names = [canonical_band_name(str(path).rsplit("/", 1)[-1].split(".")[0])]
    companion = None if isinstance(path, str) else \
        next((q for tag in ("SCL", "QA_PIXEL") for q in sorted(path.parent.glob(f"*{tag}*.tif")) if q != path), None)
    return [(path, i + 1, n) for i, n in enumerate(names)], companion


def _role_of(name: str) -> str:
    n = canonical_band_name(name)
    return "nir" if n in ("B05_L8", "SR_B5") else band_role(n)


def _reference_bands(path: str | Path) -> tuple[str | Path, list, Path | None]:
    """``--reference`` as a path (a GDAL address kept as text), its band files and its mask
    companion; refused in one line when missing, irregular or holding no band file."""
    remote = str(path).startswith("/vsi")
    p = str(path) if remote else Path(str(path))  # a GDAL address keeps its double slashes
    if not remote and not p.exists():
        raise BandbridgeError(f"--reference {p}: no such file or folder; give the coarse raster "
                              "(or band folder) of the band at the same place")
    if not remote:
        check_regular(p, "--reference", folder_ok=True, what="reference raster")
    bands, companion = band_files(p)
    if not bands:
        raise BandbridgeError(f"--reference {p}: the folder holds no .tif or .jp2 band files; give the "
                              "coarse raster, or a folder of its bands (B08.tif, …)")
    return p, bands, companion


def _pick(p: str | Path, bands: list, role: str, fine: Grid) -> tuple[list, str]:
    """The band files of ``role`` (a lone undescribed band taken as it, with the words that say
    so); refused when a georeference is on one side only, or no band has the role."""
    from bandbridge.data.formats import open_raster
    with open_raster(bands[0][0]) as src:  # a georeference on one side only is said before any band
        if (src.crs is None) != (fine.crs is None):
            have, lack = ("the reference", "the input") if src.crs is not None else ("the input", "the reference")
            raise BandbridgeError(f"--reference {p}: {have} has a coordinate system and {lack} has none; "
                                  "give two georeferenced files, or two plain images of the same extent")
        plain_one = src.count == 1 and not src.descriptions[0]
    pick = [b for b in bands if _role_of(b[2]) == role]
    if not pick and len(bands) == 1 and plain_one and _role_of(bands[0][2]) in ("other", "gray"):
        return bands, f"its one band, undescribed, taken as the model's target ({role})"
    if not pick:
        raise BandbridgeError(f"--reference {p}: no {role} band among [{', '.join(b[2] for b in bands)}] "
                              f"(bands are found by role: name it in the file's band descriptions, e.g. "
                              f"'{'B08' if role == 'nir' else role}')")
    return pick, ""


def open_reference(path: str | Path, role: str, fine: Grid, mask: str | Path | None = None) -> Reference:
    """The band of ``role`` (``nir``, ``rededge``, ``swir``…) of the raster or band folder ``path``
    over the footprint of the input grid ``fine``, with its valid cells (``mask``: a cloud mask
    file of the user's, an ``SCL`` or ``QA_PIXEL`` raster on the reference's grid). Refuses in one
    line: no band of the role, a reference that does not overlap, one not coarser than the input
    by :data:`MIN_K` or coarser than :data:`MAX_K`, one georeferenced where the other is not, a
    footprint with fewer than :data:`MIN_CELLS` clear cells."""
    from bandbridge.data.formats import open_raster, stated_bits
    p, bands, companion = _reference_bands(path)
    pick, assumed = _pick(p, bands, role, fine)
    red = next((b for b in bands if _role_of(b[2]) == "red"), None)
    masks = [b for b in bands if b[2] in MASK_NAMES]
    with open_raster(pick[0][0]) as src:
        crs = src.crs if src.crs else None
        tr = src.transform if crs is not None or src.transform != Affine.identity() else None
        size = (src.height, src.width)
        dtype, nodata = src.dtypes[pick[0][1] - 1], src.nodata
        scale, offset = src.scales[pick[0][1] - 1], src.offsets[pick[0][1] - 1]
        when = file_date(p, src.tags())
        bits = stated_bits(src, pick[0][1])
    if crs is None:  # two plain images: the reference spans the input's extent
        tr = Affine.scale(fine.width / size[1], fine.height / size[0])
        fine = replace(fine, transform=Affine.identity())
    whole = Grid(crs, tr, *size)
    win = reference_window(whole, fine, p)
    grid = Grid(crs, whole.transform @ Affine.translation(win[1], win[0]), win[2], win[3])
    k = pixels_per_cell(grid, fine, p)

    def read(f: Path, i: int) -> np.ndarray:
        with open_raster(f) as s, pixels_read(f"--reference {p}", s):
            return s.read(i, window=((win[0], win[0] + win[2]), (win[1], win[1] + win[3])),
                          boundless=True, fill_value=s.nodata if s.nodata is not None else
                          (np.nan if np.dtype(s.dtypes[i - 1]).kind == "f" else 0)).astype(np.float32)
    values = np.stack([read(f, i) for f, i, _ in pick[:1]])
    valid = np.isfinite(values).all(0) & inside_mask(win, size)
    if nodata is not None:
        valid &= ~(values == nodata).any(0)
    if dtype == "uint16" and nodata is None:
        valid &= values[0] != 0  # Sentinel-2's and Landsat's 0 is fill (tile edges), never dark ground
    masked_by = ""
    if not mask and masks:  # a band of the reference itself: on its grid
        valid &= clear(read(masks[0][0], masks[0][1]), MASK_NAMES[masks[0][2]])
        masked_by = MASK_NAMES[masks[0][2]]
    elif mask or companion:  # a file of its own, perhaps coarser (Sentinel-2's SCL is 20 m)
        source = str(mask or companion)
        masked_by = "QA_PIXEL" if "QA" in source.rsplit("/", 1)[-1].upper() else "SCL"
        valid &= clear(mask_on(source, grid), masked_by)
    ref = Reference(values, valid, grid, [pick[0][2]], str(p), k, dtype, float(scale), float(offset),
                    nodata, masked_by, when, read(*red[:2]) if red is not None and red[:2] != pick[0][:2] else None,
                    assumed, extent_share(fine, grid), bits)
    check_cells(ref)
    check_band(ref, role)
    return ref


SIGNED = ("vv", "vh", "hh", "hv", "other")  # roles whose physical values may be negative (dB, unknown)
REFLECTIVE = ("coastal", "blue", "green", "red", "rededge", "nir", "swir", "cirrus", "vapour", "gray")
# roles of reflected sunlight: their values are never a temperature (thermal's are; SAR's and
# unknown roles' may be anything)


def looks_like_kelvin(v: np.ndarray) -> bool:
    """Whether physical values ``v`` (any shape, the clear ones) read as temperatures in kelvin:
    their 2nd to 98th percentiles inside :data:`KELVIN_RANGE` (Earth's surface), above 8 bits (255:
    an 8-bit DN of bright ground reads 170–255) and within :data:`KELVIN_SPREAD` of their median (a
    temperature's zero lies far below it): ``docs/results/reference_quantity.json``."""
    v = np.asarray(v, np.float64).ravel()
    if v.size < 2:
        return False
    p2, p50, p98 = np.percentile(v, [2, 50, 98])
    return bool(KELVIN_RANGE[0] <= p2 and 255 < p98 <= KELVIN_RANGE[1] and p98 - p2 < KELVIN_SPREAD * p50)


def check_band(ref: Reference, role: str) -> None:
    """Refuse, in one line naming the cause, a reference whose values cannot be the band of ``role``:
    negative physical values on more than :data:`NEGATIVE_SHARE` of its clear cells (a reflectance or
    a DN is never negative), or one value on every clear cell (a fill or an empty product says
    nothing of the band)."""
    v = ref.values[0][ref.valid].astype(np.float64) * ref.scale + ref.offset
    name = f"--reference {ref.path}"
    if v.size > 1 and np.ptp(v) == 0:
        raise BandbridgeError(f"{name}: its {role} is one value ({v[0]:.6g}) on all {v.size:,} clear cells over the "
                              "input: a fill or an empty product, not the band; give a reference that holds the band")
    neg = float((v < 0).mean()) if v.size else 0.0
    if role not in SIGNED and neg > NEGATIVE_SHARE:
        raise BandbridgeError(f"{name}: {100 * neg:.0f} % of its clear {role} values over the input are negative "
                              f"(down to {v.min():.4g}); a {role} band's reflectance or DN is never negative, so this "
                              "is not the band (negated, a difference or an index?); give the band itself")
    physical = np.dtype(ref.dtype).kind == "f" or (ref.scale, ref.offset) != (1.0, 0.0)
    check_quantity(v, role, name, Path(ref.path).name, physical)


def check_quantity(v: np.ndarray, role: str, name: str, file: str = "FILE", physical: bool = True) -> None:
    """Refuse, in one line that starts with ``name`` (the flag and file), physical values ``v`` of a
    band named as the reflective ``role`` that read as a temperature in kelvin
    (:func:`looks_like_kelvin`): a thermal band given for NIR, say. ``physical``: the values are the
    file's physical ones (a float type, or a scale or offset it states); integers as stored are not
    judged (a reflectance ×1000 of a uniform field reads 280–340 within 20 %: an integer code, and
    the record's ×1000 windows are refused only where written as float). The fix names both ways
    out: the band itself, or the band's scale written into ``file``."""
    if role not in REFLECTIVE or not physical or not looks_like_kelvin(v):
        return
    p2, p50, p98 = np.percentile(np.asarray(v, np.float64), [2, 50, 98])
    raise BandbridgeError(
        f"{name}: its {role} values over the input read as a temperature in kelvin, not a {role} band "
        f"({p2:.4g}–{p98:.4g}, a spread of {100 * (p98 - p2) / p50:.0f} % of their median {p50:.4g}: inside Earth's "
        f"surface temperatures, {KELVIN_RANGE[0]:g}–{KELVIN_RANGE[1]:g} K, and as narrow); give the {role} band "
        f"itself, not a thermal one; if it is the {role} band in other "
        f"units (reflectance ×1000), write its scale into the file: gdal_edit.py -scale 0.001 {file}")


def mask_on(source: str, grid: Grid) -> np.ndarray:
    """A classification raster (``SCL``, ``QA_PIXEL``) brought onto ``grid`` by nearest neighbour
    (classes are never averaged); cells it does not reach are 0 (no data)."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    from bandbridge.data.formats import open_raster
    if not source.startswith("/vsi") and not Path(source).exists():
        raise BandbridgeError(f"--reference-mask {source}: no such file; give the SCL or QA_PIXEL raster")
    if not source.startswith("/vsi"):
        check_regular(source, "--reference-mask", what="SCL or QA_PIXEL raster")
    out = np.zeros((grid.height, grid.width), np.float32)
    with open_raster(source) as s:
        reproject(rasterio.band(s, 1), out, src_transform=s.transform, src_crs=s.crs or grid.crs or PIXELS_CRS,
                  dst_transform=grid.transform, dst_crs=grid.crs or PIXELS_CRS, resampling=Resampling.nearest,
                  src_nodata=None, dst_nodata=0)
    return out


def check_cells(ref: Reference) -> None:
    """Refuse a reference with no clear cell over the input (all cloud, fill or NaN, no overlap),
    saying which."""
    n = int(ref.valid.sum())
    if n >= MIN_CELLS:
        return
    v = ref.values[0]
    if not np.isfinite(v).any():
        why = "every value over the input is NaN or infinite"
    elif ref.nodata is not None and bool((v[np.isfinite(v)] == ref.nodata).all()):
        why = f"every value over the input is its nodata value {ref.nodata:g}"
    elif ref.masked_by:
        why = f"{ref.masked_by} calls {100 * (1 - ref.valid.mean()):.0f} % of it cloud, shadow or fill"
    elif ref.dtype == "uint16" and not v.any():
        why = "every value over the input is 0, a Sentinel-2 or Landsat fill"
    else:
        why = f"the overlap is {ref.grid.height}×{ref.grid.width} reference pixels"
    raise BandbridgeError(f"--reference {ref.path}: {n} clear reference pixels over the input, at least "
                          f"{MIN_CELLS} needed ({why}); give a clearer reference of the same place")


def inside_mask(win: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    r = np.arange(win[0], win[0] + win[2])
    c = np.arange(win[1], win[1] + win[3])
    return ((r >= 0) & (r < size[0]))[:, None] & ((c >= 0) & (c < size[1]))[None, :]


def reference_window(whole: Grid, fine: Grid, p: Path) -> tuple[int, int, int, int]:
    """``(row, col, height, width)`` of the reference's pixels covering the input, one pixel of
    margin each side (the interpolation back onto the input needs its neighbours)."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds
    b = array_bounds(fine.height, fine.width, fine.transform)  # the input's (west, south, east, north)
    if fine.crs is not None and whole.crs is not None and fine.crs != whole.crs:
        b = transform_bounds(fine.crs, whole.crs, *b, densify_pts=21)  # in the reference's CRS
    left, bottom, right, top = b
    inv = ~whole.transform
    cols, rows = zip(*[inv @ (x, y) for x in (left, right) for y in (bottom, top)])
    r0, r1 = int(np.floor(min(rows))) - 1, int(np.ceil(max(rows))) + 1
    c0, c1 = int(np.floor(min(cols))) - 1, int(np.ceil(max(cols))) + 1
    if r1 <= 1 or c1 <= 1 or r0 >= whole.height - 1 or c0 >= whole.width - 1:
        raise BandbridgeError(f"--reference {p}: does not overlap the input (its footprint lies "
                              "outside the reference's); give a reference of the same place")
    return r0, c0, r1 - r0, c1 - c0


def pixels_per_cell(grid: Grid, fine: Grid, p: Path, swappable: str = "") -> float:
    """Input pixels per reference pixel along a side, from the pixel areas (in the input's CRS).
    ``swappable``: the flag of an input that could be the reference (``sharpen``'s FINE), which a
    reference coarser the other way round by ``MIN_K`` to ``MAX_K`` is said to look swapped with."""
    from rasterio.warp import transform as warp
    corners = [grid.transform @ (grid.width / 2 + dx, grid.height / 2 + dy) for dx, dy in ((0, 0), (1, 0), (0, 1))]
    if grid.crs is not None and fine.crs is not None and grid.crs != fine.crs:
        xs, ys = warp(grid.crs, fine.crs, [q[0] for q in corners], [q[1] for q in corners])
        corners = list(zip(xs, ys))
    (x0, y0), (x1, y1), (x2, y2) = corners
    area = abs((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))
    k = float(np.sqrt(area / abs(fine.transform.a * fine.transform.e - fine.transform.b * fine.transform.d)))
    if swappable and MIN_K - 0.01 <= 1 / k <= MAX_K:  # given the other way round, the pair would serve
        raise BandbridgeError(f"--reference {p}: its pixels are {1 / k:.2f}× finer than {swappable}'s (k = {k:.2f}): "
                              f"{swappable}'s are the coarser, so the two look swapped; give the fine raster first "
                              f"({swappable}) and the coarse one as --reference")
    if k < MIN_K - 0.01:  # 2.00 read off a grid in degrees comes out a hair below 2
        finer = "finer than" if k < 0.99 else "as fine as" if k < 1.01 else "less than twice as coarse as"
        raise BandbridgeError(f"--reference {p}: its pixels are {finer} the input's (k = {k:.2f}); a "
                              f"reference must be at least {MIN_K:g}× coarser (with a band as fine as "
                              "the input, the two are a pair: use bandbridge adapt)")
    if k > MAX_K:
        raise BandbridgeError(f"--reference {p}: one reference pixel spans {k:.0f}×{k:.0f} input pixels, "
                              f"more than {MAX_K:g}; give a finer reference")
    return k
