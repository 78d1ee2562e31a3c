"""The one writer of a prediction's rasters (:func:`opened`): the output and the rasters beside it
(indices, the expected error) written under temporary names and renamed into place whole, or
removed with a one-line error. A pass that computes its output strip by strip from what was
predicted (the reference's per-cell correction, a fill's edge and ``FILLED`` band) writes with
:func:`write_strips`, encoded by the one encoder (``writer.store``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import rasterio
from rasterio.windows import Window

from bandbridge.data.reader import STREAM_CACHE_BYTES
from bandbridge.fileio import atomic_paths
from bandbridge.inference.core.writer import (PICTURES, WRITE_ERRORS, open_output, store, to_cog, to_picture,
                                              verify_written, write_failure)

ROWS = 1024  # rows a strip pass computes and writes at a time: whole-image copies would double its peak


@dataclass
class Rasters:
    """The open rasters of one prediction: ``main`` and the ``extras`` beside it (one band each)."""

    main: object
    extras: list
    out: Path  # the name the main raster will have (errors name it)

    def write(self, win: Window, stored: np.ndarray, extra: list[np.ndarray], valid: np.ndarray) -> None:
        """``stored (C, h, w)`` (already in the main raster's type) and one float32 ``(h, w)``
        raster per extra, NaN outside ``valid``, into ``win``."""
        try:
            self.main.write(stored, window=win)
            for d, v in zip(self.extras, extra):
                v = v.astype(np.float32)
                v[~valid] = np.nan
                d.write(v[None], window=win)
        except WRITE_ERRORS as e:  # a full disk, usually: one line
            raise write_failure(self.out, e) from None


@contextmanager
def opened(paths: list[Path], main: dict, extra: dict, replace: bool, cog: bool = False,
           creation: dict[str, str] | None = None, setup: Callable[[Rasters], None] = lambda r: None
           ) -> Iterator[Rasters]:
    """Open ``paths`` (the output, then its extras) under temporary names with the profiles
    ``main`` and ``extra``; ``setup`` names and tags them; yield them for writing; then close,
    make COG (``cog``, with the ``creation`` options) or the picture the output's suffix names,
    read each back and rename all into place. Nothing is left under an output name on failure."""
    with rasterio.Env(GDAL_CACHEMAX=STREAM_CACHE_BYTES), atomic_paths(paths, replace) as temps:
        dsts = [open_output(temps[0], main)] + [open_output(t, extra) for t in temps[1:]]
        try:
            r = Rasters(dsts[0], dsts[1:], paths[0])
            setup(r)
            yield r
            try:
                for d in dsts:
                    d.close()  # errors of the last flush are write errors too
            except WRITE_ERRORS as e:
                raise write_failure(paths[0], e) from None
        finally:
            for d in dsts:
                if not d.closed:
                    d.close()
        try:
            if cog:
                for t in temps:
                    to_cog(t, creation)
            if paths[0].suffix.lower() in PICTURES:
                to_picture(temps[0], paths[0])
        except WRITE_ERRORS as e:
            raise write_failure(paths[0], e) from None
        for t, p in zip(temps, paths):
            verify_written(t, p)


@dataclass
class Strip:
    """Rows of an output as a strip pass computes them."""

    values: np.ndarray  # (C, h, w) the main raster's bands in stored units, floats (NaN: unknown)
    valid: np.ndarray  # (h, w) where the output holds a value (nodata elsewhere)
    extra: list[np.ndarray] = field(default_factory=list)  # (h, w) one float32 raster per extra
    codes: np.ndarray | None = None  # (k, h, w) bands already in the main raster's type, after the encoded
    # ones: codes no nodata rule may move (the fill's FILLED: 0 neither, where nodata is 0 too)


def write_strips(rasters: Rasters, height: int, width: int, strip: Callable[[int, int], Strip], dtype: str,
                 nodata: float | None = None, tick: Callable[[], None] = lambda: None, rows: int = ROWS) -> None:
    """The one strip pass: rows ``[a, b)`` of an output of ``height × width``, ``rows`` at a time,
    computed by ``strip(a, b)`` (the caller's correction of what was predicted, and its extra
    rasters), encoded into ``dtype`` by ``writer.store`` (one nodata rule: ``nodata``, else NaN for
    floats and 0 for integers) and written into ``rasters`` (:func:`opened`) while the next strip
    is computed (one writer thread: at most one strip waits, memory stays bounded); ``tick()``
    after each strip."""
    from concurrent.futures import ThreadPoolExecutor

    def put(a: int, s: Strip) -> None:
        stored = store(s.values, s.valid, dtype, nodata)
        stored = stored if s.codes is None else np.concatenate([stored, s.codes.astype(dtype)])
        rasters.write(Window(0, a, width, s.values.shape[1]), stored, s.extra, s.valid)
    with ThreadPoolExecutor(1) as writer:  # compression beside the next strip's compute
        pending = None
        for a in range(0, height, rows):
            s = strip(a, min(height, a + rows))
            if pending is not None:
                pending.result()
            pending = writer.submit(put, a, s)
            tick()
        if pending is not None:
            pending.result()
