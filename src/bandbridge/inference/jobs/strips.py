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
from bandbridge.inference.core.writer import cog_options, output_profile
from bandbridge.inference.interop.vrt import Band, Source, write_vrt


def strip_ranges(height: int, n: int) -> list[tuple[int, int]]:
    """``n`` row ranges of about equal height covering ``[0, height)`` (fewer if the raster is
    shorter than ``n`` rows)."""
    n = max(1, min(n, height))
    edges = [round(i * height / n) for i in range(n + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def stack_vrt(strips: list[Path], vrt: Path) -> Path:
    """A VRT stacking the strip GeoTIFFs (same width, bands and type; consecutive rows) into
    one raster on the first strip's grid, with its tags, descriptions and colours."""
    with rasterio.open(strips[0]) as s0:
        width, count, dtype, nodata = s0.width, s0.count, s0.dtypes[0], s0.nodata
        crs, tr, names, tags = s0.crs, s0.transform, s0.descriptions, s0.tags()
        colors = [c.name.capitalize() for c in s0.colorinterp]
    heights = []
    for p in strips:
        with rasterio.open(p) as s:
            heights.append(s.height)
    tops = [sum(heights[:i]) for i in range(len(strips))]
    bands = [Band(dtype, [Source(p, b, (0, top, width, h)) for p, top, h in zip(strips, tops, heights)],
                  nodata, names[b - 1], colors[b - 1]) for b in range(1, count + 1)]
    return write_vrt(vrt, width, sum(heights), crs, tr, bands, tags)


def assemble(strips: list[Path], out: Path, cog: bool = False,
             creation: dict[str, str] | None = None) -> Path:
    """Assemble strip GeoTIFFs into ``out`` (tiled, deflate; COG with ``cog``; ``creation``:
    the user's ``-co`` in place of ours), written through a temporary file, with the first
    strip's band descriptions, colour interpretation and tags (the ``bandbridge_*`` tags that
    mark it as an output, COG included)."""
    with rasterio.open(strips[0]) as s0:
        tags, names, colors, dtype = s0.tags(), s0.descriptions, s0.colorinterp, s0.dtypes[0]
    opts = cog_options(dtype, creation) if cog else output_profile(
        None, None, 256, 256, 1, dtype, creation=creation)
    opts = {k: v for k, v in opts.items() if k not in ("height", "width", "count", "dtype", "nodata")}
    with atomic_paths([out]) as (tmp,):
        vrt = stack_vrt(strips, tmp.with_name(tmp.name + ".vrt"))
        try:
            gdal_copy(str(vrt), str(tmp), **opts)
        finally:
            vrt.unlink(missing_ok=True)
        if not cog:  # the GTiff driver sets its photometric tag from the first bands: set again
            with rasterio.open(tmp, "r+") as dst:
                dst.descriptions = names
                dst.colorinterp = colors
                dst.update_tags(**tags)
    return out
