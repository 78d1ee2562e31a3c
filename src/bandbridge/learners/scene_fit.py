"""The one home of a learner fitted on one scene (``predict --reference``'s fit at the reference's scale,
``bandbridge fill``'s on the scene's clear part): its context features, its candidates configured with them,
and the pixels the core fits on, sampled from a mask (:func:`sample`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from bandbridge.learners.base import Learner
from bandbridge.learners.folds import Pixels
from bandbridge.learners.registry import candidates as all_candidates
from bandbridge.models.features import ContextFeatures

WINDOWS = (3, 9)  # context windows, in pixels of the scale they are computed at (scale invariance);
# small, so that a coarse grid of a few dozen cells a side still has folds and a buffer
BUFFER = max(WINDOWS)  # between a held-out block and the training pixels
HALO = max(WINDOWS) // 2  # px round a window whose features need no pixel past it
WHOLE_PX = 1 << 21  # a scene of up to this many pixels is one window (its features held at once: 250 MB)
BLOCK = 32  # px: a sampled block's side (its halo adds half as much again to what is read)

Window = tuple[int, int, int, int]  # row, column, height, width


def features(x: np.ndarray, products: bool = True) -> np.ndarray:
    """``φ(x)`` of ``(C, H, W)`` model values → ``(F, H, W)``: the bands, their means and standard
    deviations over :data:`WINDOWS`, their pairwise ``products`` (``models/features.py``)."""
    with torch.inference_mode():
        return ContextFeatures(x.shape[0], WINDOWS, products, exact=True)(torch.from_numpy(x[None]).float())[0].numpy()


def configured(names: tuple[str, ...], products: bool = True) -> list[Learner]:
    """The candidates of ``names``, their context features those of :data:`WINDOWS` (with the
    pairwise ``products``: what :func:`features` computes, and what their saved form computes
    again on every tile)."""
    out = [c.clone() for c in all_candidates() if c.name in names]
    for c in out:
        c.windows, c.products = WINDOWS, products
    return out


def as_pixels(f: np.ndarray, y: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int],
              bands: int, total: int) -> Pixels:
    """:class:`Pixels` of one scene: features ``f (N, F)``, targets ``y (N, Ct)``, positions along
    the scene's longer side (the spatial folds' blocks)."""
    (h, w), n = shape, len(rows)
    return Pixels(np.ascontiguousarray(f, np.float32), y.astype(np.float32), np.zeros(n, int), np.zeros(n, int),
                  rows if h >= w else cols, np.array([max(h, w)]), bands, total)


def pixels(x: np.ndarray, y: np.ndarray, mask: np.ndarray, n: int, seed: int = 0, products: bool = True,
           ) -> tuple[Pixels, np.ndarray, np.ndarray]:
    """:class:`Pixels` of one image held in memory (at most ``n`` of its ``mask`` pixels, a
    uniform sample), and their rows and columns."""
    rows, cols = uniform(mask, n, seed)
    f = features(x, products)
    return as_pixels(f[:, rows, cols].T, y[:, rows, cols].T, rows, cols, mask.shape, x.shape[0],
                     int(mask.sum())), rows, cols


def uniform(mask: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of ``mask``'s pixels, a seeded uniform sample of ``n`` where more."""
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(mask)
    if len(rows) > n:
        keep = np.sort(rng.choice(len(rows), n, replace=False))
        rows, cols = rows[keep], cols[keep]
    return rows, cols


def spread_blocks(mask: np.ndarray, n: int, seed: int, block: int = BLOCK) -> list[Window]:
    """Blocks of ``block`` ² px holding ``mask`` pixels, taken in a seeded random order until they
    hold ``n`` of them (all such blocks where they hold fewer): spread over the scene."""
    h, w = mask.shape
    nr, nc = -(-h // block), -(-w // block)
    padded = np.zeros((nr * block, nc * block), bool)
    padded[:h, :w] = mask
    counts = padded.reshape(nr, block, nc, block).sum((1, 3)).ravel()
    have = np.flatnonzero(counts)
    order = np.random.default_rng(seed).permutation(have)
    take = [divmod(int(k), nc) for k in np.sort(order[:int(np.searchsorted(np.cumsum(counts[order]), n)) + 1])]
    return [(r * block, c * block, min(block, h - r * block), min(block, w - c * block)) for r, c in take]


def sample(read: Callable[[Window], tuple[np.ndarray, np.ndarray]], mask: np.ndarray, n: int, seed: int,
           products: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(features (N, F), values (N, K), rows, cols)`` of about ``n`` of ``mask``'s pixels:
    ``read(window)`` gives the model's input ``(Ci, h, w)`` and the values to gather ``(K, h, w)``
    over a window of the scene (clipped to it). One window (a uniform sample) for a scene of at
    most :data:`WHOLE_PX` pixels, else :func:`spread_blocks`, each read with its :data:`HALO`."""
    h, w = mask.shape
    if h * w <= WHOLE_PX:
        rows, cols = uniform(mask, n, seed)
        x, v = read((0, 0, h, w))
        return features(x, products)[:, rows, cols].T, v[:, rows, cols].T, rows, cols
    fs, vs, rs, cs = [], [], [], []
    for r, c, bh, bw in spread_blocks(mask, n, seed):
        r0, c0 = max(r - HALO, 0), max(c - HALO, 0)
        r1, c1 = min(r + bh + HALO, h), min(c + bw + HALO, w)
        x, v = read((r0, c0, r1 - r0, c1 - c0))
        rr, cc = np.nonzero(mask[r:r + bh, c:c + bw])
        fs.append(features(x, products)[:, rr + r - r0, cc + c - c0].T)
        vs.append(v[:, rr + r - r0, cc + c - c0].T)
        rs.append(rr + r)
        cs.append(cc + c)
    return np.concatenate(fs), np.concatenate(vs), np.concatenate(rs), np.concatenate(cs)
