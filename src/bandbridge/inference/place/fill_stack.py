"""The fill's raw inputs stacked on the scene's grid, the input of the fit's bundle: a VRT of the dates' bands (in
model values, by the VRT's source scaling), SAR's VV and VH (scaled into about [0, 1]) and the **flags** the strip
pass writes (a bit a date clear there, two a SAR file holding VV, VH), from which ``models/fill_design.FillDesign``
computes the design per tile and per window (:meth:`Stack.design`): fit and serve read one code path. What GDAL
cannot name as ``fill_rows`` reads it (a cube's step, ``.npy``) is written onto the scene's grid first.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from bandbridge.inference.place.fill_rows import (RowReader, band_sources, part, placement, same_grid,
                                                 warped_text, warps)
from bandbridge.policy import FILL_RESAMPLING

FAST = {"compress": "none", "predictor": "1"}  # work files: written once, read a few times, never kept


def direct(r: RowReader, grid) -> bool:
    """Whether the VRT can name ``r``'s data bands as they are: GDAL files (a file, a band folder's) on any
    pixel size or origin, in the scene's CRS or (by a warped VRT) another."""
    g = r.layer.grid
    return (placement(g, grid) is not None or warps(g, grid)) and band_sources(r.item, tuple(r.data)) is not None


def sources(r: RowReader, grid, bands: list[int], scale: tuple[float, float], nodata, beside: Path) -> list[list]:
    """Per band of ``bands`` (file indices) of ``r`` (:func:`direct`) its VRT source on ``grid``, in model
    values by ``scale``: as it is on the scene's grid, else resampled as ``fill_rows.placed`` reads it (a
    warped VRT written in the folder ``beside``)."""
    import hashlib

    from bandbridge.inference.interop.vrt import Source
    if same_grid(r.layer.grid, grid):
        return [[Source(f, b, scale=scale, nodata=nodata)] for f, b, _ in band_sources(r.item, tuple(bands))]
    if warps(r.layer.grid, grid):
        out = []
        for f, b, nd in band_sources(r.item, tuple(bands)):
            w = beside / f"warp-{hashlib.sha1(str(Path(f).resolve()).encode()).hexdigest()[:12]}.vrt"
            w.write_text(warped_text(f, nd, grid))
            out.append([Source(w, b, scale=scale, nodata=float("nan"))])
        return out
    rect, whole = placement(r.layer.grid, grid), (0, 0, grid.width, grid.height)
    return [[Source(f, b, whole, rect, scale=scale, nodata=nd, resampling=FILL_RESAMPLING)]
            for f, b, nd in band_sources(r.item, tuple(bands))]


