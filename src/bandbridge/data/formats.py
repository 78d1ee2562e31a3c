"""The file formats the reader knows, one small reader each (:data:`READERS`): GDAL's (GeoTIFF,
PNG, JPEG, GIF, VRT, …, palette images expanded to RGB), ``.npy`` arrays and folders of
single-band files. Each fills a window of values and clears the valid mask where the file masks a
pixel; ``reader.py`` checks, scales and returns them (a datacube reads itself: ``cube.py``)."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import NodataShadowWarning, NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from bandbridge.bands import FOLDER_BANDS, SENSOR_BANDS, canonical_band_name, clear
from bandbridge.data.reads import check_open
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_regular

_NPY_INDEX = re.compile(r"^(.*\.npy)\[(\d+)\]$")


def split_npy(path: str) -> tuple[Path, int | None]:
    m = _NPY_INDEX.match(str(path))
    return (Path(m.group(1)), int(m.group(2))) if m else (Path(path), None)


def band_files(folder: Path, sensor: str | None = None) -> dict[str, Path]:
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


def stated_bits(src, index: int = 1) -> int | None:
    """The bit depth band ``index`` of the open raster ``src`` states (GDAL's ``NBITS``: an 11-bit
    WorldView-2 written with ``NBITS=11``), or None where it states none."""
    try:
        n = int(src.tags(index, ns="IMAGE_STRUCTURE").get("NBITS", 0))
    except (ValueError, TypeError):
        return None
    return n or None


def open_raster(p: str | Path):
    """``rasterio.open`` for reading, quiet about missing georeference (plain images have none),
    refusing what is no raster or holds complex values, with one message naming the file (a
    folder, pipe, socket or device before it is opened: GDAL would wait on a pipe for ever; a VRT
    naming a source bandbridge never hands GDAL, ``reads.check_open``)."""
    check_regular(p, what="raster")
    check_open(p)  # a VRT's sources, at any depth, before GDAL reads one (data/reads.py)
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


def palette(src) -> np.ndarray | None:
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


def read_bands(src, indexes: list[int], stride: int = 1, per_band: bool = False,
               **kw) -> tuple[np.ndarray, np.ndarray]:
    """``(float32 (C, h, w) values, bool (h, w) valid)`` of 1-based ``indexes`` (``window=`` or
    ``out_shape=``/``resampling=`` as rasterio takes them); with ``stride`` k only every k-th
    pixel of every k-th row, read in the file's own type and converted after the cut (a
    decimated look converts and tests 1/k² of what it decodes); with ``per_band`` the valid mask
    is each band's ``(C, h, w)``. A palette image is expanded to R, G, B (indexes 1–3), its
    transparent entries invalid. Unreadable pixels (a truncated or
    corrupt file) are refused with the file's name."""
    lut = palette(src)
    shape = kw.pop("out_shape", None)
    cut = (slice(None), slice(None, None, stride), slice(None, None, stride))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NodataShadowWarning)  # nodata rules; we say so in docs
            if lut is not None:
                idx = src.read(1, out_shape=shape[1:] if shape else None, **kw)[cut[1:]]
                rgba = lut[np.minimum(idx, len(lut) - 1)]
                arr = np.moveaxis(rgba[..., [i - 1 for i in indexes]], -1, 0).astype(np.float32)
                ok = rgba[..., 3] > 0
                return arr, np.broadcast_to(ok, arr.shape) if per_band else ok
            arr = src.read(indexes, out_dtype="float32" if stride == 1 else None,
                           out_shape=(len(indexes), *shape[1:]) if shape else None, **kw)[cut]
            valid = _valid_from_values(src, indexes, arr, per_band)
            # a strided cut is a view of the whole chunk read: a copy, or a decimated look keeps every chunk
            arr = arr.astype(np.float32, copy=stride > 1)
            if valid is not None:  # no second pass over the blocks (a third of a large read)
                return arr, valid
            masks = src.read_masks(indexes, out_shape=(len(indexes), *shape[1:]) if shape else None,
                                   **kw)[cut]
    except RasterioIOError as e:
        why = str(e.__cause__ or e).splitlines()[0] if str(e.__cause__ or e) else "read failed"
        raise BandbridgeError(f"{src.name}: cannot read its pixels ({why}); the file is truncated "
                              "or corrupt: copy or download it again") from None
    return arr, (masks != 0) if per_band else (masks != 0).all(0)


