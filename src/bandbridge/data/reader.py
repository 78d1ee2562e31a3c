"""The one raster reader: every file the tool touches comes through :func:`read_raster`.

Supported: GeoTIFF/COG and plain TIFF, PNG, JPEG, GIF (all through rasterio/GDAL; 8/16-bit, gray,
gray + alpha, RGB(A), palette images expanded to RGB, CMYK JPEG converted to RGB by GDAL), ``.npy`` arrays (``(C,H,W)`` or ``(H,W,C)``; 4-D stacks addressed as ``file.npy[k]``), and a
*folder of single-band files* (``B02.tif, B03.tif, ...``) read as one multi-band raster, and
one time step of a NetCDF/Zarr datacube (``cube.nc@2018-05-01``; see :mod:`bandbridge.data.cube`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from rasterio.errors import NodataShadowWarning, NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from bandbridge.bands import FOLDER_BANDS, SENSOR_BANDS, Scaling, band_role, canonical_band_name
from bandbridge.data import cube
from bandbridge.errors import BandbridgeError

LANDSAT_QA_CLEAR_BIT = 6  # QA_PIXEL bit 6 "clear": no fill, cloud, cloud shadow, snow or cirrus
RASTER_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".gif", ".npy", ".jp2", ".vrt"}
_NPY_INDEX = re.compile(r"^(.*\.npy)\[(\d+)\]$")
BandSpec = Sequence[str | int] | None


@dataclass
class Raster:
    """What the reader returns.

    data: float32 ``(C, H, W)`` model values (already scaled); mask: bool ``(H, W)``, True = valid;
    bands: the names of the C bands; crs/transform: georeference or None.
    """

    data: np.ndarray
    mask: np.ndarray
    bands: list[str]
    crs: object | None = None
    transform: object | None = None
    path: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape[1], self.data.shape[2]


@dataclass
class RasterInfo:
    """Header of a raster without its pixels: size, band names, georeference."""

    height: int
    width: int
    bands: list[str]
    crs: object | None
    transform: object | None
    nodata: float | None
    dtype: str
    descriptions: tuple = ()  # the file's own band descriptions (None where unset)
    colorinterp: tuple = ()  # colour interpretation names ('red', 'alpha', 'undefined', …)
    driver: str = ""
    scales: tuple = ()  # GDAL scale and offset per band (physical = stored × scale + offset)
    offsets: tuple = ()


def _split_npy(path: str) -> tuple[Path, int | None]:
    m = _NPY_INDEX.match(str(path))
    return (Path(m.group(1)), int(m.group(2))) if m else (Path(path), None)


def _band_files(folder: Path, sensor: str | None = None) -> dict[str, Path]:
    """{band name: file} of a band folder: the file stem (``B02.tif``), or for a sensor of
    :data:`FOLDER_BANDS` the band its file-name suffix names (``LC08_…_B5.TIF`` → NIR)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".tif", ".tiff", ".jp2"})
    if sensor and sensor not in FOLDER_BANDS and sensor not in SENSOR_BANDS:
        raise BandbridgeError(f"unknown sensor '{sensor}'; known: "
                              f"{sorted({*SENSOR_BANDS, *FOLDER_BANDS})}")
    table = FOLDER_BANDS.get(sensor or "", {})
    out = {}
    for p in files:
        suffix = p.stem.upper().rsplit("_", 1)[-1]
        out[canonical_band_name(table.get(suffix, p.stem))] = p
    return out


def _default_names(count: int, descriptions, colorinterp, sensor: str | None) -> list[str]:
    if sensor:
        if sensor not in SENSOR_BANDS:
            raise BandbridgeError(f"unknown sensor '{sensor}'; known: {sorted(SENSOR_BANDS)}")
        names = SENSOR_BANDS[sensor]
        if len(names) != count:
            raise BandbridgeError(
                f"sensor '{sensor}' has {len(names)} bands but the file has {count}; "
                "set band_names explicitly")
        return list(names)
    if descriptions and all(descriptions):
        return [canonical_band_name(d) for d in descriptions]
    ci = [c.name if hasattr(c, "name") else str(c) for c in (colorinterp or [])]
    if count == 1:
        return ["GRAY"]
    if ci[:3] == ["red", "green", "blue"] and count in (3, 4):
        return ["RED", "GREEN", "BLUE"] + (["BAND4"] if count == 4 else [])
    return [f"BAND{i + 1}" for i in range(count)]


