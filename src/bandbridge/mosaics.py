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


def make_mosaic(naip_dir: Path, out: Path, size: int = 8192) -> Path:
    """A ``size × size`` 4-band NAIP mosaic tiled from the real NAIP scenes (dates side by side),
    georeferenced on the first scene's grid."""
    import rasterio
    from rasterio.transform import Affine
    files = sorted(naip_dir.glob("*.tif"))
    if not files:
        raise FileNotFoundError(f"no NAIP .tif files in {naip_dir}")
    with rasterio.open(files[0]) as s0:
        prof = s0.profile | {"height": size, "width": size, "tiled": True, "blockxsize": 512,
                             "blockysize": 512, "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        tr: Affine = s0.transform
        h0, w0 = s0.height, s0.width
    k = 0
    with rasterio.open(out, "w", **prof) as dst:
        for r in range(0, size, h0):
            for c in range(0, size, w0):
                with rasterio.open(files[k % len(files)]) as src:
                    a = src.read()
                k += 1
                hh, ww = min(h0, size - r, a.shape[1]), min(w0, size - c, a.shape[2])
                dst.write(a[:, :hh, :ww], window=rasterio.windows.Window(c, r, ww, hh))
    return out


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


def make_sar_mosaic(folder: Path, out: Path, size: int = 8192) -> Path:
    """A ``size × size`` 2-band float32 Sentinel-1 raster (VV, VH in dB) tiled from the real S1
    files in ``folder`` (flipped as :func:`tile_scenes` does), on the first file's grid."""
    import rasterio
    scenes = []
    for f in sorted(Path(folder).glob("*.tif")):
        with rasterio.open(f) as src:
            scenes.append(src.read().astype(np.float32))
            if len(scenes) == 1:
                crs, tr = src.crs, src.transform
    if not scenes:
        raise FileNotFoundError(f"no Sentinel-1 .tif files in {folder}")
    prof = {"driver": "GTiff", "height": size, "width": size, "count": scenes[0].shape[0],
            "dtype": "float32", "crs": crs, "transform": tr}
    return tile_scenes(scenes, out, size, prof, ("VV", "VH")[:scenes[0].shape[0]])


def tile_scenes(scenes: list[np.ndarray], out: Path, size: int, prof: dict, names: tuple[str, ...]) -> Path:
    """Write ``scenes`` (``(C, h, w)`` arrays) side by side into a ``size × size`` tiled GeoTIFF
    ``out`` (``prof``: its dtype, CRS, transform), alternating, each copy flipped differently so
    neighbouring tiles are not identical."""
    import rasterio
    prof = prof | {"tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
                   "BIGTIFF": "IF_SAFER"}
    k = 0
    with rasterio.open(out, "w", **prof) as dst:
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
