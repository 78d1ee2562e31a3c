"""The test at the output's scale from the guides themselves (``learners/transfer.py``), run for both
guided kinds on one window of the fine grid: ``sharpen``'s guides and ``predict --reference``'s input
bands, read by strips as each kind reads them, cut to whole cells of the reference where the fine grid
lies on its cells, at most :data:`~bandbridge.policy.TRANSFER_PIXELS` pixels (the test's work is
bounded, whatever the size of the output)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from bandbridge.data.grids import Grid
from bandbridge.inference.place.fields import Lattice
from bandbridge.learners.transfer import Evidence, evidence
from bandbridge.policy import TRANSFER_PIXELS

Rows = Callable[[int, int], tuple[np.ndarray, np.ndarray]]  # rows [a, b) → (values (C, b − a, W), valid (b − a, W))


def span(n: int, side: int, k: int, off: int) -> tuple[int, int]:
    """``[a, b)`` of at most ``side`` of ``n`` pixels, centred, starting on a cell's edge (``off``: the first
    pixel's place in its cell of ``k``) and holding whole cells."""
    side = min(n, side) // k * k
    a = max(0, (n - side) // 2)
    a += (-(a + off)) % k  # onto the next cell edge
    if a + side > n:
        a -= k * -(-(a + side - n) // k)
    a = max(a, 0)
    return a, a + min(side, (n - a) // k * k)


def fine_window(rows: Rows, fine: Grid, grid: Grid, k: float, to_model=None) -> tuple[np.ndarray, int]:
    """``(x (C, h, w), k)``: a central window of the fine bands (model values by ``to_model``; NaN where any is
    invalid), of whole reference cells of ``k`` pixels where the fine grid lies on them (else ``k`` rounded)."""
    lat = Lattice.of(fine, grid)
    kk = lat.k if isinstance(lat, Lattice) else max(2, int(round(k)))
    off = lat.off if isinstance(lat, Lattice) else (0, 0)
    side = int(TRANSFER_PIXELS ** 0.5)
    a, b = span(fine.height, side, kk, off[0])
    c, d = span(fine.width, side, kk, off[1])
    values, valid = rows(a, b)
    x = values[:, :, c:d].astype(np.float32)
    if to_model is not None:
        x = to_model(x)
    return np.where(valid[None, :, c:d], x, np.float32(np.nan)).astype(np.float32), kk


def test(rows: Rows, fine: Grid, grid: Grid, k: float, names: list[str], to_model=None) -> Evidence:
    """The guides' evidence at the output's scale over :func:`fine_window`."""
    x, kk = fine_window(rows, fine, grid, k, to_model)
    return evidence(x, kk, names)
