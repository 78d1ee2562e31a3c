"""The range of per-image statistics a model was trained on: the never-worse guard's domain.

A generator with a guard (``model.generator.args.guard``, models/anchor.py) fades its residual
toward its anchor on images whose statistics (radiometry.py: each input band's 1st and 99th
percentile) lie outside this range; the range covers the training and validation images and,
with radiometric augmentation, the augmented copies training showed the network (a model
trained with darkened inputs has seen dark images).
"""

from __future__ import annotations

import numpy as np
import torch

from bandbridge.config import AugmentConfig
from bandbridge.data.datasets import LoadedPair, role_names
from bandbridge.radiometry import GUARD_DEFAULTS, augment_radiometry


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
