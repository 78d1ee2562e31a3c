"""The real-sized rasters ``bandbridge bench`` measures on, tiled from real scenes and built once
in the temp folder: an 8-bit NAIP mosaic for 8-bit models, a Sentinel-1 (dB) mosaic for SAR
models, a Sentinel-2-sized reflectance mosaic for the others."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

NAIP_SCENES = "nir_naip_opengeos"
S2_SCENES = ("nir_s2_majortom", "nir_s2_riotilerpds/S2A_29RKH_20200219_L2A_100m")
SAR_SCENES = "sar_sen12mscr_glfcr/s1"


def mosaic_kind(scaling: str) -> str:
    """The mosaic a model's input reads (its input scaling): NAIP for 8-bit, Sentinel-1 for SAR
    in dB, Sentinel-2 for reflectance."""
    return "naip" if scaling == "uint8" else "sar" if scaling.startswith("sar") else "s2"


def scene_folders(data: str | Path, kind: str) -> list[Path]:
    """The folders of ``data`` (the dev data) the ``kind`` mosaics are tiled from."""
    return {"naip": [Path(data) / NAIP_SCENES], "sar": [Path(data) / SAR_SCENES]}.get(
        kind, [Path(data) / s for s in S2_SCENES])


def mosaic(data: str | Path, kind: str, size: int, say=print) -> Path:
    """The ``size``² ``kind`` mosaic in the temp folder, built from the scenes in ``data`` unless
    it is there already (``say(line)`` hears when it is built)."""
    p = Path(tempfile.gettempdir()) / f"bandbridge-{kind}-mosaic-{size}.tif"
    if not p.exists():
        say(f"building {p} from the real {kind.upper()} scenes in {data} …")
        folders = scene_folders(data, kind)
        if kind == "naip":
            make_mosaic(folders[0], p, size)
        elif kind == "sar":
            make_sar_mosaic(folders[0], p, size)
        else:
            make_s2_mosaic(folders, p, size)
    return p


def make_s2_mosaic(folders: list[Path], out: Path, size: int = 10980) -> Path:
    """A ``size × size`` 3-band uint16 (reflectance × 10000) raster the size of a Sentinel-2
    tile, tiled from the real B04/B03/B02 files of the given band folders (alternating, each
    copy flipped differently so neighbouring tiles are not identical), georeferenced on the first
    folder's grid."""
    import rasterio
    scenes = []
    for f in folders:
        bands = []
        for b in ("B04", "B03", "B02"):
            with rasterio.open(Path(f) / f"{b}.tif") as src:
                bands.append(src.read(1))
                if not scenes and b == "B04":
                    crs, tr = src.crs, src.transform
        h = min(a.shape[0] for a in bands)
        w = min(a.shape[1] for a in bands)
        scenes.append(np.stack([a[:h, :w] for a in bands]).astype(np.uint16))
    prof = {"driver": "GTiff", "height": size, "width": size, "count": 3, "dtype": "uint16",
            "crs": crs, "transform": tr, "nodata": 0}
    return tile_scenes(scenes, out, size, prof, ("B04", "B03", "B02"))


def make_mosaic(naip_dir: Path, out: Path, size: int = 8192) -> Path:
    """A ``size × size`` 4-band NAIP mosaic tiled from the real NAIP scenes by :func:`tile_scenes`,
    georeferenced on the first scene's grid."""
    return _files_mosaic(naip_dir, out, size, "NAIP")


def make_sar_mosaic(folder: Path, out: Path, size: int = 8192) -> Path:
    """A ``size × size`` 2-band float32 Sentinel-1 raster (VV, VH in dB) tiled from the real S1
    files in ``folder`` by :func:`tile_scenes`, on the first file's grid."""
    return _files_mosaic(folder, out, size, "Sentinel-1", np.float32, ("VV", "VH"))


def _files_mosaic(folder: Path, out: Path, size: int, what: str, dtype=None, names: tuple[str, ...] = ()) -> Path:
    """The ``*.tif`` scenes of ``folder`` (as stored, or as ``dtype``) tiled by :func:`tile_scenes`
    on the first one's profile; ``names``: the band descriptions."""
    import rasterio
    scenes, prof = [], {}
    for f in sorted(Path(folder).glob("*.tif")):
        with rasterio.open(f) as src:
            scenes.append(src.read().astype(dtype or src.dtypes[0]))
            prof = prof or src.profile | {"dtype": str(scenes[0].dtype), "height": size, "width": size}
    if not scenes:
        raise FileNotFoundError(f"no {what} .tif files in {folder}")
    return tile_scenes(scenes, out, size, prof, names[:scenes[0].shape[0]])


def tile_scenes(scenes: list[np.ndarray], out: Path, size: int, prof: dict, names: tuple[str, ...]) -> Path:
    """Write ``scenes`` (``(C, h, w)`` arrays) side by side into a ``size × size`` tiled GeoTIFF
    ``out`` (``prof``: its dtype, CRS, transform), alternating, each copy flipped differently so
    neighbouring tiles are not identical."""
    import rasterio
    prof = prof | {"tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
                   "BIGTIFF": "IF_SAFER"}
    k = 0
    with rasterio.open(out, "w", **prof) as dst:
        if names:
            dst.descriptions = names
        r = 0
        while r < size:
            c, rh = 0, 0
            while c < size:
                a = scenes[k % len(scenes)]
                a = a[:, ::-1] if k // len(scenes) % 2 else a
                a = a[:, :, ::-1] if k // (2 * len(scenes)) % 2 else a
                k += 1
                hh, ww = min(a.shape[1], size - r), min(a.shape[2], size - c)
                dst.write(np.ascontiguousarray(a[:, :hh, :ww]), window=rasterio.windows.Window(c, r, ww, hh))
                c += ww
                rh = max(rh, hh)
            r += rh
    return out
