"""Output rasters: profile derived from the input's, value encoding, atomic write-and-rename."""

from __future__ import annotations

import functools
import os
import warnings
from contextlib import suppress
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from bandbridge.bands import get_scaling
from bandbridge.config import BandSel
from bandbridge.data.reference import RASTER_ERRORS
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_output_suffix, file_size_limit, sha256_file, size_limit_text, temp_beside
from bandbridge.stretch import PERCENTILES, stretch

DTYPES = ("auto", "float32", "uint16", "uint8")
WRITE_ERRORS = (*RASTER_ERRORS, OSError)  # GDAL's errors (CPLE_* are not RasterioError) and the disk's
_FACTOR = {"uint16": 10000.0, "uint8": 255.0}


def resolve_dtype(dtype: str, target: BandSel) -> str:
    """'auto' → the target's stored type: uint8 for 8-bit, uint16 (×10000) for reflectance DN,
    float32 otherwise."""
    if dtype not in DTYPES:
        raise BandbridgeError(f"unknown dtype '{dtype}'; choose one of {DTYPES}")
    if dtype != "auto":
        return dtype
    return {"uint8": "uint8", "reflectance_10000": "uint16"}.get(target.scaling, "float32")


def nodata_of(dtype: str, nodata: float | None = None) -> float:
    """The nodata value an output of ``dtype`` is written with: ``nodata`` where given, else NaN
    for floats and 0 for integers (the one rule every output follows)."""
    if nodata is not None:
        return float(nodata)
    return float("nan") if np.dtype(dtype).kind == "f" else 0.0


def store(values: np.ndarray, valid: np.ndarray, dtype: str, nodata: float | None = None) -> np.ndarray:
    """The one value encoder: stored-unit floats ``(C, h, w)`` (NaN where unknown) → ``dtype``, with
    one nodata rule (:func:`nodata_of`) for predict, the reference run and the fill. Floats are kept
    as they are; integers are rounded and clipped to the type's range. ``nodata`` is written outside
    ``valid`` (and where a value is NaN), and a valid value never reads as nodata: one that rounds
    to it moves one step inside the type (up, or down at the type's top)."""
    nd = nodata_of(dtype, nodata)
    ok = valid[None] & np.isfinite(values)
    kind = np.dtype(dtype).kind
    if kind == "f":
        out = values.astype(dtype, copy=True)
    else:
        lim = np.iinfo(dtype)
        out = np.nan_to_num(values, nan=nd)  # one copy, rounded and clipped in place (not three of a strip)
        out = out if out.dtype.kind == "f" else out.astype(np.float64)  # integers: rint's float64, as it gives them
        np.clip(np.rint(out, out=out), lim.min, lim.max, out=out)
        if np.isfinite(nd) and lim.min <= nd <= lim.max:  # a valid value is never the nodata value
            out[ok & (out == nd)] = nd + 1 if nd < lim.max else nd - 1
        out = out.astype(dtype)
    out[~ok] = nd if kind == "f" or np.isfinite(nd) else 0
    return out


def encode(values: np.ndarray, valid: np.ndarray, dtype: str) -> np.ndarray:
    """Model values ``(C, h, w)`` in [0, 1] → stored values by :func:`store`: float32 keeps model
    values (reflectance for reflectance scalings) with NaN as nodata; integer types scale by 10000
    (uint16) or 255 (uint8) and keep 0 for nodata (valid pixels are at least 1)."""
    return store(values * _FACTOR.get(dtype, 1.0), valid, dtype)


def decode(stored: np.ndarray, dtype: str) -> np.ndarray:
    """Inverse of :func:`encode`: stored values → float32 model values (nodata → NaN)."""
    if dtype == "float32":
        return stored.astype(np.float32)
    out = stored.astype(np.float32) / _FACTOR[dtype]
    out[stored == 0] = np.nan
    return out


def stored_units(sel: BandSel, dtype: str, difference: bool = False) -> tuple[float, float, str]:
    """``(scale, offset, units)`` of a band written as ``dtype`` from model values of ``sel``'s
    scaling, as GDAL states them: physical = stored × scale + offset, in reflectance for
    reflectance scalings and in the source's own units otherwise (DN, dB). QGIS, GDAL and rasterio
    users read the physical values from these. ``difference``: an error band (no offset)."""
    s = get_scaling(sel.scaling, sel.vmin, sel.vmax)
    pscale, poffset, units = s.physical
    return pscale / _FACTOR.get(dtype, 1.0), 0.0 if difference else poffset, units


