"""Landsat 8/9 band folders read as they are: the OLI bands as reflectance and the TIRS bands as
temperature in kelvin, by the product's own metadata (the ``*_MTL.txt`` beside the bands).

- Level-1 (Collection 1 ``…_B10.TIF``, Collection 2 ``…_B10.TIF``): reflectance = DN ·
  ``REFLECTANCE_MULT_BAND_n`` + ``REFLECTANCE_ADD_BAND_n`` (no sun-angle correction, as
  ``bands.py``'s ``landsat_l1_toa``); B10/B11 brightness temperature K = K2 / ln(K1 / L + 1) with
  the radiance L = DN · ``RADIANCE_MULT_BAND_n`` + ``RADIANCE_ADD_BAND_n`` and ``K1/K2_CONSTANT_BAND_n``.
- Collection 2 Level-2 (``…_SR_B5.TIF``, ``…_ST_B10.TIF``): surface reflectance and surface
  temperature K = DN · mult + add, from the MTL's ``REFLECTANCE_*_BAND_n`` and
  ``TEMPERATURE_*_BAND_ST_B10``, else the file's own scale/offset, else the product guide's.

DN 0 is fill. Each band carries its inverse (``ProductBands.to_stored``), so a sharpened band is
written back in the product's stored values where it is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from bandbridge.data.formats import open_raster
from bandbridge.data.products import REFLECTANCE, TEMPERATURE, FileBand, ProductBands, read_band_file, stack_on_grid
from bandbridge.errors import BandbridgeError
from bandbridge.policy import LANDSAT_GUIDES_LEFT_OUT

THERMAL = ("B10", "B11")
# Collection 2 Level-2 scale factors (Landsat 8-9 C2 L2 Data Format Control Book, LSDS-1328),
# used only where neither the MTL nor the file states them
C2_SR = (2.75e-5, -0.2)
C2_ST = (0.00341802, 149.0)
# TIRS sees 100 m pixels, which the product resamples onto the OLI 30 m grid (cubic convolution): as a
# target, a thermal band on a 30 m grid is read averaged 3 × 3 (90 m, the whole multiple of 30 m nearest
# 100 m), so that the sharpener has a coarse band to sharpen and its output averages back to it
TIRS_CELL, OLI_PIXEL = 3, 30.0
_PRODUCT = re.compile(r"^L[COTEM]0\d_", re.IGNORECASE)  # Landsat product ids: LC08_…, LE07_…, LT05_…
_BAND = re.compile(r"_((?:SR_|ST_)?B\d{1,2})$", re.IGNORECASE)
_LINE = re.compile(r"^\s*([A-Z0-9_]+)\s*=\s*\"?([^\"]*)\"?\s*$")


def read_mtl(path: str | Path) -> dict[str, str]:
    """The ``KEY = VALUE`` pairs of a Landsat ``*_MTL.txt`` (either collection; groups flattened,
    quotes dropped)."""
    out = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if m and m.group(1) not in ("GROUP", "END_GROUP"):
            out[m.group(1)] = m.group(2).strip()
    return out


def _number(mtl: dict[str, str], key: str, where: Path) -> float:
    try:
        return float(mtl[key])
    except KeyError:
        raise BandbridgeError(f"{where}: the MTL has no {key}; give the product's own *_MTL.txt "
                              "(the one downloaded with its bands)") from None
    except ValueError:
        raise BandbridgeError(f"{where}: {key} = {mtl[key]!r} is not a number; the MTL is damaged") from None


@dataclass(frozen=True)
class LandsatBand:
    """One band file and the affine map of its DN to physical units; a thermal Level-1 band adds
    Planck's inversion with ``k1``/``k2``."""

    name: str  # B4, B10, SR_B5, ST_B10
    path: Path
    mult: float
    add: float
    k1: float | None = None
    k2: float | None = None

    @property
    def units(self) -> str:
        if self.name.upper().startswith("ST_"):
            return "surface temperature (K)"
        if self.k1 is not None:
            return "brightness temperature (K)"
        return "surface reflectance" if self.name.upper().startswith("SR_") else "TOA reflectance"

    def physical(self, dn: np.ndarray) -> np.ndarray:
        """Stored DN → reflectance or kelvin (float32)."""
        v = dn.astype(np.float64) * self.mult + self.add
        if self.k1 is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = self.k2 / np.log(self.k1 / v + 1.0)
        return v.astype(np.float32)

    def stored(self, values: np.ndarray) -> np.ndarray:
        """Reflectance or kelvin → DN (float32, unrounded): :meth:`physical`'s inverse."""
        v = values.astype(np.float64)
        if self.k1 is not None:
            v = self.k1 / np.expm1(self.k2 / v)
        return ((v - self.add) / self.mult).astype(np.float32)


def band_paths(folder: Path) -> dict[str, Path]:
    """``{band: file}`` of a Landsat band folder by the products' suffixes (``…_B10.TIF``,
    ``…_SR_B5.TIF``, ``…_ST_B10.TIF``); the QA bands and overviews are not bands."""
    out = {}
    for p in sorted(folder.iterdir()):
        m = _BAND.search(p.stem) if p.suffix.lower() in (".tif", ".tiff") else None
        if m:
            out[m.group(1).upper()] = p
    return dict(sorted(out.items(), key=lambda kv: (kv[0].rsplit("B", 1)[0], int(kv[0].rsplit("B", 1)[1]))))  # B2 … B11


