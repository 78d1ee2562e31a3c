"""The one raster reader: every file the tool touches comes through :func:`read_raster`.

Supported: GeoTIFF/COG and plain TIFF, PNG, JPEG, GIF (all through rasterio/GDAL; 8/16-bit, gray,
gray + alpha, RGB(A), palette images expanded to RGB, CMYK JPEG converted to RGB by GDAL), ``.npy`` arrays (``(C,H,W)`` or ``(H,W,C)``; 4-D stacks addressed as ``file.npy[k]``), and a
*folder of single-band files* (``B02.tif, B03.tif, ...``) read as one multi-band raster, and
one time step of a NetCDF/Zarr datacube (``cube.nc@2018-05-01``; see :mod:`bandbridge.data.cube_ref`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from bandbridge import policy
from bandbridge.bands import SENSOR_BANDS, Scaling, band_role, canonical_band_name
from bandbridge.data.cube import read_cube
from bandbridge.data.cube_dataset import cube_info
from bandbridge.data.cube_ref import is_cube, parse_ref
from bandbridge.data.formats import (READERS, ReadWindow, band_files, load_npy, open_raster, palette,
                                     read_bands, split_npy)
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_regular

RASTER_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".gif", ".npy", ".jp2", ".vrt"}
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
    resolutions). A cube names its own bands (``sensor`` is not needed); ``band_names`` renames.
    A pipe, socket or device is refused before it is opened (reading one would wait for ever)."""
    check_regular(parse_ref(path).path if is_cube(path) else split_npy(str(path))[0], folder_ok=True,
                  what="raster")
    if is_cube(path):
        ci = cube_info(path)
        names = ci.bands
        if band_names:
            if len(band_names) != len(names):
                raise BandbridgeError(f"{path}: band_names lists {len(band_names)} names but the "
                                      f"cube has {len(names)} bands {names}")
            names = [canonical_band_name(n) for n in band_names]
        return RasterInfo(ci.height, ci.width, names, ci.crs, ci.transform, None, ci.dtype)
    p, idx = split_npy(str(path))
    if not p.exists():
        raise BandbridgeError(f"{p}: file not found; check the path (or --data root)")
    if p.is_dir():
        files = band_files(p, sensor)
        if not files:
            raise BandbridgeError(f"{p}: folder holds no .tif band files")
        names = list(files)
        first = files[names[select_bands(names, bands, p)[0]]] if bands else next(iter(files.values()))
        with open_raster(first) as src:
            return RasterInfo(src.height, src.width, list(files), src.crs or None, _tr(src),
                              src.nodata, src.dtypes[0])
    if p.suffix.lower() == ".npy":
        arr = load_npy(p, idx)
        c, h, w = arr.shape
        names = list(band_names) if band_names else _default_names(c, None, None, sensor)
        return RasterInfo(h, w, [canonical_band_name(n) for n in names], None, None, None,
                          str(arr.dtype))
    with open_raster(p) as src:
        count, desc, ci = src.count, src.descriptions, src.colorinterp
        if palette(src) is not None:  # one index band → the palette's R, G, B
            count, desc, ci = 3, (None,) * 3, ("red", "green", "blue")
        names = (list(band_names) if band_names else _default_names(count, desc, ci, sensor))
        if len(names) != count:
            raise BandbridgeError(f"{p}: band_names lists {len(names)} names but the file has "
                                  f"{count} bands")
        return RasterInfo(src.height, src.width, [canonical_band_name(n) for n in names],
                          src.crs or None, _tr(src), src.nodata, src.dtypes[0], tuple(desc),
                          tuple(c.name if hasattr(c, "name") else str(c) for c in ci), src.driver,
                          tuple(src.scales), tuple(src.offsets))


def _tr(src):
    return src.transform if src.crs or not src.transform.is_identity else None


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
    p, idx = split_npy(str(path))
    raw = np.zeros((len(sel), h, w), np.float32)
    valid = np.zeros((h, w), bool)
    # Intersection of the window with the raster extent.
    ra, rb = max(r0, 0), min(r0 + h, info.height)
    ca, cb = max(c0, 0), min(c0 + w, info.width)
    if is_cube(path):
        raw, valid = read_cube(parse_ref(path), sel, (r0, c0, h, w))
    elif rb > ra and cb > ca:
        inner = (slice(ra - r0, rb - r0), slice(ca - c0, cb - c0))
        valid[inner] = True
        fmt = "folder" if p.is_dir() else "npy" if p.suffix.lower() == ".npy" else "gdal"
        raw = READERS[fmt](ReadWindow(p, idx, info.bands, (info.height, info.width), sel, sensor,
                                      (r0, c0, h, w), (ra, rb, ca, cb), inner), raw, valid)
    transform = info.transform
    if transform is not None and window is not None:
        transform = transform @ transform.translation(c0, r0)
    return _finish(raw, valid, scaling, path, info, sel, transform,
                   {"height": info.height, "width": info.width, "nodata": info.nodata, "dtype": info.dtype})


