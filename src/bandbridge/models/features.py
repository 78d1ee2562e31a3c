"""The fixed spatial context features ``φ(x)`` every context learner and context anchor is a
function of: the bands, their local means and standard deviations, their pairwise products."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ContextFeatures(nn.Module):
    """The anchor's fixed spatial context ``φ(x) (B, F, H, W)``: the bands, their local means
    and standard deviations over ``k × k`` windows (``windows``, px) and, with ``products``, the
    bands' pairwise products ``x_i·x_j`` (i ≤ j). A ridge regression on these halves a linear
    map's NIR error on scenes where texture tells vegetation from soil (README, "Small data");
    it is closed-form, so it needs no training data beyond what the linear fit needs. Windows are
    separable box filters with edge replication (any tile size; tiles need an overlap of half the
    largest window to stay seamless)."""

    def __init__(self, channels: int, windows: tuple[int, ...] = (), products: bool = False):
        super().__init__()
        self.channels, self.windows, self.products = channels, tuple(int(k) for k in windows), products
        for k in self.windows:
            if k < 3 or k % 2 == 0:
                raise ValueError(f"anchor windows must be odd sizes >= 3, got {k}")

    @property
    def out_channels(self) -> int:
        c = self.channels
        return c + 2 * c * len(self.windows) + (c * (c + 1) // 2 if self.products else 0)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for k in self.windows:
            mu, mu2 = box_mean(torch.cat([x, x * x], 1), k).chunk(2, 1)
            feats += [mu, (mu2 - mu * mu).clamp_min(0.0).sqrt()]
        if self.products:
            c = self.channels
            feats += [x[:, i:i + 1] * x[:, j:j + 1] for i in range(c) for j in range(i, c)]
        return torch.cat(feats, 1)


def box_mean(x: Tensor, k: int) -> Tensor:
    """Mean over a ``k × k`` window centred on each pixel, edges replicated: ``(B, C, H, W)``."""
    p = k // 2
    x = F.avg_pool2d(F.pad(x, (0, 0, p, p), mode="replicate"), (k, 1), 1)
    return F.avg_pool2d(F.pad(x, (p, p, 0, 0), mode="replicate"), (1, k), 1)
