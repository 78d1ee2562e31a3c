"""What training shows of itself in TensorBoard: images as RGB in [0, 1], tiled into one grid."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def to_display(t: Tensor, stretch: bool = False) -> Tensor:
    """``(B, C, H, W)`` → ``(B, 3, H, W)`` in [0, 1]: first three bands as RGB, or one band as
    gray; ``stretch`` rescales each image by its maximum (for error maps)."""
    t = t.detach().float().cpu()
    t = t[:, :3] if t.shape[1] >= 3 else t[:, :1].expand(-1, 3, -1, -1)
    if stretch:
        t = t / t.flatten(1).amax(1).clamp_min(1e-6)[:, None, None, None]
    return t.clamp(0, 1)


def make_grid(images: Tensor, ncol: int, pad: int = 2) -> Tensor:
    """Tile ``(N, 3, H, W)`` images row-major into one ``(3, H', W')`` image."""
    n, c, h, w = images.shape
    nrow = math.ceil(n / ncol)
    out = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, q = divmod(i, ncol)
        out[:, pad + r * (h + pad):pad + r * (h + pad) + h,
            pad + q * (w + pad):pad + q * (w + pad) + w] = images[i]
    return out
