"""One raster in strips: each strip is predicted on its own (another process, another machine)
into its own GeoTIFF, then the strips are assembled into one output through a VRT.

A strip predicts the rows ``[r0, r1)`` with the whole raster's tiles and blending weights
(``PredictOptions.rows``), so the assembled raster equals the single-process prediction; the tile
rows at a boundary are computed by both strips.
"""

from __future__ import annotations

from pathlib import Path

import rasterio
from rasterio.shutil import copy as gdal_copy

from bandbridge.fileio import atomic_paths
from bandbridge.inference.interop.vrt import Band, Source, write_vrt


def strip_ranges(height: int, n: int) -> list[tuple[int, int]]:
    """``n`` row ranges of about equal height covering ``[0, height)`` (fewer if the raster is
    shorter than ``n`` rows)."""
    n = max(1, min(n, height))
    edges = [round(i * height / n) for i in range(n + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def stack_vrt(strips: list[Path], vrt: Path) -> Path:
    """A VRT stacking the strip GeoTIFFs (same width, bands and type; consecutive rows) into
    one raster on the first strip's grid."""
    with rasterio.open(strips[0]) as s0:
        width, count, dtype, nodata = s0.width, s0.count, s0.dtypes[0], s0.nodata
        crs, tr, names = s0.crs, s0.transform, s0.descriptions
    heights = []
    for p in strips:
        with rasterio.open(p) as s:
            heights.append(s.height)
    tops = [sum(heights[:i]) for i in range(len(strips))]
    bands = [Band(dtype, [Source(p, b, (0, top, width, h)) for p, top, h in zip(strips, tops, heights)],
                  nodata, names[b - 1]) for b in range(1, count + 1)]
    return write_vrt(vrt, width, sum(heights), crs, tr, bands)


def assemble(strips: list[Path], out: Path, cog: bool = False) -> Path:
    """Assemble strip GeoTIFFs into ``out`` (tiled, deflate; COG with ``cog``), written through
    a temporary file, with the first strip's band descriptions, colour interpretation and tags."""
    with rasterio.open(strips[0]) as s0:
        tags, names, colors = s0.tags(), s0.descriptions, s0.colorinterp
        pred = s0.profile.get("predictor", 2 if s0.dtypes[0] != "float32" else 3)
    opts = {"compress": "deflate", "predictor": pred, "BIGTIFF": "IF_SAFER"}
    opts |= {"driver": "COG"} if cog else {"driver": "GTiff", "tiled": True, "blockxsize": 256,
                                            "blockysize": 256}
    with atomic_paths([out]) as (tmp,):
        vrt = stack_vrt(strips, tmp.with_name(tmp.name + ".vrt"))
        try:
            gdal_copy(str(vrt), str(tmp), **opts)
        finally:
            vrt.unlink(missing_ok=True)
        if not cog:  # a COG is read-only once written; its descriptions come from the VRT
            with rasterio.open(tmp, "r+") as dst:
                dst.descriptions = names
                dst.colorinterp = colors
                dst.update_tags(**tags)
    return out