def _valid_from_values(src, indexes: list[int], arr: np.ndarray, per_band: bool = False) -> np.ndarray | None:
    """The valid mask (``(h, w)``, or ``(C, h, w)`` with ``per_band``) computed from the values
    read, where GDAL's mask is a function of them: every band all-valid, or every band masked by
    the nodata value alone. None otherwise (per-dataset masks, alpha bands): then GDAL reads its
    masks."""
    flags = [src.mask_flag_enums[i - 1] for i in indexes]
    if all(list(f) == [MaskFlags.all_valid] for f in flags):
        return np.ones(arr.shape if per_band else arr.shape[1:], bool)
    if src.nodata is not None and all(list(f) == [MaskFlags.nodata] for f in flags):
        nd = np.float32(src.nodata)
        bad = np.isnan(arr) if np.isnan(nd) else arr == nd
        return ~bad if per_band else ~bad.any(0)
    return None


def load_npy(p: Path, idx: int | None) -> np.ndarray:
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


def _read_masked(src, indexes, r, c, h, w, valid, inner) -> np.ndarray:
    """Read a window; pixels equal to nodata (or masked by the file) clear ``valid[inner]``."""
    arr, ok = read_bands(src, indexes, window=Window(c, r, w, h))
    valid[inner] &= ok
    return arr


@dataclass(frozen=True)
class ReadWindow:
    """What a format's reader reads: ``window`` (row, col, height, width) of the file, of which
    rows ``ra:rb`` and columns ``ca:cb`` lie inside it, at ``inner`` of the window's arrays."""

    p: Path
    idx: int | None  # a 4-D .npy stack's scene
    names: list[str]  # the file's bands
    size: tuple[int, int]  # its rows and columns
    sel: list[int]  # 0-based bands
    sensor: str | None
    window: tuple[int, int, int, int]
    clip: tuple[int, int, int, int]  # ra, rb, ca, cb
    inner: tuple[slice, slice]


def _read_folder(w: ReadWindow, raw: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A band folder (``B04.tif``, …): one file per band, Landsat's QA band clearing cloud."""
    ra, rb, ca, cb = w.clip
    files = band_files(w.p, w.sensor)
    for k, i in enumerate(w.sel):
        with open_raster(files[w.names[i]]) as src:
            if (src.height, src.width) != w.size:
                raise BandbridgeError(
                    f"{files[w.names[i]]}: {src.height}×{src.width} differs from "
                    f"{w.size[0]}×{w.size[1]}; select bands of one resolution")
            raw[k][w.inner] = _read_masked(src, [1], ra, ca, rb - ra, cb - ca, valid, w.inner)[0]
    qa = files.get("QA_PIXEL") if w.sensor == "landsat8" else None
    if qa is not None:  # Landsat Collection 2: only pixels the QA band calls clear, by the one rule
        with open_raster(qa) as src:  # every Landsat mask is read by (bands.clear: no fill, cloud, shadow)
            bits = src.read(1, window=Window(ca, ra, cb - ca, rb - ra))
        valid[w.inner] &= clear(bits, "QA_PIXEL")
    return raw


def _read_npy(w: ReadWindow, raw: np.ndarray, valid: np.ndarray) -> np.ndarray:
    ra, rb, ca, cb = w.clip
    raw[(slice(None), *w.inner)] = load_npy(w.p, w.idx)[w.sel, ra:rb, ca:cb]
    return raw


def _read_gdal(w: ReadWindow, raw: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Any file GDAL reads (GeoTIFF, PNG, JPEG, VRT, …); a window inside it straight into ``raw``."""
    (r0, c0, h, w_), (ra, rb, ca, cb) = w.window, w.clip
    with open_raster(w.p) as src:
        if (ra, rb, ca, cb) == (r0, r0 + h, c0, c0 + w_):
            return _read_masked(src, [i + 1 for i in w.sel], ra, ca, h, w_, valid, w.inner)
        raw[(slice(None), *w.inner)] = _read_masked(src, [i + 1 for i in w.sel], ra, ca, rb - ra, cb - ca,
                                                    valid, w.inner)
    return raw


# One reader per format (a datacube reads its own window: data/cube.py); each fills ``raw`` and
# clears ``valid`` where the file masks a pixel, and returns ``raw``.
READERS = {"folder": _read_folder, "npy": _read_npy, "gdal": _read_gdal}