def raster_info(path: str | Path, band_names: Sequence[str] | None = None,
                sensor: str | None = None, bands: BandSpec = None) -> RasterInfo:
    """Read the header of ``path`` (file, ``file.npy[k]``, band folder or cube reference). For a
    band folder the size and georeference are those of the first of ``bands`` (folders mix
    resolutions). A cube names its own bands (``sensor`` is not needed); ``band_names`` renames."""
    if cube.is_cube(path):
        ci = cube.cube_info(path)
        names = ci.bands
        if band_names:
            if len(band_names) != len(names):
                raise BandbridgeError(f"{path}: band_names lists {len(band_names)} names but the "
                                      f"cube has {len(names)} bands {names}")
            names = [canonical_band_name(n) for n in band_names]
        return RasterInfo(ci.height, ci.width, names, ci.crs, ci.transform, None, ci.dtype)
    p, idx = _split_npy(str(path))
    if not p.exists():
        raise BandbridgeError(f"{p}: file not found; check the path (or --data root)")
    if p.is_dir():
        files = _band_files(p, sensor)
        if not files:
            raise BandbridgeError(f"{p}: folder holds no .tif band files")
        names = list(files)
        first = files[names[select_bands(names, bands, p)[0]]] if bands else next(iter(files.values()))
        with open_raster(first) as src:
            return RasterInfo(src.height, src.width, list(files), _crs(src), _tr(src),
                              src.nodata, src.dtypes[0])
    if p.suffix.lower() == ".npy":
        arr = _load_npy(p, idx)
        c, h, w = arr.shape
        names = list(band_names) if band_names else _default_names(c, None, None, sensor)
        return RasterInfo(h, w, [canonical_band_name(n) for n in names], None, None, None,
                          str(arr.dtype))
    with open_raster(p) as src:
        count, desc, ci = src.count, src.descriptions, src.colorinterp
        if _palette(src) is not None:  # one index band → the palette's R, G, B
            count, desc, ci = 3, (None,) * 3, ("red", "green", "blue")
        names = (list(band_names) if band_names else _default_names(count, desc, ci, sensor))
        if len(names) != count:
            raise BandbridgeError(f"{p}: band_names lists {len(names)} names but the file has "
                                  f"{count} bands")
        return RasterInfo(src.height, src.width, [canonical_band_name(n) for n in names],
                          _crs(src), _tr(src), src.nodata, src.dtypes[0], tuple(desc),
                          tuple(c.name if hasattr(c, "name") else str(c) for c in ci), src.driver,
                          tuple(src.scales), tuple(src.offsets))


def open_raster(p: str | Path):
    """``rasterio.open`` for reading, quiet about missing georeference (plain images have none),
    refusing what is no raster or holds complex values, with one message naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(p)
    except RasterioIOError as e:
        raise BandbridgeError(f"{p}: cannot read this file as a raster ({e}); it is no GeoTIFF, "
                              "PNG, JPEG or .npy, or it is truncated or corrupt") from None
    if any(np.dtype(d).kind == "c" for d in src.dtypes):
        src.close()
        raise BandbridgeError(f"{p}: complex values ({src.dtypes[0]}) are not imagery this tool "
                              "reads; convert to amplitude or dB first (e.g. gdal_calc.py)")
    return src


def _palette(src) -> np.ndarray | None:
    """``(N, 4)`` uint8 lookup table of a one-band palette image (PNG/GIF/TIFF), else None."""
    if src.count != 1 or src.colorinterp[0].name != "palette":
        return None
    try:
        cmap = src.colormap(1)
    except ValueError:
        return None
    lut = np.zeros((max(cmap) + 1, 4), np.uint8)
    for k, v in cmap.items():
        lut[k] = v
    return lut


def _read_bands(src, indexes: list[int], **kw) -> tuple[np.ndarray, np.ndarray]:
    """``(float32 (C, h, w) values, bool (h, w) valid)`` of 1-based ``indexes`` (``window=`` or
    ``out_shape=``/``resampling=`` as rasterio takes them). A palette image is expanded to R, G, B
    (indexes 1–3), its transparent entries invalid. Unreadable pixels (a truncated or corrupt
    file) are refused with the file's name."""
    lut = _palette(src)
    shape = kw.pop("out_shape", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NodataShadowWarning)  # nodata rules; we say so in docs
            if lut is not None:
                idx = src.read(1, out_shape=shape[1:] if shape else None, **kw)
                rgba = lut[np.minimum(idx, len(lut) - 1)]
                arr = np.moveaxis(rgba[..., [i - 1 for i in indexes]], -1, 0).astype(np.float32)
                return arr, rgba[..., 3] > 0
            arr = src.read(indexes, out_dtype="float32",
                           out_shape=(len(indexes), *shape[1:]) if shape else None, **kw)
            valid = _valid_from_values(src, indexes, arr)
            if valid is not None:  # no second pass over the blocks (a third of a large read)
                return arr, valid
            masks = src.read_masks(indexes, out_shape=(len(indexes), *shape[1:]) if shape else None,
                                   **kw)
    except RasterioIOError as e:
        why = str(e.__cause__ or e).splitlines()[0] if str(e.__cause__ or e) else "read failed"
        raise BandbridgeError(f"{src.name}: cannot read its pixels ({why}); the file is truncated "
                              "or corrupt: copy or download it again") from None
    return arr, (masks != 0).all(0)


