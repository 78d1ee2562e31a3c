"""A quicklook PNG of a written raster (``--preview PATH.png`` on ``predict``, ``sharpen`` and ``fill``): its red,
green and blue bands where it has all three (by their names, ``bands.band_role``), else its first band in grey,
each stretched by the project's one display stretch (``stretch.py``) and downsampled to at most
:data:`~bandbridge.policy.PREVIEW_PX` on the long side. The raster is read by strips of the preview's rows, each
averaged down by GDAL as it is read (its overviews where it has them), so a 10980² output is never held whole;
the PNG is written atomically (``fileio``). :func:`check_preview` is the output guard, before any work."""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from bandbridge.errors import BandbridgeError
from bandbridge.policy import PREVIEW_PX

STRIP_ROWS = 64  # preview rows read at a time: at most 64 × the scale rows of the raster in GDAL's cache


def check_preview(preview: str | Path | None, inputs: Sequence[str | Path | None], output: str | Path,
                  overwrite: bool, command: str) -> None:
    """Refuse, before any work and in one line naming ``--preview``, a preview path that is not a ``.png``, is
    the output (``-o``) or anything the run reads (``inputs`` as named; a ``FILE#clear`` suffix left off), or
    exists without ``--overwrite`` (``data/reads.check_output_file``, the one output guard)."""
    from bandbridge.data.reads import check_output_file
    from bandbridge.fileio import check_output_suffix
    if preview is None:
        return
    p = Path(preview)
    if p.resolve() == Path(output).resolve():
        raise BandbridgeError(f"--preview {preview} is the output (-o {output}); give the quicklook its own .png path")
    named = [str(x).split("#", 1)[0] if "#" in str(x) and not Path(str(x)).exists() else x for x in inputs if x]
    check_output_file(p, named, overwrite, flag="--preview")  # an input first: the worse mistake
    check_output_suffix(p, {".png": "PNG"}, command, "--preview")


def shown_bands(names: Sequence[str | None]) -> list[int]:
    """The 1-based bands a quicklook shows: red, green, blue where every one is named, else the first."""
    from bandbridge.bands import band_role
    roles = [band_role(n) if n else "other" for n in names]
    rgb = [roles.index(r) + 1 for r in ("red", "green", "blue") if r in roles]
    return rgb if len(rgb) == 3 else [1]


def preview_size(height: int, width: int, most: int = PREVIEW_PX) -> tuple[int, int]:
    """``(rows, columns)`` of the quicklook: the raster's, scaled so its long side is at most ``most``."""
    scale = max(height, width) / most
    if scale <= 1:
        return height, width
    return max(1, round(height / scale)), max(1, round(width / scale))


def _read(path: Path, bands: list[int], rows: int, cols: int) -> np.ndarray:
    """``bands`` of ``path`` averaged down to ``(len(bands), rows, cols)`` float32, NaN where masked, by strips."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window
    out = np.full((len(bands), rows, cols), np.nan, np.float32)
    with rasterio.open(path) as s:
        step = s.height / rows
        for a in range(0, rows, STRIP_ROWS):
            b = min(rows, a + STRIP_ROWS)
            r0, r1 = int(round(a * step)), min(s.height, int(round(b * step)))
            win = Window(0, r0, s.width, max(1, r1 - r0))
            v = s.read(bands, window=win, out_shape=(len(bands), b - a, cols), masked=True,
                       resampling=Resampling.average)
            out[:, a:b] = np.ma.filled(v.astype(np.float32), np.nan)
    return out


def write_preview(raster: str | Path, png: str | Path, overwrite: bool = True) -> tuple[int, int]:
    """The quicklook of ``raster`` written to ``png`` (see the module docstring); its ``(rows, columns)``."""
    import rasterio
    from PIL import Image

    from bandbridge.fileio import atomic_write_bytes
    from bandbridge.stretch import stretch
    with rasterio.open(raster) as s:
        bands, (rows, cols) = shown_bands(s.descriptions), preview_size(s.height, s.width)
    v = _read(Path(raster), bands, rows, cols)
    st = stretch(v, "")  # one range for the three bands: their colours kept as they are relative to each other
    img = np.clip((v - st.lo) / (st.hi - st.lo), 0, 1)
    img = np.where(np.isfinite(img), np.round(img * 255), 0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img[0] if len(bands) == 1 else np.moveaxis(img, 0, -1)).save(buf, format="PNG")
    if Path(png).exists() and not overwrite:
        raise BandbridgeError(f"--preview {png} already exists; add --overwrite to replace it")
    atomic_write_bytes(Path(png), buf.getvalue())
    return rows, cols


@contextmanager
def previewed(preview: str | None, inputs: Sequence[str | Path | None], output: str | Path, overwrite: bool,
              command: str, plan_only: bool = False) -> Iterator[None]:
    """A command's ``--preview``: checked before the block (:func:`check_preview`; one output file only), the
    quicklook of ``output`` written after it where the block wrote it (not under ``--plan``)."""
    if preview is not None and Path(output).suffix.lower() not in (".tif", ".tiff"):
        raise BandbridgeError(f"--preview {preview}: a quicklook is of one output file; give -o a .tif path "
                              f"(not {output})")
    check_preview(preview, inputs, output, overwrite, command)
    yield
    if preview is not None and not plan_only and Path(output).is_file():
        write_preview(output, preview)
