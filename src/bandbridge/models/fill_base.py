"""The earlier date mapped per band as a network's "residual": ``R(x)_b = a_b·x_b + d_b − ½`` for
the first ``bands`` input channels (the base composite, model values), ``d_b − ½`` alone where
``bands`` is 0 (a fit from Sentinel-1 alone: no date to map).

Composed with a learner as ``Anchored(learner, FillBase(...))`` (models/anchored.py) it is
``bandbridge fill``'s model, ``y = f(φ(x)) + a·base + d − ½``: the learner ``f`` learned the change
from the per-band map, offset by ½ (learners predict in [0, 1]), so a learner that learned nothing
gives the per-band map itself (``learners/gapfill.py``). ``a`` and ``d`` are buffers: saved in the
bundle's weights, never trained; every backend serves it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FillBase(nn.Module):
    """``x[:, :bands]·a + d − half`` of ``(B, C, H, W)`` → ``(B, out_channels, H, W)``;
    ``bands`` is ``out_channels`` (the per-band map of the base) or 0 (a constant ``d``)."""

    def __init__(self, in_channels: int, out_channels: int, bands: int = 0, half: float = 0.5):
        super().__init__()
        if bands not in (0, out_channels) or bands > in_channels:
            raise ValueError(f"the per-band map reads {out_channels} base band(s) first, or none; got bands={bands} "
                             f"of {in_channels} input(s)")
        self.bands, self.half = int(bands), float(half)
        self.register_buffer("a", torch.ones(out_channels))
        self.register_buffer("d", torch.zeros(out_channels))

    def residual(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        d = (self.d - self.half)[None, :, None, None]
        if not self.bands:
            return d.expand(x.shape[0], -1, x.shape[2], x.shape[3])
        return x[:, :self.bands] * self.a[None, :, None, None] + d

    def residual_tail(self) -> nn.Module:
        return self  # no convolution to zero: it has no trained weights

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.residual(x, context)