def pack(oks: list[np.ndarray], bits: int) -> np.ndarray:
    """Booleans ``(h, w)`` each → the flag bands ``(n, h, w)`` (bit ``k`` in band ``k // bits``)."""
    n = max(1, -(-len(oks) // bits))
    out = np.zeros((n, *oks[0].shape) if oks else (1, 0, 0), np.uint8 if bits == 8 else np.uint16)
    for k, ok in enumerate(oks):
        out[k // bits] |= (ok.astype(out.dtype) << (k % bits))
    return out


@dataclass
class StackFiles:
    """The files the strip pass writes for the stack: the flags, and the inputs the VRT cannot name
    (``copies``: key → path, bands)."""

    flags: Path
    bits: int
    n_flags: int
    copies: dict = field(default_factory=dict)
    _open: dict = field(default_factory=dict)

    @contextmanager
    def opened(self, g) -> Iterator["StackFiles"]:
        """The files open for writing on the scene's grid ``g``, closed at the end."""
        import rasterio

        from bandbridge.inference.core.writer import output_profile
        for key, (path, dtype, n) in [("flags", (self.flags, "uint8" if self.bits == 8 else "uint16", self.n_flags)),
                                      *((k, (p, "float32", n)) for k, (p, n) in self.copies.items())]:
            prof = {**output_profile(g.crs, g.transform, g.height, g.width, n, dtype, 1, FAST), "nodata": None}
            self._open[key] = rasterio.open(path, "w", **prof)
        try:
            yield self
        finally:
            for d in self._open.values():
                d.close()
            self._open.clear()

    def write(self, a: int, values: dict[str, np.ndarray]) -> None:
        """Rows from ``a`` of each file (``flags`` and the copies' keys)."""
        from rasterio.windows import Window
        for key, v in values.items():
            d = self._open[key]
            d.write(v, window=Window(0, a, d.width, v.shape[1]))


@dataclass
class Stack:
    """The stack's VRT, its bands' names and ``FillDesign``'s configuration (``channels`` left to the
    reader: every design channel for :meth:`design`, the fit's own in its bundle)."""

    vrt: Path
    names: list[str]
    cfg: dict
    _module: object = None

    def design(self, win: tuple[int, int, int, int]) -> np.ndarray:
        """The whole design ``(Ci, h, w)`` in model values over the window ``win`` (row, column,
        height, width) of the scene: the VRT read as the engine reads the bundle's input
        (``data/reader.read_raster``, ``minmax`` over the feed) and ``FillDesign`` on it."""
        import torch

        from bandbridge.bands import minmax_scaling
        from bandbridge.data.reader import read_raster
        from bandbridge.models.fill_design import FillDesign, all_channels
        if self._module is None:
            self._module = FillDesign({**self.cfg, "channels": list(range(all_channels(self.cfg)))}, fed=False).eval()
        x = read_raster(self.vrt, minmax_scaling(*self.cfg["feed"]), window=win).data
        with torch.inference_mode():
            return self._module(torch.from_numpy(np.ascontiguousarray(x))[None])[0].numpy()


def write_stack(out: Path, grid, dates: list[tuple[RowReader, list[int]]], sar: list[tuple[RowReader, list[int]]],
                files: StackFiles, units, scales: list[tuple[float, float]]) -> tuple[Path, list[str]]:
    """The stack's VRT (see the module docstring): ``dates`` each with its file band (0-based) per scene
    band (−1: it lacks it), ``sar`` the SAR files used with their VV, VH file bands (0-based) and their
    ``scales`` (``fill_design.sar_scale``),
    ``units`` the scene's model units (``fill_fit.Units``). Returns the VRT and its bands' names."""
    from bandbridge.inference.interop.vrt import Band, Source, write_vrt
    from bandbridge.learners.guided import HI, LO
    bands, names = [], []

    def nan(r: RowReader, copy) -> float | None:  # NaN left out (the band's 0 there: the flags say no value);
        # an integer file holds none, and the check costs its read a fifth (10980-wide strips, 3 files)
        return float("nan") if copy or np.dtype(r.layer.dtype).kind == "f" else None
    for i, (r, idx) in enumerate(dates):
        copy = files.copies.get(f"date {i}")
        for b, j in enumerate(idx):
            ratio = float((HI - LO) / units.span[b, 0, 0])
            scale = (ratio, float(LO - ratio * units.lo[b, 0, 0]))
            src = [] if j < 0 else [Source(copy[0], b + 1, scale=scale, nodata=nan(r, copy))] if copy else \
                sources(r, grid, [r.data[j]], scale, nan(r, copy), out.parent)[0]
            bands.append(Band("float32", src))
            names.append(f"date {i + 1} band {b + 1}")
    for k, ((s, vv_vh), scale) in enumerate(zip(sar, scales)):
        copy = files.copies.get(f"sar {k}")
        srcs = [[Source(copy[0], fb, scale=scale, nodata=nan(s, copy))] for fb in (1, 2)] if copy else \
            sources(s, grid, vv_vh, scale, nan(s, copy), out.parent)
        for pol, src in zip(("VV", "VH"), srcs):
            bands.append(Band("float32", src))
            names.append(f"SAR {k + 1} {pol}")
    for f in range(files.n_flags):
        bands.append(Band("float32", [Source(files.flags, f + 1, scale=(1.0 / 2 ** files.bits, 0.0))]))
        names.append(f"flags {f + 1}")
    return write_vrt(out, grid.width, grid.height, grid.crs, grid.transform, bands), names


Window = tuple[int, int, int, int]  # row, column, height, width of the scene


def bounds(mask: np.ndarray, margin: int) -> Window:
    """The window of the scene holding every pixel of ``mask`` and ``margin`` px round them (the
    context windows' reach: a pixel's features there are the whole scene's), clipped to it."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    h, w = mask.shape
    r0, c0 = max(int(rows[0]) - margin, 0), max(int(cols[0]) - margin, 0)
    return r0, c0, min(int(rows[-1]) + 1 + margin, h) - r0, min(int(cols[-1]) + 1 + margin, w) - c0


def stacked(guides: Path, channels: list[int], names: list[str], out: Path, grid, win: Window | None = None) -> Path:
    """A VRT of the stack's ``channels`` (``fill_stack.py``: the bundle's inputs, in its order), over the
    window ``win`` of the scene (all of it for None): no copy."""
    from bandbridge.inference.interop.vrt import Band, Source, write_vrt
    g = grid if win is None else part(grid, win)
    cut = {} if win is None else {"dst": (0, 0, g.width, g.height), "src": (win[1], win[0], g.width, g.height)}
    bands = [Band("float32", [Source(guides, i + 1, **cut)], None, n) for i, n in zip(channels, names)]
    return write_vrt(out, g.width, g.height, g.crs, g.transform, bands)


def only_mask(todo: np.ndarray, ring: int, grid, out: Path, win: Window | None = None) -> Path:
    """The tiles' mask (uint8 on ``grid``, or its window ``win``): the pixels to fill and ``ring``
    px round them (what the edge pass reads of the fit's output), written by strips (``place/fields.write_rows``)."""
    from scipy.ndimage import maximum_filter

    from bandbridge.inference.core.writer import output_profile
    from bandbridge.inference.place.fields import write_rows
    if win is not None:
        todo, grid = todo[win[0]:win[0] + win[2], win[1]:win[1] + win[3]], part(grid, win)
    h, w = todo.shape

    def strip(a: int, b: int) -> list[np.ndarray]:
        lo, hi = max(a - ring, 0), min(h, b + ring)
        return [maximum_filter(todo[lo:hi].view(np.uint8), size=2 * ring + 1, mode="constant")[a - lo:b - lo][None]]
    return write_rows(out, {**output_profile(grid.crs, grid.transform, h, w, 1, "uint8", 1, {"compress": "deflate"}),
                            "nodata": None}, strip)
