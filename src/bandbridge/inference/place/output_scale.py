"""The one window of the fine grid both guided kinds read: the guides' test at the output's scale
(``learners/transfer.py``) and the fit learned area to point (``learners/area.py``) take it. It holds
``sharpen``'s guides and ``predict --reference``'s input bands, read by strips as each kind reads them,
cut to whole cells of the reference where the fine grid lies on its cells, at most
:data:`~bandbridge.policy.TRANSFER_PIXELS` pixels (the work bounded, whatever the size of the output)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from bandbridge.data.grids import Grid
from bandbridge.inference.place.fields import Lattice
from bandbridge.learners.area import Fine
from bandbridge.policy import TRANSFER_PIXELS

Rows = Callable[[int, int], tuple[np.ndarray, np.ndarray]]  # rows [a, b) → (values (C, b − a, W), valid (b − a, W))


def span(n: int, side: int, k: int, off: int) -> tuple[int, int]:
    """``[a, b)`` of at most ``side`` of ``n`` pixels, centred, holding whole cells of ``k`` (``off``: the first
    pixel's place in its cell, so a cell's first pixel is one where ``(i + off) % k == 0``)."""
    first = (-off) % k  # the first pixel on a cell's edge
    cells = max(0, (n - first) // k)
    take = min(side // k, cells)
    a = first + (cells - take) // 2 * k
    return a, a + take * k


def window(rows: Rows, fine: Grid, grid: Grid, k: float, to_model=None) -> tuple[np.ndarray, int, Fine | None]:
    """``(x (C, h, w), k, Fine)``: a central window of the fine bands (model values by ``to_model``; NaN where any is
    invalid), of whole reference cells of ``k`` pixels where the fine grid lies on them (else ``k`` rounded), and the
    same window as ``area.Fine`` (its first cell's place in ``grid``) where the fine grid lies on the reference's
    cells (else None: the fit is then learned on the bands averaged onto the grid)."""
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
    x = np.where(valid[None, :, c:d], x, np.float32(np.nan)).astype(np.float32)
    return x, kk, Fine(x, kk, ((a + off[0]) // kk, (c + off[1]) // kk)) if isinstance(lat, Lattice) else None