def physical_note(target: BandSel, dtype: str, difference: bool = False) -> str:
    """One line: what the stored values mean, e.g. 'reflectance = stored × 0.0001'."""
    scale, offset, units = stored_units(target, dtype, difference)
    if (scale, offset) == (1.0, 0.0):
        return units
    return f"{units} = stored × {scale:.6g}" + (f" {'+' if offset > 0 else '−'} {abs(offset):g}" if offset else "")


def tag_units(dst, sels: list[BandSel], dtype: str, difference: bool = False) -> None:
    """GDAL scale, offset and units on every band of ``dst`` (one ``BandSel`` per band)."""
    units = [stored_units(sel, dtype, difference) for sel in sels]
    dst.scales = [u[0] for u in units]
    dst.offsets = [u[1] for u in units]
    dst.units = [u[2] for u in units]


FAST_DEFLATE = {"zlevel": "1", "num_threads": "2"}  # ``creation`` for the outputs of the scene-fitted runs written
# by strips (fill, sharpen): deflate at level 1 on two threads, as the writer thread, not the compute, bounded their
# finish (benchmarks/fill_speed.py, benchmarks/sharpen_speed.py: less CPU time, about the same size)

def output_profile(crs, transform, height: int, width: int, count: int, dtype: str,
                   scale: int = 1, creation: dict[str, str] | None = None) -> dict:
    """GeoTIFF profile: the input's CRS, its transform scaled for super-resolution, tiled and
    compressed, nodata set; ``creation`` (``-co``) replaces any of those options."""
    if transform is not None and scale > 1:
        transform = transform @ Affine.scale(1 / scale)
    prof = {"driver": "GTiff", "height": height, "width": width, "count": count, "dtype": dtype,
            "nodata": float("nan") if dtype == "float32" else 0, "compress": "deflate",
            "predictor": 3 if dtype == "float32" else 2, "BIGTIFF": "IF_SAFER"}
    if crs is not None or transform is not None:  # none for plain images: no warning, no fake one
        prof.update(crs=crs, transform=transform or Affine.identity())
    if height >= 256 and width >= 256:
        prof.update(tiled=True, blockxsize=256, blockysize=256)
    return with_creation(prof, creation)