def _valid_from_values(src, indexes: list[int], arr: np.ndarray) -> np.ndarray | None:
    """The valid mask computed from the values read, where GDAL's mask is a function of them:
    every band all-valid, or every band masked by the nodata value alone. None otherwise (per-
    dataset masks, alpha bands): then GDAL reads its masks."""
    from rasterio.enums import MaskFlags
    flags = [src.mask_flag_enums[i - 1] for i in indexes]
    if all(list(f) == [MaskFlags.all_valid] for f in flags):
        return np.ones(arr.shape[1:], bool)
    if src.nodata is not None and all(list(f) == [MaskFlags.nodata] for f in flags):
        nd = np.float32(src.nodata)
        return ~(np.isnan(arr) if np.isnan(nd) else arr == nd).any(0)
    return None


def _crs(src):
    return src.crs if src.crs else None


def _tr(src):
    return src.transform if src.crs or not src.transform.is_identity else None


def _load_npy(p: Path, idx: int | None) -> np.ndarray:
    """Return a ``(C, H, W)`` view of a .npy file (4-D stacks need ``[k]``)."""
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise BandbridgeError(f"{p}: not a readable .npy array ({e})") from None
    if arr.ndim == 4:
        if idx is None:
            raise BandbridgeError(f"{p}: a 4-D array {arr.shape}; address one scene as "
                                  f"'{p.name}[k]' with k < {arr.shape[0]}")
        if idx >= arr.shape[0]:
            raise BandbridgeError(f"{p}: scene index {idx} out of range ({arr.shape[0]} scenes)")
        arr = arr[idx]
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise BandbridgeError(f"{p}: expected a 2-D, 3-D or 4-D array, got shape {arr.shape}")
    # Channels-last when the last axis is short and the first is not.
    if arr.shape[-1] <= 32 < arr.shape[0]:
        arr = np.moveaxis(arr, -1, 0)
    return arr


def select_bands(names: list[str], bands: BandSpec, p) -> list[int]:
    """0-based indexes in ``names`` of the ``bands`` asked (index, name or role); all when none."""
    if bands is None:
        return list(range(len(names)))
    out = []
    for b in bands:
        if isinstance(b, int) or (isinstance(b, str) and b.isdigit()):
            i = int(b)
            if not 0 <= i < len(names):
                raise BandbridgeError(f"{p}: band index {i} out of range; the file has "
                                      f"{len(names)} bands {names} (indices are 0-based)")
            out.append(i)
            continue
        key = canonical_band_name(b)
        if names == ["GRAY"] and key in ("RED", "GREEN", "BLUE"):
            out.append(0)  # a grayscale image read as RGB: replicate its one band
            continue
        if key in names:
            out.append(names.index(key))
            continue
        # Another product's name for the same band ('B04' asked, 'RED' or 'B04 red' found): by role.
        role = band_role(key)
        same = [i for i, n in enumerate(names) if role != "other" and band_role(n) == role]
        if len(same) != 1:
            raise BandbridgeError(f"{p}: no band named '{b}'" + (f" (role {role})" if role != "other" else "")
                                  + f"; the file has {names}. Use a 0-based index, or set "
                                  "'sensor'/'band_names' on the source")
        out.append(same[0])
    return out