def landsat_bands(folder: str | Path) -> dict[str, LandsatBand]:
    """Every band of a Landsat 8/9 folder with its conversion from the MTL (see the module)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BandbridgeError(f"{folder}: not a folder; give the Landsat product's folder (its *_B*.TIF and *_MTL.txt)")
    paths = band_paths(folder)
    if not paths:
        raise BandbridgeError(f"{folder}: no Landsat band files (…_B4.TIF, …_SR_B4.TIF, …_ST_B10.TIF)")
    found = sorted(folder.glob("*_MTL.txt")) + sorted(folder.glob("*_MTL.TXT"))
    if not found:
        raise BandbridgeError(f"{folder}: no *_MTL.txt beside the bands; a Landsat band's DN become "
                              "reflectance or kelvin only by its MTL: copy it from the product")
    mtl_path = found[0]
    mtl = read_mtl(mtl_path)
    out = {}
    for name, p in paths.items():
        n = name.split("_")[-1][1:]
        if name.startswith("ST_"):
            out[name] = LandsatBand(name, p, *_level2(mtl, "TEMPERATURE", name, p, C2_ST))
        elif name.startswith("SR_"):
            out[name] = LandsatBand(name, p, *_level2(mtl, "REFLECTANCE", n, p, C2_SR))
        else:
            keys = ("RADIANCE_MULT", "RADIANCE_ADD", "K1_CONSTANT", "K2_CONSTANT") if name in THERMAL \
                else ("REFLECTANCE_MULT", "REFLECTANCE_ADD")
            out[name] = LandsatBand(name, p, *(_number(mtl, f"{k}_BAND_{n}", mtl_path) for k in keys))
    return out


def _level2(mtl: dict[str, str], kind: str, band: str, p: Path, default: tuple[float, float]) -> tuple[float, float]:
    """A Level-2 band's scale: the MTL's ``{kind}_MULT/ADD_BAND_{band}``, else the file's GDAL
    scale/offset, else the guide's."""
    mult_key, add_key = f"{kind}_MULT_BAND_{band}", f"{kind}_ADD_BAND_{band}"
    if mult_key in mtl and add_key in mtl:
        return float(mtl[mult_key]), float(mtl[add_key])
    with open_raster(p) as src:
        scale, offset = src.scales[0], src.offsets[0]
    return (scale, offset) if (scale, offset) != (1.0, 0.0) else default


def read_landsat(folder: str | Path, bands: Sequence[str] | None = None) -> ProductBands:
    """``bands`` of a Landsat 8/9 folder (all but the panchromatic B8 when None) on their one
    grid, in reflectance and kelvin; DN 0 (fill) invalid. Refused in one line: no MTL, a key it
    lacks, a band not in the folder, bands on different grids (B8 with the others)."""
    table = landsat_bands(folder)
    names = [str(b).upper() for b in bands] if bands else [n for n in table if n != "B8"]
    missing = [n for n in names if n not in table]
    if missing:
        raise BandbridgeError(f"{folder}: no band {missing[0]} among {sorted(table)}")
    parts = []
    for n in names:
        dn, ok, grid, _ = read_band_file(table[n].path)
        ok = ok & (dn != 0)
        parts.append((n, np.where(ok, table[n].physical(dn), np.float32(0)), ok, grid))
    data, valid, grid = stack_on_grid(parts, str(folder))
    data[:, ~valid] = 0
    return ProductBands(data, valid, names, [table[n].units for n in names], grid,
                        [table[n].stored for n in names])


def is_landsat(path: str | Path) -> bool:
    """Whether ``path`` is a Landsat band folder: a ``*_MTL.txt`` in it, or band files named as the
    products name them (``LC08_…_B10.TIF``), with or without their MTL (:func:`product_bands` asks for it)."""
    p = Path(path)
    if not p.is_dir():
        return False
    return bool(list(p.glob("*_MTL.[tT][xX][tT]"))) or any(_PRODUCT.match(q.name) for q in band_paths(p).values())


def product_bands(folder: str | Path) -> list[FileBand]:
    """Every band of a Landsat folder (the pan B8 too) as ``sharpen`` reads it: the OLI bands
    reflectance by the MTL's linear map, B10/B11 brightness temperature in K by Planck's law,
    ``ST_B10`` surface temperature in K by its scale; a thermal band on the 30 m OLI grid averaged
    :data:`TIRS_CELL` × :data:`TIRS_CELL` as a target."""
    out = []
    for name, b in landsat_bands(folder).items():
        hot = b.k1 is not None or name.startswith("ST_")
        with open_raster(b.path) as src:
            cell = TIRS_CELL if hot and src.crs is not None and abs(abs(src.transform.a) - OLI_PIXEL) < 0.5 else 1
        out.append(FileBand(b.path, 1, name, TEMPERATURE if hot else REFLECTANCE, "K" if hot else "reflectance",
                            None if b.k1 is not None else (b.mult, b.add), b.physical if b.k1 is not None else None,
                            cell))
    return out


def default_guides(bands: list[FileBand]) -> list[FileBand]:
    """A Landsat folder's guides where ``--guides`` names none: its reflectance bands but the pan and
    cirrus (``policy.LANDSAT_GUIDES_LEFT_OUT``)."""
    return [b for b in bands if b.kind == REFLECTANCE and b.name.split("_")[-1] not in LANDSAT_GUIDES_LEFT_OUT]


def default_targets(bands: list[FileBand]) -> list[FileBand]:
    """A Landsat folder's targets where ``--bands`` names none: its thermal bands."""
    return [b for b in bands if b.kind == TEMPERATURE]
