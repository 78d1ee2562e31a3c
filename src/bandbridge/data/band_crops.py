"""Random crops of in-memory band pairs whose targets may lack some bands: what a band prior
trains on (``training/band_prior.py``), where one source holds all of a sensor's coarse bands and
another only two (``ukis_csmask_s2``: B11 and B12).

A pair is ``x (C, H, W)`` and ``y (T, H, W)`` float32 on one grid, NaN in ``y`` where a band is
absent or a pixel unknown (and in ``x`` where a guide is: that pixel's targets are then unknown too).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class BandCrops(Dataset):
    """``length`` crops of ``size²`` drawn from ``pairs`` with probability ∝ √area (a large scene
    weighs more, but does not drown twenty small ones), flipped and rotated alike on both sides; a
    pair smaller than a crop is padded (its pad unknown). Each draw is a pure function of
    ``(seed, i)``. Items: ``{"input": (C, s, s), "target": (T, s, s)}`` (NaN where unknown)."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], size: int, length: int, seed: int = 0):
        if not pairs:
            raise ValueError("BandCrops: no pairs")
        self.pairs = [_known(x, y) for x, y in pairs]
        self.size, self.length, self.seed = size, length, seed
        w = np.sqrt([x.shape[1] * x.shape[2] for x, _ in self.pairs])
        self.p = torch.tensor(w / w.sum())

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        x, y = self.pairs[int(torch.multinomial(self.p, 1, generator=g))]
        h, w = x.shape[1:]
        r = int(torch.randint(0, max(h - self.size, 0) + 1, (), generator=g))
        c = int(torch.randint(0, max(w - self.size, 0) + 1, (), generator=g))
        x, y = x[:, r:r + self.size, c:c + self.size], y[:, r:r + self.size, c:c + self.size]
        pad = (0, self.size - x.shape[-1], 0, self.size - x.shape[-2])
        if any(pad):
            x, y = torch.nn.functional.pad(x, pad), torch.nn.functional.pad(y, pad, value=float("nan"))
        for dim in (-1, -2):
            if torch.rand((), generator=g) < 0.5:
                x, y = x.flip(dim), y.flip(dim)
        q = int(torch.randint(0, 4, (), generator=g))
        return {"input": torch.rot90(x, q, (-2, -1)).contiguous(), "target": torch.rot90(y, q, (-2, -1)).contiguous()}


def _known(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair as tensors, a pixel with an unknown guide zeroed in ``x`` and unknown in ``y``."""
    bad = ~np.isfinite(x).all(0)
    return (torch.from_numpy(np.where(bad, 0, x).astype(np.float32)),
            torch.from_numpy(np.where(bad, np.nan, y).astype(np.float32)))