def block_span(prof: dict, scale: int, axis: str) -> int:
    """Input pixels per block of a tiled output along ``axis`` (x or y), else 1: its block size
    over the scale."""
    if str(prof.get("tiled", False)).upper() not in ("TRUE", "YES", "1", "ON"):
        return 1
    try:
        return max(1, int(prof.get(f"block{axis}size", 256)) // scale)
    except (TypeError, ValueError):
        return 1


def with_creation(options: dict, creation: dict[str, str] | None) -> dict:
    """``options`` with the user's creation options in place of ours (keys match whatever
    their case: GDAL's option names are case-blind)."""
    if not creation:
        return options
    wanted = {k.upper() for k in creation}
    return {k: v for k, v in options.items() if k.upper() not in wanted} | \
        {k.lower(): v for k, v in creation.items()}


def parse_creation_options(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``-co KEY=VALUE`` flags → ``{KEY: VALUE}``, or one line naming the malformed one."""
    out: dict[str, str] = {}
    for it in items:
        key, eq, value = it.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise BandbridgeError(f"-co {it}: creation options are KEY=VALUE (e.g. -co "
                                  "COMPRESS=ZSTD); see GDAL's GTiff and COG driver options")
        out[key.strip().upper()] = value.strip()
    return out


def check_creation_options(creation: dict[str, str], cog: bool, dtypes: set[str]) -> None:
    """Refuse, before any work, creation options that GDAL's driver (GTiff, or COG with
    ``--cog``) does not know or rejects for an output type: GDAL itself only warns, then writes
    without them. Probed on a 16×16 raster in memory."""
    if not creation:
        return
    import logging

    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy
    driver = "COG" if cog else "GTiff"
    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())
    log, keep = logging.getLogger("rasterio._env"), Keep(logging.WARNING)
    log.addHandler(keep)
    try:
        for dtype in sorted(dtypes):
            prof = output_profile(None, None, 16, 16, 1, dtype, creation=None if cog else creation)
            with MemoryFile() as m:
                with open_output(m.name, prof) as d:  # quiet: the probe has no georeference
                    d.write(np.ones((1, 16, 16), dtype))
                if cog:
                    with MemoryFile() as m2:
                        rio_copy(m.name, m2.name, driver="COG", **creation)
    except rasterio.errors.RasterioError as e:
        said.append(str(e))
    finally:
        log.removeHandler(keep)
    if said:
        why = said[0].split(" in ", 1)[-1] if said[0].startswith("CPLE_") else said[0]
        flags = " ".join(f"-co {k}={v}" for k, v in creation.items())
        raise BandbridgeError(f"{flags}: GDAL's {driver} driver refuses it ({why}); see "
                              f"https://gdal.org/drivers/raster/{driver.lower()}.html for its "
                              "creation options")


def open_output(path: Path, profile: dict):
    """``rasterio.open(path, "w", **profile)``, quiet when there is no georeference to keep."""
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


def cog_options(dtype: str, creation: dict[str, str] | None = None) -> dict:
    """The COG driver's options: deflate with the type's predictor, or the user's ``-co``."""
    return with_creation({"driver": "COG", "compress": "DEFLATE",
                          "predictor": 3 if dtype == "float32" else 2}, creation)


def to_cog(path: Path, creation: dict[str, str] | None = None) -> None:
    """Rewrite a GeoTIFF in place as a Cloud-Optimized GeoTIFF (GDAL's COG driver; its tags,
    band descriptions and colour interpretation are copied with the pixels)."""
    from rasterio.shutil import copy as rio_copy
    tmp = temp_beside(path)
    try:
        with rasterio.open(path) as src:
            dtype = src.dtypes[0]
        rio_copy(path, tmp, **cog_options(dtype, creation))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


PICTURES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}  # output names that ask for a picture
OUTPUT_FORMATS = {".tif": "GeoTIFF", ".tiff": "GeoTIFF", **PICTURES}  # what an output file's name may end in


def check_output_name(dest: Path) -> None:
    """Refuse an output named like a file (an extension) that predict does not write, before it
    becomes a folder of that name: a folder is a name without an extension, or one that exists
    (an existing file is refused as one, by the caller)."""
    if dest.suffix and not dest.exists():  # the one suffix check of every command that writes rasters
        check_output_suffix(dest, OUTPUT_FORMATS, "predict")


def check_picture(out: Path, dtype: str, bands: int, opts, crs=None) -> str:
    """Refuse a PNG/JPEG output a picture cannot hold: one or three bands, without index rasters,
    an error raster, ``--cog`` or ``-co`` (all GeoTIFF things), 8-bit values or, for a model of
    other values (reflectance) with ``--dtype auto``, the display stretch of :func:`to_picture`.
    Returns what the user must know, as "; "-led phrases: the stretch, the georeference left
    behind (``crs``: the input's)."""
    fix = f"name the output {out.with_suffix('.tif').name} for a GeoTIFF"
    if dtype != "uint8" and opts.dtype != "auto":
        raise BandbridgeError(f"--output {out}: a picture holds 8-bit values, not the --dtype {dtype} this "
                              "model then writes; drop --dtype for a display-stretched picture (or --dtype "
                              f"uint8 for its values × 255), or {fix}")
    if bands not in (1, 3):
        raise BandbridgeError(f"--output {out}: a picture holds one (grey) or three (RGB) bands, not "
                              f"{bands}{' (--append adds the input bands)' if opts.append else ''}; {fix}")
    extra = [f for f, on in (("--index", opts.indices), ("--confidence", opts.confidence),
                             ("--cog", opts.cog), ("-co", opts.creation)) if on]
    if extra:
        raise BandbridgeError(f"--output {out}: {', '.join(extra)} make GeoTIFFs; {fix}")
    said = []
    if dtype != "uint8":  # reflectance × 255 is a near-black picture: stretched for display
        lo, hi = PERCENTILES
        said.append(f"a picture for the eye, the output display-stretched as the web page and compare show it "
                    f"({lo:g}–{hi:g} % of its valid values, one range for all bands; --dtype uint8 writes "
                    "its values × 255 instead)")
    if crs is not None:  # the web page's words: a PNG or JPEG has no georeference
        said.append(f"it does not keep the input's georeference ({crs}): a {PICTURES[out.suffix.lower()]} has none")
    keeps = " and ".join(w for w, on in (("the values", dtype != "uint8"), ("the georeference", crs is not None)) if on)
    return f"; {out.name}: {'; '.join(said)} ({out.with_suffix('.tif').name} keeps {keeps})" if said else ""


