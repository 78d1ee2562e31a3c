"""The range of per-image statistics a model was trained on: the never-worse guard's domain, and
per training source, the fallback's (:func:`source_ranges`).

A generator with a guard (``model.generator.guard``, models/anchor.py) fades its residual
toward its anchor on images whose statistics (radiometry.py: each input band's 1st and 99th
percentile) lie outside this range; the range covers the training and validation images and,
with radiometric augmentation, the augmented copies training showed the network (a model
trained with darkened inputs has seen dark images), and the statistics of each image's blocks
(a 3 × 3 grid): a range from one or a few images is then as wide as the parts of those images
differ, never zero-width — and the guard measures distance in widths of at least ``floor``
(``GUARD_DEFAULTS``: 0.05 model units) whatever the range.
"""

from __future__ import annotations

import numpy as np
import torch

from bandbridge.config import AugmentConfig
from bandbridge.data.datasets import LoadedPair, role_names
from bandbridge.radiometry import GUARD_DEFAULTS, augment_radiometry, image_stats

BLOCKS = 3  # each image's statistics over a BLOCKS × BLOCKS grid of its blocks join the range


def domain_guard(pairs: list[LoadedPair], aug: AugmentConfig, draws: int = 64,
                 seed: int = 0) -> dict:
    """``{low, high (2·C lists, model values), images, floor, start, end}`` over ``pairs``'
    statistics and ``draws`` augmented copies of each (the statistics move exactly with the
    image, so a 1-pixel stand-in is enough)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for p in pairs:
        s = p.stats.float()
        rows.append(s.numpy())
        rows += block_stats(p)
        if aug.active:
            ci, co = p.x.shape[0], p.y.shape[0]
            x, y = torch.zeros(ci, 1, 1), torch.zeros(co, 1, 1)
            m = torch.ones(1, 1, 1, dtype=torch.bool)
            ins, outs = role_names(p.source.input.bands, ci), role_names(p.source.target.bands, co)
            rows += [augment_radiometry(x, y, m, s, ins, outs, aug, g)[2].numpy() for _ in range(draws)]
    r = np.stack(rows).astype(np.float64)
    return {"low": [round(float(v), 5) for v in np.floor(r.min(0) * 1e5) / 1e5],
            "high": [round(float(v), 5) for v in np.ceil(r.max(0) * 1e5) / 1e5],
            "images": len(pairs), **GUARD_DEFAULTS}


def source_ranges(pairs: list[LoadedPair]) -> dict:
    """The fallback's guard (models/fallback.py): one range per training source of its images'
    and blocks' statistics as read, without augmented copies — an image is unlike the training
    data when it lies outside every source's range, not merely outside their union widened by
    what augmentation simulates. ``{low, high ((S, 2·C) lists), sources, images, floor, start,
    end}``."""
    names = sorted({p.source.name for p in pairs})
    parts = [domain_guard([p for p in pairs if p.source.name == n], AugmentConfig()) for n in names]
    return {"low": [g["low"] for g in parts], "high": [g["high"] for g in parts], "sources": names,
            "images": len(pairs), **GUARD_DEFAULTS}


def block_stats(p: LoadedPair, n: int = BLOCKS) -> list[np.ndarray]:
    """The statistics of each block of a ``n × n`` grid over ``p``'s input (blocks with valid
    pixels; the image's own mask)."""
    x, m = p.x.numpy(), p.mask[0].numpy()
    if m.shape != x.shape[1:]:  # super-resolution: the mask is the target's
        m = np.ones(x.shape[1:], bool)
    h, w = m.shape
    out = []
    for i in range(n):
        for j in range(n):
            r, c = slice(i * h // n, (i + 1) * h // n), slice(j * w // n, (j + 1) * w // n)
            if m[r, c].any():
                out.append(image_stats(x[:, r, c], m[r, c]))
    return out
