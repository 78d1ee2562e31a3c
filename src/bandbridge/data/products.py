"""Real products read as they are, for sharpening: bands in their physical units on their own
grids (:class:`ProductBands`), one reader a product family — Landsat 8/9 (``data/landsat.py``:
reflectance and temperature in K from the MTL), Sentinel-2 band sets at 10, 20 and 60 m
(``data/sentinel2.py``: SAFE/JP2, band-per-file COG folders, stacked files) — and here what they
share: one band file read whole, and a pan + multispectral pair checked for aligned grids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from affine import Affine

from bandbridge.data.formats import open_raster, read_bands
from bandbridge.data.grids import Grid
from bandbridge.errors import BandbridgeError
from bandbridge.policy import ALIGN_PX

ALIGN_TOLERANCE = 1e-3  # of a fine pixel: two grids whose corners differ by less are one lattice
TEMPERATURE, REFLECTANCE = "temperature", "reflectance"  # the physical kinds a band is judged by
KELVIN_UNITS = ("k", "kelvin", "degk")  # a band's GDAL unit type that states kelvin
CELSIUS_UNITS = ("c", "celsius", "degc", "°c")


@dataclass(frozen=True)
class FileBand:
    """One band of an input as ``bandbridge sharpen`` reads it: its file, 1-based index and name;
    what its product says of it — its ``kind`` (:data:`TEMPERATURE`, :data:`REFLECTANCE`, or ""
    where nothing says), its physical ``units``, and how stored values become physical ones:
    ``linear`` ``(scale, offset)`` where the product states a linear map (Sentinel-2's
    ``(DN + offset) / 10000``, Landsat's ``DN · mult + add``), ``convert`` where it is not (Landsat
    Level-1 thermal: Planck's law), neither where the file's own scale/offset tags are all there is;
    ``cell``: the band's own pixels averaged ``cell × cell`` where read as a target (a product
    resampled onto a finer grid than its sensor's: Landsat TIRS; a stack's 20 m band on its 10 m grid), its cells
    starting ``phase`` ``(rows, columns)`` into the file (a stack's blocks need not start at its corner)."""

    path: Path
    index: int
    name: str
    kind: str = ""
    units: str = ""
    linear: tuple[float, float] | None = None
    convert: Callable[[np.ndarray], np.ndarray] | None = None
    cell: int = 1
    phase: tuple[int, int] = (0, 0)

    def physical(self, stored: np.ndarray) -> np.ndarray:
        """Stored values → physical ones (float32): the product's map, else as stored."""
        if self.convert is not None:
            return self.convert(stored)
        if self.linear is not None:
            return (stored.astype(np.float64) * self.linear[0] + self.linear[1]).astype(np.float32)
        return stored.astype(np.float32, copy=False)


def band_kind(name: str, units: str) -> str:
    """The kind of a band no product metadata describes: its GDAL unit type (``K``, ``kelvin``,
    ``°C``: a temperature; ``reflectance``), else its name's role (``bands.band_role``: ``B11`` is
    SWIR, ``thermal`` a temperature); "" where neither says (SAR, an index, a DEM)."""
    from bandbridge.bands import band_role
    from bandbridge.data.reference import REFLECTIVE
    u = units.strip().lower()
    if u in KELVIN_UNITS or u in CELSIUS_UNITS:
        return TEMPERATURE
    if "reflectance" in u:
        return REFLECTANCE
    role = band_role(name)
    return TEMPERATURE if role == "thermal" else REFLECTANCE if role in REFLECTIVE and role != "gray" else ""


def check_kind(v: np.ndarray, band: FileBand, physical: bool, name: str, why: str) -> None:
    """Refuse, in one line starting with ``name`` (the flag and file), a band whose physical values
    ``v`` (its clear ones) are not of the kind ``why`` says it is: a reflectance that reads as a
    temperature in kelvin (``data/reference.looks_like_kelvin``: ``policy.KELVIN_RANGE``,
    ``KELVIN_SPREAD``), or a band in kelvin whose 2nd–98th percentiles fall outside
    ``policy.KELVIN_RANGE``. ``physical``: the values are the product's or the file's physical
    ones (a float type, a stated scale or a product's map); integers as stored are not judged."""
    from bandbridge.data.reference import looks_like_kelvin
    from bandbridge.policy import KELVIN_RANGE
    if not physical or v.size < 2:
        return
    p2, p98 = np.percentile(np.asarray(v, np.float64), [2, 98])
    if band.kind == REFLECTANCE and looks_like_kelvin(v):
        raise BandbridgeError(
            f"{name}: its band {band.name} is a reflectance by {why}, but its values read as a temperature in kelvin "
            f"({p2:.4g}–{p98:.4g}: the kelvin rule); give the band of the kind you mean (a thermal band in K: tag its "
            f"units, gdal_edit.py -units K {band.path.name}, or give its product's folder with its MTL)")
    kelvin = band.kind == TEMPERATURE and band.units.strip().lower() in KELVIN_UNITS
    if kelvin and (p2 < KELVIN_RANGE[0] or p98 > KELVIN_RANGE[1]):
        raise BandbridgeError(
            f"{name}: its band {band.name} is a temperature in K by {why}, but its values ({p2:.4g}–{p98:.4g}) lie "
            f"outside Earth's surface temperatures ({KELVIN_RANGE[0]:g}–{KELVIN_RANGE[1]:g} K); give the band of the "
            f"kind you mean, or correct its units tag (gdal_edit.py -units … {band.path.name})")


@dataclass
class ProductBands:
    """Bands of one grid in physical units: ``data`` float32 ``(C, H, W)`` (invalid pixels 0),
    ``valid`` bool ``(H, W)``, ``names`` and ``units`` per band, ``grid`` (``crs`` None for a
    plain image), and per band ``to_stored``: physical values back to the file's stored values
    (so a sharpened band is written as its reference was)."""

    data: np.ndarray
    valid: np.ndarray
    names: list[str]
    units: list[str]
    grid: Grid
    to_stored: list[Callable[[np.ndarray], np.ndarray]] = field(default_factory=list)

    def select(self, names: list[str]) -> "ProductBands":
        """The bands named, in that order (refused with the bands there are)."""
        missing = [n for n in names if n not in self.names]
        if missing:
            raise BandbridgeError(f"no band {missing[0]} among {self.names}")
        idx = [self.names.index(n) for n in names]
        return ProductBands(self.data[idx], self.valid, list(names), [self.units[i] for i in idx], self.grid,
                            [self.to_stored[i] for i in idx] if self.to_stored else [])


def read_band_file(path: Path, index: int = 1) -> tuple[np.ndarray, np.ndarray, Grid, str]:
    """Band ``index`` of one raster file whole: float32 stored values ``(H, W)``, its valid mask
    (the file's nodata or mask), its grid and its data type."""
    with open_raster(path) as src:
        arr, ok = read_bands(src, [index])
        crs = src.crs if src.crs else None
        tr = src.transform if crs is not None or not src.transform.is_identity else Affine.identity()
        return arr[0], ok, Grid(crs, tr, src.height, src.width), src.dtypes[index - 1]


def stack_on_grid(parts: list[tuple[str, np.ndarray, np.ndarray, Grid]], what: str) -> tuple[np.ndarray, np.ndarray, Grid]:
    """``(name, values, valid, grid)`` of bands that must share one grid → ``(C, H, W)``, the
    valid pixels of all, the grid; refused in one line naming the first band that differs."""
    grid = parts[0][3]
    for name, _, _, g in parts[1:]:
        if (g.height, g.width) != (grid.height, grid.width) or not _same_lattice(g, grid):
            raise BandbridgeError(f"{what}: band {name} is {g.height}×{g.width} on another grid than "
                                  f"{parts[0][0]} ({grid.height}×{grid.width}); give bands of one resolution")
    valid = np.logical_and.reduce([p[2] for p in parts])
    return np.stack([p[1] for p in parts]).astype(np.float32, copy=False), valid, grid


def _same_lattice(a: Grid, b: Grid) -> bool:
    ta, tb = a.transform, b.transform
    step = max(abs(tb.a), abs(tb.e), 1e-12)
    return a.crs == b.crs and all(abs(x - y) <= ALIGN_TOLERANCE * step for x, y in zip(ta[:6], tb[:6]))


def pan_ratio(pan: Grid, ms: Grid, what: str = "pan") -> int:
    """The whole-number ratio of a pan grid to its multispectral grid, refused in one line where
    the pan is not on the MS grid refined: another integer ratio per axis, another extent, or
    (georeferenced) a corner or pixel size off the MS lattice by more than
    :data:`ALIGN_TOLERANCE` of a pan pixel. Two plain images are taken to span one extent."""
    ry, rx = pan.height / ms.height, pan.width / ms.width
    if ry == rx and 0 < ry < 1 and 1 / ry == int(1 / ry):  # the MS on the pan's grid refined
        raise BandbridgeError(f"{what}: the pan is {pan.height}×{pan.width} and the MS {ms.height}×{ms.width}: the "
                              f"MS is the finer by {1 / ry:g}, so the two look swapped; give the pan first, the MS second")
    if ry != rx or ry != int(ry) or ry < 2:
        raise BandbridgeError(f"{what}: the pan is {pan.height}×{pan.width} and the MS {ms.height}×{ms.width}: "
                              "not one whole ratio of at least 2 on both axes; give a pan on the MS grid refined "
                              "(resample it with gdalwarp -tr onto the MS pixel corners)")
    r = int(ry)
    if pan.crs is None and ms.crs is None:  # two plain images: each spans the one extent
        return r
    if (pan.crs is None) != (ms.crs is None) or not _same_lattice(pan, Grid(ms.crs, ms.transform @ Affine.scale(1 / r),
                                                                           pan.height, pan.width)):
        raise BandbridgeError(f"{what}: the pan's grid is not the MS grid refined {r}× (corner or pixel size "
                              "differ, or one file is georeferenced and the other not); resample the pan onto "
                              "the MS pixel corners (gdalwarp -te/-tr) first")
    return r


def read_pan_ms(pan: str | Path, ms: str | Path) -> tuple[ProductBands, ProductBands, int]:
    """A pan + multispectral pair in stored units (DN): the pan ``(1, H, W)``, the MS
    ``(C, H/r, W/r)`` (bands named by the file's descriptions) and the ratio ``r``, the pan's
    grid checked to be the MS grid refined (:func:`pan_ratio`)."""
    p, ok, pg, _ = read_band_file(Path(pan))
    with open_raster(ms) as src:
        count, names = src.count, [d or f"BAND{i + 1}" for i, d in enumerate(src.descriptions)]
    bands = [read_band_file(Path(ms), i + 1) for i in range(count)]
    data, valid, mg = stack_on_grid([(n, b[0], b[1], b[2]) for n, b in zip(names, bands)], str(ms))
    r = pan_ratio(pg, mg, f"{pan}")
    same = [lambda v: v] * count
    return (ProductBands(p[None], ok, ["PAN"], ["DN"], pg, same[:1]),
            ProductBands(data, valid, names, ["DN"] * count, mg, same), r)


def check_aligned(grid: Grid, fine: Grid, k: float, path: str) -> None:
    """Refuse a reference at a whole-number ``k`` on the guides' own coordinate system whose cell
    edges fall off the guides' pixel edges (a pan and an MS on two lattices: each MS cell would
    average parts of pixels, and the output would be shifted by the offset)."""
    if grid.crs != fine.crs or abs(k - round(k)) > 1e-3:
        return
    col, row = ~fine.transform @ (grid.transform.c, grid.transform.f)
    off = max(abs(col - round(col)), abs(row - round(row)))
    if off > ALIGN_PX:
        raise BandbridgeError(f"--reference {path}: its pixel edges fall {off:.2f} guide pixels off the guides' "
                              f"(k = {round(k)}): a pan and its MS share pixel edges; resample one onto the other's "
                              "lattice first (gdalwarp -tap, or -te on the pan's edges)")
