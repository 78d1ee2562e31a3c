"""GDAL VRT documents: one raster made of other files' bands, written as XML (GDAL reads it like
any raster). Used to stack strips into one output (``strips.py``) and a STAC Item's band assets
into one input (``stac.py``), and the fill's inputs named on the scene's grid (``place/fill_stack.py``,
``place/fill_rows.py``: another pixel size or origin, resampled by GDAL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

GDAL_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
              "int32": "Int32", "float32": "Float32", "float64": "Float64"}


@dataclass
class Source:
    path: Path
    band: int  # 1-based band of ``path``
    dst: tuple[int, int, int, int] | None = None  # (x, y, width, height) it fills; None: all of it
    src: tuple[float, float, float, float] | None = None  # (x, y, width, height) of ``path`` read into
    # ``dst``, resampled (``resampling``) where the sizes differ; None: ``dst``'s size from the corner
    scale: tuple[float, float] | None = None  # (ratio, offset): the value read is ``stored · ratio + offset``
    # (a ComplexSource); None: as stored
    nodata: float | None = None  # stored values left out (NaN too): the band's own value there (0 without one)
    resampling: str | None = None  # GDAL's resampling where ``src`` and ``dst`` differ in size or by a fraction of
    # a pixel ("bilinear", "nearest", ...; a pixel whose kernel touches ``nodata`` is left out); None: nearest


@dataclass
class Band:
    dtype: str
    sources: list[Source] = field(default_factory=list)
    nodata: float | None = None
    description: str | None = None
    color: str | None = None  # GDAL colour interpretation: Red, Green, Blue, Gray, Undefined
    scale: tuple[float, float] | None = None  # (scale, offset) the band states (its values unchanged: a reader
    # maps stored · scale + offset, as a STAC asset's raster:bands says); None: none stated


def write_vrt(path: Path, width: int, height: int, crs, transform, bands: list[Band],
              metadata: dict[str, str] | None = None) -> Path:
    """Write the VRT of ``bands`` on a ``width × height`` grid (``crs``/``transform`` or none),
    with dataset ``metadata`` (tags: a copy made from the VRT carries them). A source path
    under ``/vsi…`` (``/vsicurl/https://…``) is GDAL's and kept as written."""
    Path(path).write_text(vrt_text(width, height, crs, transform, bands, metadata))
    return Path(path)


def vrt_text(width: int, height: int, crs, transform, bands: list[Band], metadata: dict[str, str] | None = None) -> str:
    """The XML :func:`write_vrt` writes (GDAL opens the text itself as a dataset, no file needed)."""
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if crs is not None:
        lines += [f"  <SRS>{escape(crs.to_wkt())}</SRS>",
                  "  <GeoTransform>" + ", ".join(repr(v) for v in transform.to_gdal()) + "</GeoTransform>"]
    if metadata:
        lines += ["  <Metadata>"] + [f'    <MDI key="{escape(k, {chr(34): "&quot;"})}">{escape(str(v))}</MDI>'
                                     for k, v in metadata.items()] + ["  </Metadata>"]
    for k, b in enumerate(bands, 1):
        lines.append(f'  <VRTRasterBand dataType="{GDAL_TYPES[b.dtype]}" band="{k}">')
        if b.nodata is not None:
            lines.append(f"    <NoDataValue>{b.nodata!r}</NoDataValue>")
        if b.description:
            lines.append(f"    <Description>{escape(b.description)}</Description>")
        if b.color:
            lines.append(f"    <ColorInterp>{escape(b.color)}</ColorInterp>")
        if b.scale is not None:
            lines += [f"    <Offset>{b.scale[1]!r}</Offset>", f"    <Scale>{b.scale[0]!r}</Scale>"]
        for s in b.sources:
            where = str(s.path) if str(s.path).startswith("/vsi") else str(Path(s.path).resolve())
            kind = "ComplexSource" if s.scale is not None or s.nodata is not None else "SimpleSource"
            how = f' resampling="{escape(s.resampling)}"' if s.resampling else ""
            lines += [f"    <{kind}{how}>",
                      f'      <SourceFilename relativeToVRT="0">{escape(where)}</SourceFilename>',
                      f"      <SourceBand>{s.band}</SourceBand>"]
            if s.dst is not None:
                x, y, w, h = s.dst
                sx, sy, sw, sh = s.src or (0, 0, w, h)
                lines += [f'      <SrcRect xOff="{sx!r}" yOff="{sy!r}" xSize="{sw!r}" ySize="{sh!r}"/>',
                          f'      <DstRect xOff="{x}" yOff="{y}" xSize="{w}" ySize="{h}"/>']
            if s.nodata is not None:
                lines.append(f"      <NODATA>{'nan' if s.nodata != s.nodata else repr(s.nodata)}</NODATA>")
            if s.scale is not None:
                lines += [f"      <ScaleOffset>{s.scale[1]!r}</ScaleOffset>", f"      <ScaleRatio>{s.scale[0]!r}</ScaleRatio>"]
            lines.append(f"    </{kind}>")
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    return "\n".join(lines) + "\n"
