"""Output rasters: profile derived from the input's, value encoding, atomic write-and-rename."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from bandbridge.bands import get_scaling
from bandbridge.config import BandSel
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import temp_beside

DTYPES = ("auto", "float32", "uint16", "uint8")
_FACTOR = {"uint16": 10000.0, "uint8": 255.0}


def resolve_dtype(dtype: str, target: BandSel) -> str:
    """'auto' → the target's stored type: uint8 for 8-bit, uint16 (×10000) for reflectance DN,
    float32 otherwise."""
    if dtype not in DTYPES:
        raise BandbridgeError(f"unknown dtype '{dtype}'; choose one of {DTYPES}")
    if dtype != "auto":
        return dtype
    return {"uint8": "uint8", "reflectance_10000": "uint16"}.get(target.scaling, "float32")


def encode(values: np.ndarray, valid: np.ndarray, dtype: str) -> np.ndarray:
    """Model values ``(C, h, w)`` in [0, 1] → stored values. float32 keeps model values
    (reflectance for reflectance scalings) with NaN as nodata; integer types scale by 10000
    (uint16) or 255 (uint8) and keep 0 for nodata (valid pixels are at least 1)."""
    if dtype == "float32":
        out = values.astype(np.float32, copy=True)
        out[:, ~valid] = np.nan
        return out
    f = _FACTOR[dtype]
    out = np.clip(np.rint(values * f), 1, np.iinfo(dtype).max).astype(dtype)
    out[:, ~valid] = 0
    return out


def decode(stored: np.ndarray, dtype: str) -> np.ndarray:
    """Inverse of :func:`encode`: stored values → float32 model values (nodata → NaN)."""
    if dtype == "float32":
        return stored.astype(np.float32)
    out = stored.astype(np.float32) / _FACTOR[dtype]
    out[stored == 0] = np.nan
    return out


def physical_note(target: BandSel, dtype: str) -> str:
    s = get_scaling(target.scaling, target.vmin, target.vmax)
    unit = "reflectance" if s.name.startswith("reflectance") else f"model units ({s.units})"
    return {"float32": unit, "uint16": f"{unit} × 10000", "uint8": f"{unit} × 255"}[dtype]


def output_profile(crs, transform, height: int, width: int, count: int, dtype: str,
                   scale: int = 1) -> dict:
    """GeoTIFF profile: the input's CRS, its transform scaled for super-resolution, tiled and
    compressed, nodata set."""
    if transform is not None and scale > 1:
        transform = transform @ Affine.scale(1 / scale)
    prof = {"driver": "GTiff", "height": height, "width": width, "count": count, "dtype": dtype,
            "nodata": float("nan") if dtype == "float32" else 0, "compress": "deflate",
            "predictor": 3 if dtype == "float32" else 2, "BIGTIFF": "IF_SAFER"}
    if crs is not None or transform is not None:  # none for plain images: no warning, no fake one
        prof.update(crs=crs, transform=transform or Affine.identity())
    if height >= 256 and width >= 256:
        prof.update(tiled=True, blockxsize=256, blockysize=256)
    return prof


def open_output(path: Path, profile: dict):
    """``rasterio.open(path, "w", **profile)``, quiet when there is no georeference to keep."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path, "w", **profile)


def tag_bands(dst, roles: list[str]) -> None:
    """Colour interpretation from band roles: red/green/blue/gray where known, undefined for every
    other band (a synthetic NIR beside RGB is data, never Alpha)."""
    from rasterio.enums import ColorInterp
    known = {"red": ColorInterp.red, "green": ColorInterp.green, "blue": ColorInterp.blue,
             "gray": ColorInterp.gray}
    dst.colorinterp = [known.get(r, ColorInterp.undefined) for r in roles]


def to_cog(path: Path) -> None:
    """Rewrite a GeoTIFF in place as a Cloud-Optimized GeoTIFF (GDAL's COG driver)."""
    from rasterio.shutil import copy as rio_copy
    tmp = temp_beside(path)
    try:
        with rasterio.open(path) as src:
            pred = 3 if src.dtypes[0] == "float32" else 2
        rio_copy(path, tmp, driver="COG", compress="DEFLATE", predictor=pred)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