def to_picture(path: Path, final: Path) -> None:
    """Rewrite the GeoTIFF at ``path`` in place as the PNG or JPEG (quality 95) that ``final``'s
    suffix names: no georeference, no tags, no sidecar, for CV users' training sets. 8-bit values
    as they are; any other (reflectance) by the display stretch (``stretch.py``: one range for all
    bands, nodata black)."""
    from PIL import Image
    tmp = temp_beside(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                a = src.read(masked=True)
        if a.dtype != np.uint8:
            v = np.ma.filled(a.astype(np.float64), np.nan)
            s = stretch(v, "")
            a = np.where(np.isfinite(v), np.clip(np.rint(255 * (v - s.lo) / (s.hi - s.lo)), 0, 255), 0)
        a = np.asarray(a).astype(np.uint8)
        img = Image.fromarray(a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1))
        fmt = PICTURES[final.suffix.lower()]
        with open(tmp, "wb") as f:
            img.save(f, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def model_tag(spec) -> str:
    """What an output's ``bandbridge_model`` tag says: the model's name, the bandbridge version
    and the SHA-256 of its weights (``model.yaml``'s ``weights_sha256``, else of the weights
    file) — never a local path, which would leak a user's folders into every file shared."""
    from bandbridge import __version__
    return f"{spec.name} (bandbridge {__version__}; weights sha256:{_weights_hash(str(spec.folder))})"


@functools.lru_cache(maxsize=16)
def _weights_hash(folder: str) -> str:
    from bandbridge.spec import BUNDLE_META, ONNX_FILE, read_meta
    try:
        meta = read_meta(Path(folder) / BUNDLE_META)
    except BandbridgeError:  # a model built in memory (tests, a backend of one's own)
        meta = {}
    if meta.get("weights_sha256"):
        return str(meta["weights_sha256"])
    for name in ("generator.safetensors", ONNX_FILE):
        if (Path(folder) / name).is_file():
            return sha256_file(Path(folder) / name)
    return "unknown"


def write_failure(out: Path, e: BaseException, what: str = "writing failed") -> BandbridgeError:
    """One line for a raster write that failed (GDAL says "Write failed"; a full disk is the usual
    cause, said when the output's disk has little room left)."""
    import shutil
    free = None
    with suppress(OSError):
        free = shutil.disk_usage(Path(out).parent).free
    first = (str(e).splitlines() or [type(e).__name__])[0][:160]
    cause = str(e.__cause__).splitlines()[0][:160] if e.__cause__ else ""
    room = "" if free is None else f"; {free / 1e6:.1f} MB free on that disk"
    limit = file_size_limit()
    if free is not None and free < 256e6:
        hint = "free some space or choose an output folder on another disk"
    elif limit is not None:  # the disk has room: the process's own limit stopped the file
        room, hint = "", size_limit_text(limit)
    else:
        hint = "check the disk and the output folder"
    return BandbridgeError(f"{out}: {what} ({first}{'; ' + cause if cause else ''}{room}); "
                           f"{hint} (nothing was left under the output name)")


def verify_written(path: Path, final: Path | None = None) -> None:
    """Read a written raster back (its first and last row of every band) before it is renamed
    into place: a file cut short by a full disk that GDAL only logged is refused, not kept."""
    from rasterio.windows import Window
    try:
        with warnings.catch_warnings():  # a plain image has no georeference to speak of
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            r = rasterio.open(path)
        with r:
            for row in {0, r.height - 1}:
                r.read(window=Window(0, row, r.width, 1))
    except Exception as e:  # noqa: BLE001 - any failure to read back is the same verdict
        raise write_failure(final or path, e, "writing failed: the file does not read back") from None