def _always_finite(path, info: RasterInfo) -> bool:
    """Whether every value read from ``path`` is finite: one integer type for all its bands (a
    GDAL file other than a VRT, which may mix types, or a ``.npy`` array)."""
    try:
        integer = np.dtype(info.dtype).kind in "biu"
    except TypeError:
        return False
    return integer and (info.driver not in ("", "VRT") or split_npy(str(path))[0].suffix.lower() == ".npy")


def _finish(raw: np.ndarray, valid: np.ndarray, scaling: Scaling, path, info: RasterInfo, sel: list[int],
            transform, meta: dict) -> Raster:
    """The one last step of every read: non-finite values (and zeros, where the scaling calls 0
    nodata) invalid, invalid pixels 0, values scaled to model values in place. Passes a strip need not
    make are skipped: the finiteness test for integer files, the zeroing where every pixel is
    valid (each is a pass over every band of a strip of many megapixels)."""
    if not _always_finite(path, info):
        valid &= np.isfinite(raw).all(0)
    if scaling.zero_is_nodata:
        valid &= (raw != 0).any(0)
    invalid = ~valid
    holes = bool(invalid.any())
    if holes:
        raw[:, invalid] = 0.0  # NaN and nodata out before scaling, in place (strips can be large)
    data = scaling.encode(raw, out=raw)
    if holes:
        data[:, invalid] = 0.0
    return Raster(data, valid, [info.bands[i] for i in sel], info.crs, transform, str(path), meta)


STREAM_CACHE_BYTES = 64 * 2**20  # GDAL's block cache while a raster is streamed (bounded memory)