def read_raster(path: str | Path, scaling: Scaling, bands: BandSpec = None,
                window: tuple[int, int, int, int] | None = None,
                band_names: Sequence[str] | None = None, sensor: str | None = None) -> Raster:
    """Read ``bands`` of ``path`` scaled to model values.

    window: ``(row, col, height, width)`` in pixels; may extend past the edges (boundless):
    pixels outside the raster are 0 and masked. Returns a :class:`Raster`.
    """
    info = raster_info(path, band_names, sensor, bands)
    sel = select_bands(info.bands, bands, path)
    r0, c0, h, w = window if window else (0, 0, info.height, info.width)
    p, idx = _split_npy(str(path))
    raw = np.zeros((len(sel), h, w), np.float32)
    valid = np.zeros((h, w), bool)
    # Intersection of the window with the raster extent.
    ra, rb = max(r0, 0), min(r0 + h, info.height)
    ca, cb = max(c0, 0), min(c0 + w, info.width)
    transform = info.transform
    if cube.is_cube(path):
        raw, valid = cube.read_cube(path, sel, (r0, c0, h, w))
    elif rb > ra and cb > ca:
        inner = (slice(ra - r0, rb - r0), slice(ca - c0, cb - c0))
        valid[inner] = True
        if p.is_dir():
            files = _band_files(p, sensor)
            for k, i in enumerate(sel):
                with open_raster(files[info.bands[i]]) as src:
                    if (src.height, src.width) != (info.height, info.width):
                        raise BandbridgeError(
                            f"{files[info.bands[i]]}: {src.height}×{src.width} differs from "
                            f"{info.height}×{info.width}; select bands of one resolution")
                    raw[k][inner] = _read_masked(src, [1], ra, ca, rb - ra, cb - ca, valid, inner)[0]
            qa = files.get("QA_PIXEL") if sensor == "landsat8" else None
            if qa is not None:  # Landsat Collection 2: only pixels the QA band calls clear
                with open_raster(qa) as src:
                    bits = src.read(1, window=Window(ca, ra, cb - ca, rb - ra)).astype(np.uint32)
                valid[inner] &= (bits >> LANDSAT_QA_CLEAR_BIT) & 1 == 1
        elif p.suffix.lower() == ".npy":
            arr = _load_npy(p, idx)
            raw[(slice(None), *inner)] = arr[sel, ra:rb, ca:cb]
        else:
            with open_raster(p) as src:
                if (ra, rb, ca, cb) == (r0, r0 + h, c0, c0 + w):  # inside: read straight into raw
                    raw = _read_masked(src, [i + 1 for i in sel], ra, ca, h, w, valid, inner)
                else:
                    raw[(slice(None), *inner)] = _read_masked(
                        src, [i + 1 for i in sel], ra, ca, rb - ra, cb - ca, valid, inner)
    if transform is not None and window is not None:
        transform = transform @ transform.translation(c0, r0)
    valid &= np.isfinite(raw).all(0)
    if scaling.zero_is_nodata:
        valid &= (raw != 0).any(0)
    raw[:, ~valid] = 0.0  # NaN and nodata out before scaling, in place (strips can be large)
    data = scaling.encode(raw, out=raw)
    data[:, ~valid] = 0.0
    return Raster(data, valid, [info.bands[i] for i in sel], info.crs, transform, str(path),
                  {"height": info.height, "width": info.width, "nodata": info.nodata,
                   "dtype": info.dtype})


def _read_masked(src, indexes, r, c, h, w, valid, inner) -> np.ndarray:
    """Read a window; pixels equal to nodata (or masked by the file) clear ``valid[inner]``."""
    arr, ok = _read_bands(src, indexes, window=Window(c, r, w, h))
    valid[inner] &= ok
    return arr


def read_decimated(path: str | Path, scaling: Scaling, bands: BandSpec = None,
                   max_side: int = 1024, band_names: Sequence[str] | None = None,
                   sensor: str | None = None) -> Raster:
    """The whole raster at most ``max_side`` pixels a side: one look at a whole image, for
    per-image statistics, in bounded memory — from an overview when the file has them (nearest
    neighbour), else every k-th pixel of every k-th row. Files smaller than that are read whole;
    ``.npy`` and band folders are read and strided."""
    info = raster_info(path, band_names, sensor, bands)
    k = max(1, -(-max(info.height, info.width) // max_side))
    p, _ = _split_npy(str(path))
    if k == 1 or cube.is_cube(path) or p.is_dir() or p.suffix.lower() == ".npy":
        r = read_raster(path, scaling, bands, band_names=band_names, sensor=sensor)
        r.data, r.mask = r.data[:, ::k, ::k], r.mask[::k, ::k]
        return r
    sel = select_bands(info.bands, bands, path)
    idx = [i + 1 for i in sel]
    with open_raster(p) as src:
        if src.overviews(idx[0]):  # a COG: GDAL reads the nearest overview, a fraction of the file
            from rasterio.enums import Resampling
            raw, valid = _read_bands(src, idx, out_shape=(len(idx), -(-info.height // k), -(-info.width // k)),
                                     resampling=Resampling.nearest)
        else:
            # Row chunks of a few MPix, a multiple of k high, each read once at full resolution
            # and strided: every block is decoded once (values and mask while it is in GDAL's
            # cache), and neither the cache nor the chunk grows with the raster.
            step = max(k, min(512, 4_000_000 // info.width) // k * k)
            raws, valids = [], []
            for r0 in range(0, info.height, step):
                chunk, ok = _read_bands(src, idx, window=Window(0, r0, info.width,
                                                                min(step, info.height - r0)))
                raws.append(chunk[:, ::k, ::k].copy())
                valids.append(ok[::k, ::k])
            raw, valid = np.concatenate(raws, 1), np.concatenate(valids, 0)
    valid &= np.isfinite(raw).all(0)
    if scaling.zero_is_nodata:
        valid &= (raw != 0).any(0)
    raw[:, ~valid] = 0.0
    data = scaling.encode(raw, out=raw)
    data[:, ~valid] = 0.0
    return Raster(data, valid, [info.bands[i] for i in sel], info.crs, None, str(path),
                  {"height": info.height, "width": info.width, "decimation": k})
