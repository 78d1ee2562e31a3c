"""Sentinel-2 L1C/L2A read as its band sets at 10, 20 and 60 m, each on its own grid in
reflectance: a SAFE folder (``GRANULE/*/IMG_DATA`` JP2, L2A's ``R10m/R20m/R60m`` at each band's
native resolution), a folder of one file a band (``B05.tif``, ``T33…_B05.jp2``, or STAC asset
names ``rededge1.tif``), or a stack of all bands on one 10 m grid (eo-learn arrays, SEN12MS
GeoTIFFs) averaged back to each band's own resolution (:func:`native_sets`).

Reflectance = (DN + offset) / 10000: the offset −1000 of processing baseline 04.00 on (January
2022) from the SAFE's ``MTD_MSIL*.xml`` (``RADIO_ADD_OFFSET``/``BOA_ADD_OFFSET``) or a COG's
GDAL scale/offset; 0 otherwise. DN 0 is nodata.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from affine import Affine

from bandbridge.bands import canonical_band_name
from bandbridge.data.formats import open_raster
from bandbridge.data.grids import Grid, block_mean
from bandbridge.data.products import REFLECTANCE, FileBand, ProductBands, read_band_file, stack_on_grid
from bandbridge.errors import BandbridgeError

RESOLUTION = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10,
              "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20}
# Earth Search's STAC asset names of the same bands (its COG folders name files by them)
STAC_NAMES = {"coastal": "B01", "blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05",
              "rededge2": "B06", "rededge3": "B07", "nir": "B08", "nir08": "B8A", "nir09": "B09",
              "cirrus": "B10", "swir16": "B11", "swir22": "B12"}
QUANTIFICATION = 10000.0
SUFFIXES = (".jp2", ".tif", ".tiff", ".vrt")  # band files; a VRT: one band by reference (a STAC Item's asset)
_CODE = re.compile(r"(?:^|_)(B(?:0[1-9]|1[0-2]|8A))(?:_(\d{2})m)?$", re.IGNORECASE)
_OFFSET = re.compile(r"<(?:RADIO|BOA)_ADD_OFFSET[^>]*>\s*(-?\d+)\s*<")


def band_sets(names: list[str]) -> dict[int, list[str]]:
    """``{resolution in m: [band, …]}`` of Sentinel-2 band names, in their order (others left out)."""
    out: dict[int, list[str]] = {}
    for n in names:
        if n in RESOLUTION:
            out.setdefault(RESOLUTION[n], []).append(n)
    return dict(sorted(out.items()))


def band_code(name: str) -> str | None:
    """The Sentinel-2 band a file stem, STAC asset key or band name says (``B05``, ``T33…_B05_20m``,
    ``b8a``, ``rededge1``), or None."""
    found = _band_of(name)
    return found[0] if found else None


def _band_of(stem: str) -> tuple[str, int | None] | None:
    m = _CODE.search(canonical_band_name(stem))  # upper case; 'b5' → 'B05'
    if m:
        return m.group(1).upper(), int(m.group(2)) if m.group(2) else None
    code = STAC_NAMES.get(stem.lower())
    return (code, None) if code else None


def band_paths(path: str | Path) -> dict[str, Path]:
    """``{band: file}`` of a SAFE or band folder, each band at its native resolution (an L2A
    SAFE's resampled copies in the other ``Rxxm`` folders are left out). Refused in one line: no
    band file, a SAFE of several granules."""
    root = Path(path)
    if not root.is_dir():
        raise BandbridgeError(f"{root}: not a folder; give a Sentinel-2 .SAFE or a folder of its band files")
    granules = sorted(root.glob("GRANULE/*/IMG_DATA"))
    if len(granules) > 1:
        raise BandbridgeError(f"{root}: {len(granules)} granules; give one GRANULE/<id> folder's IMG_DATA")
    files = sorted(q for q in (granules[0].rglob("*") if granules else root.iterdir())
                   if q.suffix.lower() in SUFFIXES)
    out: dict[str, Path] = {}
    for q in files:
        found = _band_of(q.stem)
        if found and (found[1] is None or found[1] == RESOLUTION[found[0]]):
            out[found[0]] = q
    if not out:
        raise BandbridgeError(f"{root}: no Sentinel-2 band files (B02.tif, T33…_B05.jp2, red.tif) found; "
                              "give the .SAFE folder or a folder of one file a band")
    return dict(sorted(out.items(), key=lambda kv: list(RESOLUTION).index(kv[0])))


def safe_offset(root: Path) -> float | None:
    """The DN offset a SAFE's product metadata states (−1000 from baseline 04.00), None where
    there is no ``MTD_MSIL*.xml``."""
    mtd = sorted(root.glob("MTD_MSIL*.xml"))
    if not mtd:
        return None
    found = _OFFSET.findall(mtd[0].read_text(errors="replace"))
    return float(found[0]) if found else 0.0


def read_s2(path: str | Path, bands: list[str] | None = None) -> dict[int, ProductBands]:
    """The bands of a SAFE or band folder (all when None) as ``{resolution: ProductBands}``, each
    set on its own grid, in reflectance. A band file whose grid is not its set's (a 20 m band
    resampled to 10 m among native ones) is refused in one line."""
    root = Path(path)
    table = band_paths(root)
    names = list(table) if bands is None else [str(b).upper() for b in bands]
    missing = [n for n in names if n not in table]
    if missing:
        raise BandbridgeError(f"{root}: no band {missing[0]} among {list(table)}")
    stated = safe_offset(root)
    out = {}
    for res, group in band_sets(names).items():
        parts = []
        for n in group:
            dn, ok, grid, _ = read_band_file(table[n])
            offset, scale = _dn_offset(table[n], stated)
            ok = ok & (dn != 0)
            parts.append((n, np.where(ok, (dn + offset) / scale, np.float32(0)).astype(np.float32), ok, grid))
        data, valid, grid = stack_on_grid(parts, f"{root} ({res} m)")
        data[:, ~valid] = 0
        out[res] = ProductBands(data, valid, group, ["reflectance"] * len(group), grid,
                                [_to_dn(*_dn_offset(table[n], stated)) for n in group])
    res0 = min(out)  # each set's size times its resolution within one coarse pixel of the finest set's
    g0 = out[res0].grid
    for res, b in out.items():
        k = res / res0
        if abs(b.grid.height * k - g0.height) >= k or abs(b.grid.width * k - g0.width) >= k:
            raise BandbridgeError(f"{root}: the {res} m bands are {b.grid.height}×{b.grid.width}, not "
                                  f"{g0.height}×{g0.width} of the {res0} m bands at 1:{k:g}; give the bands at "
                                  "their native resolutions")
    return out


def is_s2(path: str | Path) -> bool:
    """Whether ``path`` is a Sentinel-2 product folder: a SAFE (``GRANULE/*/IMG_DATA``), a folder
    with its ``MTD_MSIL*.xml``, or a folder whose band files are all named as Sentinel-2's bands
    (``B05.tif``, ``T33…_B05_20m.jp2``, STAC's ``rededge1.tif``; masks — ``SCL``, ``*mask*`` — ``TCI``,
    ``AOT`` and ``WVP`` aside)."""
    p = Path(path)
    if not p.is_dir():
        return False
    if any(p.glob("GRANULE/*/IMG_DATA")) or any(p.glob("MTD_MSIL*.xml")):
        return True
    files = [q for q in p.iterdir() if q.suffix.lower() in SUFFIXES]
    bands = [q for q in files if "mask" not in q.stem.lower() and not re.search(r"(?:^|_)(SCL|TCI|AOT|WVP|MSK\w*)(?:_\d{2}m)?$", q.stem, re.I)]
    return bool(bands) and all(_band_of(q.stem) for q in bands)


def product_bands(path: str | Path) -> list[FileBand]:
    """Every band of a Sentinel-2 folder at its native resolution as ``sharpen`` reads it:
    reflectance, ``(DN + offset) / 10000`` by the SAFE's metadata (the baseline-04 offset) or the
    file's own scale/offset; a band folder that states neither keeps its stored DN (nothing says
    its quantification)."""
    root = Path(path)
    stated = safe_offset(root)
    out = []
    for name, q in band_paths(root).items():
        offset, scale = _dn_offset(q, stated)
        with open_raster(q) as src:
            said = stated is not None or src.scales[0] not in (0.0, 1.0)
        out.append(FileBand(q, 1, name, REFLECTANCE, "reflectance" if said else "",
                            (1.0 / scale, offset / scale) if said else None))
    return out


def _dn_offset(p: Path, stated: float | None) -> tuple[float, float]:
    """``(offset in DN, DN per reflectance unit)`` of one band file: the SAFE's offset, else the
    file's GDAL scale/offset (Earth Search COGs: 0.0001 and −0.1), else (0, 10000)."""
    if stated is not None:
        return stated, QUANTIFICATION
    with open_raster(p) as src:
        scale, offset = src.scales[0], src.offsets[0]
    if scale not in (0.0, 1.0):
        return offset / scale, 1.0 / scale
    return 0.0, QUANTIFICATION


def _to_dn(offset: float, scale: float):
    return lambda reflectance: (np.asarray(reflectance, np.float64) * scale - offset).astype(np.float32)


BLOCK_SHARE = 0.99  # of a set's blocks alike inside at one phase: the stack repeated its pixels (nearest)


def block_phase(band: np.ndarray, k: int, axis: int) -> int | None:
    """Where ``k``-pixel blocks start along ``axis`` (0 rows, 1 columns) of a band a stack
    repeated by nearest neighbour from a ``k`` times coarser grid: the offset at which at least
    :data:`BLOCK_SHARE` of the blocks hold one value across that axis. None: no such offset (a
    band interpolated, or native)."""
    x = np.moveaxis(band, axis, 0)
    for o in range(k):
        n = (x.shape[0] - o) // k
        if n < 2:
            return None
        blocks = x[o:o + n * k].reshape(n, k, -1)
        if np.mean((blocks == blocks[:, :1]).all(1)) >= BLOCK_SHARE:
            return o
    return None


def stack_origin(data: np.ndarray, names: list[str], pixel: int = 10) -> tuple[int, int]:
    """``(row, col)`` where a stack's coarse pixels start: the first offset on which every set
    repeated by nearest neighbour (eo-learn's: 20 m pixels from row 1, 60 m from row 5) has a
    block edge; ``(0, 0)`` for sets interpolated onto the grid (SEN12MS), whose edges cannot be seen."""
    sets = {res // pixel: names.index(g[0]) for res, g in band_sets(names).items() if res > pixel}
    out = []
    for axis in (0, 1):
        phases = {k: block_phase(data[i], k, axis) for k, i in sets.items()}
        phases = {k: p for k, p in phases.items() if p is not None}
        step = max(sets, default=1)
        out.append(next((o for o in range(step) if all(o % k == p for k, p in phases.items())), 0))
    return out[0], out[1]


def native_sets(data: np.ndarray, valid: np.ndarray, names: list[str], grid: Grid | None = None,
                pixel: int = 10) -> dict[int, ProductBands]:
    """A stack of Sentinel-2 bands all on one ``pixel``-metre grid (``(C, H, W)`` reflectance)
    as its native band sets: each band averaged over ``resolution / pixel`` pixels a side from
    :func:`stack_origin` on, the stack cut to whole 60 m cells (so every set covers one extent).
    ``grid`` None: a plain image (pixel coordinates)."""
    sets = band_sets(names)
    step = max(sets) // pixel
    r0, c0 = stack_origin(data, names, pixel)
    h, w = (data.shape[1] - r0) // step * step, (data.shape[2] - c0) // step * step
    base = grid or Grid(None, Affine.identity(), data.shape[1], data.shape[2])
    base = Grid(base.crs, base.transform @ Affine.translation(c0, r0), h, w)
    out = {}
    for res, group in sets.items():
        k = res // pixel
        idx = [names.index(n) for n in group]
        cut = data[idx, r0:r0 + h, c0:c0 + w].astype(np.float32)
        cells = block_mean(valid[None, r0:r0 + h, c0:c0 + w].astype(np.float32), k)[0][0] == 1  # cells all valid
        g = Grid(base.crs, base.transform @ Affine.scale(k), h // k, w // k)
        out[res] = ProductBands(block_mean(cut, k)[0], cells, group, ["reflectance"] * len(group), g,
                                [_to_dn(0.0, QUANTIFICATION)] * len(group))
    return out