def return_large_buffers() -> None:
    """Fix glibc's mmap threshold at 1 MB, so that large buffers (GDAL's blocks, strips, tiles)
    go back to the system when freed. By default the threshold rises after each large free (up
    to 32 MB), after which such buffers come from the heap and its fragments stay resident: peak
    RSS then grows with the number of tiles."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


_DECIMATED: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # this process's last two decimated reads


def _decimated(p: Path, info: RasterInfo, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every band of the GDAL file ``p`` at every k-th pixel of every k-th row (or its nearest
    overview): float32 stored values and each band's validity, both ``(C, h, w)``, read-only.
    The look at a file while planning and the per-image statistics while predicting ask the same
    read, a whole decoding pass of the file: the last two are kept, keyed by the file's path, size
    and modification time, so a file changed in between is read again. A file without overviews larger than
    ``policy.LOOK_READ_MPIX`` is sampled instead (:func:`_sampled`): a plan's look is bounded."""
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, k)
    if key in _DECIMATED:
        return _DECIMATED[key]
    idx = list(range(1, len(info.bands) + 1))
    return_large_buffers()
    # Every block is decoded once and never again: GDAL's cache (5 % of RAM by default) would
    # only hold on to them, and its memory stays with the process.
    with rasterio.Env(GDAL_CACHEMAX=STREAM_CACHE_BYTES), open_raster(p) as src:
        if src.overviews(1):  # a COG: GDAL reads the nearest overview, a fraction of the file
            from rasterio.enums import Resampling
            raw, valid = read_bands(src, idx, per_band=True, resampling=Resampling.nearest,
                                    out_shape=(len(idx), -(-info.height // k), -(-info.width // k)))
        elif info.height * info.width > policy.LOOK_READ_MPIX * 1e6:  # larger: blocks sampled evenly
            raw, valid = _sampled(src, idx, info, k, policy.LOOK_READ_MPIX * 1e6)
        else:
            # Row chunks of a few MPix, a multiple of k high, each read once at full resolution
            # and strided: every block is decoded once (values and mask while it is in GDAL's
            # cache), and neither the cache nor the chunk grows with the raster.
            step = max(k, min(512, 4_000_000 // info.width) // k * k)
            parts = [read_bands(src, idx, stride=k, per_band=True,
                                window=Window(0, r0, info.width, min(step, info.height - r0)))
                     for r0 in range(0, info.height, step)]
            raw = np.concatenate([r for r, _ in parts], 1)
            valid = np.concatenate([v for _, v in parts], 1)
    raw.flags.writeable = False
    valid = np.ascontiguousarray(valid)
    valid.flags.writeable = False
    while len(_DECIMATED) >= 2:
        _DECIMATED.pop(next(iter(_DECIMATED)))
    _DECIMATED[key] = (raw, valid)
    return raw, valid


def _spread(n: int, m: int) -> list[int]:
    """``m`` of ``range(n)`` spread evenly, both ends included (all of them when ``m >= n``)."""
    return list(range(n)) if m >= n else sorted({round(i * (n - 1) / max(m - 1, 1)) for i in range(m)})


def _sampled(src, idx: list[int], info: RasterInfo, k: int, budget_px: float) -> tuple[np.ndarray, np.ndarray]:
    """``_decimated``'s look at a raster too large to decode whole and without overviews: the
    file's blocks that hold a pixel of the k-lattice, as many as ``budget_px`` pixels of blocks
    allow, spread evenly over its rows and columns of blocks, each decoded once and strided onto
    the lattice; the lattice's other pixels are invalid. ``(C, ⌈H/k⌉, ⌈W/k⌉)`` as ``_decimated``."""
    h, w = info.height, info.width
    bh, bw = (min(b, n) for b, n in zip(src.block_shapes[0], (h, w)))
    oh, ow = -(-h // k), -(-w // k)
    rows = sorted({o * k // bh for o in range(oh)})  # block rows that hold a lattice row
    cols = sorted({o * k // bw for o in range(ow)})
    blocks = max(1, int(budget_px // (bh * bw)))
    gy = min(len(rows), blocks, max(1, round((blocks * len(rows) / len(cols)) ** 0.5)))
    gx = min(len(cols), max(1, blocks // gy))
    raw = np.zeros((len(idx), oh, ow), np.float32)
    valid = np.zeros((len(idx), oh, ow), bool)
    for br in (rows[i] for i in _spread(len(rows), gy)):
        r0, r1 = -(-br * bh // k) * k, min(h, (br + 1) * bh)  # the block's first lattice row on
        for bc in (cols[i] for i in _spread(len(cols), gx)):
            c0, c1 = -(-bc * bw // k) * k, min(w, (bc + 1) * bw)
            a, ok = read_bands(src, idx, stride=k, per_band=True, window=Window(c0, r0, c1 - c0, r1 - r0))
            raw[:, r0 // k:r0 // k + a.shape[1], c0 // k:c0 // k + a.shape[2]] = a
            valid[:, r0 // k:r0 // k + a.shape[1], c0 // k:c0 // k + a.shape[2]] = ok
    return raw, valid


def read_decimated(path: str | Path, scaling: Scaling, bands: BandSpec = None,
                   max_side: int = 1024, band_names: Sequence[str] | None = None,
                   sensor: str | None = None) -> Raster:
    """The whole raster at most ``max_side`` pixels a side: one look at a whole image, for
    per-image statistics, in bounded memory — from an overview when the file has them (nearest
    neighbour), else every k-th pixel of every k-th row; a file over ``policy.LOOK_READ_MPIX``
    without overviews, every k-th pixel of blocks spread over it, at most that many pixels
    decoded (the rest of the look invalid). Files smaller than ``max_side`` are read whole;
    ``.npy`` and band folders are read and strided."""
    info = raster_info(path, band_names, sensor, bands)
    k = max(1, -(-max(info.height, info.width) // max_side))
    p, _ = split_npy(str(path))
    if k == 1 or is_cube(path) or p.is_dir() or p.suffix.lower() == ".npy":
        r = read_raster(path, scaling, bands, band_names=band_names, sensor=sensor)
        r.data, r.mask = r.data[:, ::k, ::k], r.mask[::k, ::k]
        return r
    sel = select_bands(info.bands, bands, path)
    raw, band_valid = _decimated(p, info, k)
    return _finish(raw[sel], band_valid[sel].all(0), scaling, path, info, sel, None,
                   {"height": info.height, "width": info.width, "decimation": k})
