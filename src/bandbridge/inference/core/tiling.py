"""The tile planner: a pure function of (height, width, tile, overlap, align). No IO, no torch.

Tiles sit on a lattice of ``align`` pixels — the generator's total stride (2^depth for a U-Net) —
because a strided network is translation-equivariant only for shifts that are multiples of it:
aligned tiles see exactly the features the whole image would, up to the context cut at their
borders, which the overlap hides. The last tile may reach past the raster; the predictor fills
that margin by edge replication, as the generator's own padding does. Overlaps are blended with
raised-cosine ramps whose weights never reach zero, so a pixel covered by a single tile keeps that
tile's value exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class TilePlan:
    height: int
    width: int
    tile_h: int
    tile_w: int
    overlap_h: int  # effective overlaps after alignment
    overlap_w: int
    rows: tuple[int, ...]  # top edges of the tile rows (strips)
    cols: tuple[int, ...]  # left edges of the tile columns

    @property
    def n_tiles(self) -> int:
        return len(self.rows) * len(self.cols)


def _axis(n: int, tile: int, overlap: int, align: int) -> tuple[int, int, list[int]]:
    """(tile length, effective overlap, starts) along one axis of length ``n``.

    Among aligned tile lengths from ``tile`` down to half of it, the one computing the fewest
    pixels (tiles × length) wins: a raster rarely divides evenly, and the last tile's overshoot is
    wasted work.
    """
    ext = -(-n // align) * align  # n rounded up to the lattice
    t_max = min(max(align, tile // align * align), ext)
    if t_max >= n:
        return t_max, 0, [0]
    best = None
    for t in range(t_max, max(align, t_max // 2) - 1, -align):
        step = (t - overlap) // align * align
        if step < align:
            break
        k = -(-(n - t) // step) + 1
        if best is None or k * t < best[0]:
            best = (k * t, t, step, k)
    if best is None:  # overlap too large for any aligned step: one lattice step apart
        t, step = t_max, align
        k = -(-(n - t) // step) + 1
    else:
        _, t, step, k = best
    return t, t - step, [i * step for i in range(k)]


def plan_tiles(height: int, width: int, tile: int, overlap: int, align: int = 1) -> TilePlan:
    """Tiles of ``tile`` pixels (rounded to ``align``) overlapping by at least ``overlap``."""
    if tile < 1 or overlap < 0 or overlap >= tile or align < 1:
        raise ValueError(f"need tile ≥ 1, 0 ≤ overlap < tile and align ≥ 1; got tile={tile}, "
                         f"overlap={overlap}, align={align}")
    th, oh, rows = _axis(height, tile, overlap, align)
    tw, ow, cols = _axis(width, tile, overlap, align)
    return TilePlan(height, width, th, tw, oh, ow, tuple(rows), tuple(cols))


def column_blocks(plan: TilePlan, max_px: int, grid: int = 1) -> list[tuple[tuple[int, ...], int, int]]:
    """Split the tile columns into blocks at most ``max_px`` wide (at least one tile), so that
    memory does not grow with the raster's width. Returns ``(cols, left, right)`` per block:
    its tile columns and the columns ``[left, right)`` it writes. Neighbouring blocks meet inside
    the overlap of their edge tiles, on a multiple of ``grid`` where the overlap holds one (the
    output's block width): a GeoTIFF block cut by the meeting line stays half-written, in GDAL's
    cache or compressed twice, until the next block's pass, and the rest waits for the file's
    close (2.2 s of serial deflate on an 8192² raster), else in the middle."""
    cols, tw = plan.cols, plan.tile_w
    groups: list[list[int]] = [[cols[0]]]
    for c in cols[1:]:
        if c + tw - groups[-1][0] > max_px:
            groups.append([])
        groups[-1].append(c)
    edges = [0]
    for a, b in zip(groups, groups[1:]):
        lo, hi = b[0], a[-1] + tw  # both blocks' tiles cover [lo, hi)
        mid = (lo + hi) // 2
        on_grid = [g for g in range(-(-lo // grid) * grid, hi, grid)]
        edges.append(min(on_grid, key=lambda g: abs(g - mid)) if on_grid else mid)
    edges.append(plan.width)
    return [(tuple(cs), edges[g], edges[g + 1]) for g, cs in enumerate(groups)]


def ramp(n: int, overlap: int, halo: int = 0) -> np.ndarray:
    """1-D weights of length ``n``: raised-cosine rise over ``overlap`` pixels at both ends,
    1 in between; strictly positive. The first and last ``halo`` pixels (at most half the
    overlap) get 1e-6: a model whose output there depends on pixels past the tile leaves them to
    the neighbouring tile, and a raster edge (one tile only) still normalises to its value."""
    w = np.ones(n, np.float64)
    k = min(overlap, n // 2)
    h = min(halo, k // 2)
    if k > 0:
        r = np.full(k, 1e-6)
        r[h:] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(k - h) + 0.5) / (k - h))
        w[:k] = r
        w[n - k:] = r[::-1]
    return w


def axis_weights(starts: tuple[int, ...] | list[int], length: int, overlap: int, halo: int = 0,
                 scale: int = 1) -> np.ndarray:
    """``(len(starts), length·s)`` float32 blending weights of the tiles that start at ``starts``
    (input pixels) along one axis: each tile's :func:`ramp` divided by the ramps' sum at every
    output position, so they add up to 1 wherever the tiles reach and a blend is Σ w·pred with no
    division afterwards; a position one tile covers gets exactly 1. Weights are separable: tile
    (i, j) weighs ``rows[i][:, None] · cols[j][None, :]``, and the outer product of the sums is the
    sum of the outer products."""
    s, n = scale, length * scale
    w = ramp(n, overlap * s, halo * s)
    offs = [(a - starts[0]) * s for a in starts]
    total = np.zeros(offs[-1] + n)
    for o in offs:
        total[o:o + n] += w
    return np.stack([w / total[o:o + n] for o in offs]).astype(np.float32)


def weigh(y: np.ndarray, w_rows: np.ndarray, w_cols: np.ndarray) -> np.ndarray:
    """``y (C, h, w)`` times the separable weights ``w_rows[:, None] · w_cols[None, :]``, in
    place; only the edge bands where a weight differs from 1 are touched (the interior of a tile
    is most of it)."""
    for axis, w in ((1, w_rows), (2, w_cols)):
        ones = np.flatnonzero(w == 1)
        if len(ones) == len(w):
            continue
        ends = len(ones) and len(ones) == ones[-1] - ones[0] + 1  # weights < 1 only at the two ends
        parts = [slice(0, ones[0]), slice(ones[-1] + 1, len(w))] if ends else [slice(0, len(w))]
        for p in parts:
            if axis == 1:
                y[:, p] *= w[p, None]
            else:
                y[:, :, p] *= w[p]
    return y


def on_block_rows(chunks, grid: int, top: int = 0, scale: int = 1):
    """Re-cut a stream of consecutive ``(row0, row1, pred, input, valid)`` (as ``_stream``
    yields) so that every range but the last ends on a multiple of ``grid`` rows from ``top``
    (the output's block height): a GeoTIFF block row written in two parts waits in GDAL's cache,
    and what is left of those at the file's close is compressed there, serially. The rows held
    back (fewer than ``grid``) go out with the next range."""
    carry = None
    for a, b, pred, x, valid in chunks:
        if carry is not None:
            ca, _, cp, cx, cv = carry
            a, pred = ca, np.concatenate([cp, pred], 1)
            x, valid = np.concatenate([cx, x], 1), np.concatenate([cv, valid], 0)
            carry = None
        cut = top + (b - top) // grid * grid
        if cut <= a:
            carry = (a, b, pred, x, valid)
            continue
        k = cut - a
        yield a, cut, pred[:, :k * scale], x[:, :k], valid[:k * scale]
        if cut < b:
            carry = (cut, b, pred[:, k * scale:], x[:, k:], valid[k * scale:])
    if carry is not None:
        yield carry


TILE_CAP = 4096  # the largest tile side a job is given unasked (input pixels)


def tile_for_memory(tile: int, overlap: int, align: int, budget: float, net_bpp: float,
                    strip_bpp: float, block_px: int, width: int, forward_px: Callable[[int], int],
                    cap: int = TILE_CAP) -> int | None:
    """The tile side a job runs when none is asked: the largest on the ``align`` lattice up to
    ``cap`` whose forward (``net_bpp`` bytes per input pixel of one batch of ``forward_px(side)``
    pixels) and strip buffers (``strip_bpp`` bytes per pixel of a tile-high strip of a column
    block: the tile columns that fit in ``block_px``, at least one, at most ``width``) fit in
    ``budget`` bytes — larger than the model's ``tile`` where memory allows (larger tiles
    recompute fewer overlap and edge pixels; ``plan_tiles`` then picks the cheapest side up to this
    one), smaller where the model's own would not fit (a tight container), down to the smallest
    that still advances past its ``overlap``; None when not even that fits."""
    for t in range(max(cap, tile) // align * align, smallest_tile(overlap, align) - 1, -align):
        if tile_bytes(t, overlap, align, net_bpp, strip_bpp, block_px, width, forward_px) <= budget:
            return t
    return None


def smallest_tile(overlap: int, align: int) -> int:
    """The smallest tile on the ``align`` lattice that still advances past its ``overlap``."""
    return -(-(overlap + align) // align) * align


def tile_bytes(t: int, overlap: int, align: int, net_bpp: float, strip_bpp: float, block_px: int,
               width: int, forward_px: Callable[[int], int]) -> float:
    """Bytes a ``t``² tile's forward and strip buffers take (see :func:`tile_for_memory`)."""
    step = max(align, (t - overlap) // align * align)
    block = min(width, t + max(0, block_px - t) // step * step)
    return net_bpp * forward_px(t) + strip_bpp * t * block
