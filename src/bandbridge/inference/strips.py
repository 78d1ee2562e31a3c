"""One raster in strips: each strip is predicted on its own (another process, another machine)
into its own GeoTIFF, then the strips are assembled into one output through a VRT.

A strip predicts the rows ``[r0, r1)`` with the whole raster's tiles and blending weights
(``PredictOptions.rows``), so the assembled raster equals the single-process prediction; the tile
rows at a boundary are computed by both strips.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import rasterio
from rasterio.shutil import copy as gdal_copy

from bandbridge.fileio import atomic_paths

_GDAL_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
               "int32": "Int32", "float32": "Float32", "float64": "Float64"}


def strip_ranges(height: int, n: int) -> list[tuple[int, int]]:
    """``n`` row ranges of about equal height covering ``[0, height)`` (fewer if the raster is
    shorter than ``n`` rows)."""
    n = max(1, min(n, height))
    edges = [round(i * height / n) for i in range(n + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def write_vrt(strips: list[Path], vrt: Path) -> Path:
    """A VRT stacking the strip GeoTIFFs (same width, bands and type; consecutive rows) into
    one raster on the first strip's grid."""
    with rasterio.open(strips[0]) as s0:
        width, count, dtype, nodata = s0.width, s0.count, s0.dtypes[0], s0.nodata
        crs, tr, names = s0.crs, s0.transform, s0.descriptions
    heights = []
    for p in strips:
        with rasterio.open(p) as s:
            heights.append(s.height)
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{sum(heights)}">']
    if crs is not None:
        lines.append(f"  <SRS>{escape(crs.to_wkt())}</SRS>")
        lines.append("  <GeoTransform>" + ", ".join(repr(v) for v in tr.to_gdal()) + "</GeoTransform>")
    for b in range(1, count + 1):
        lines.append(f'  <VRTRasterBand dataType="{_GDAL_TYPES[dtype]}" band="{b}">')
        if nodata is not None:
            lines.append(f"    <NoDataValue>{nodata!r}</NoDataValue>")
        if names[b - 1]:
            lines.append(f"    <Description>{escape(names[b - 1])}</Description>")
        row = 0
        for p, h in zip(strips, heights):
            lines += ["    <SimpleSource>",
                      f'      <SourceFilename relativeToVRT="0">{escape(str(Path(p).resolve()))}</SourceFilename>',
                      f"      <SourceBand>{b}</SourceBand>",
                      f'      <SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{h}"/>',
                      f'      <DstRect xOff="0" yOff="{row}" xSize="{width}" ySize="{h}"/>',
                      "    </SimpleSource>"]
            row += h
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    vrt.write_text("\n".join(lines) + "\n")
    return vrt


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
        vrt = write_vrt(strips, tmp.with_name(tmp.name + ".vrt"))
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
