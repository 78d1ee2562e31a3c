"""A network trained on one layout of inputs, served on a run's own (``sharpen``'s work file): each
input channel mapped by an affine ``a·x + b`` (the run's model values → what the network was trained
on: reflectance), gathered into the network's channel order (a constant plane of 0 or 1 where the run
has no such channel: a band absent, a band-present flag), the network run, its outputs of the run's
bands picked and mapped back by ``c·y + d`` (→ the run's model values). Every part is a buffer or the
network's weights: saved in the bundle's safetensors, served by every backend (gathers and affines
export to ONNX as they are). ``(B, C, H, W)`` in, ``(B, T, H, W)`` out, clamped to [0, 1] at inference
as ``Anchored`` is."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bandbridge.models.s2_residual import S2Residual

ZERO, ONE = -1, -2  # in ``gather``: a constant plane of 0, of 1


class Mapped(nn.Module):
    """``net`` (an ``S2Residual`` of ``net`` arguments) on ``in_channels`` mapped channels; ``gather`` names, for
    each of the network's inputs, the channel it takes (or :data:`ZERO`/:data:`ONE`), ``outputs`` the network's
    output each of the ``out_channels`` is."""

    def __init__(self, in_channels: int, out_channels: int, gather: list[int], outputs: list[int], net: dict):
        super().__init__()
        if len(outputs) != out_channels or any(not ONE <= g < in_channels for g in gather):
            raise ValueError(f"gather must name channels under {in_channels} (or {ZERO}, {ONE}) and outputs "
                             f"{out_channels} network outputs")
        self.net = S2Residual(**net)
        index = [in_channels if g == ZERO else in_channels + 1 if g == ONE else g for g in gather]
        self.register_buffer("gather", torch.tensor(index, dtype=torch.long))
        self.register_buffer("outputs", torch.tensor(outputs, dtype=torch.long))
        for name, n in (("a", in_channels), ("b", in_channels), ("c", out_channels), ("d", out_channels)):
            self.register_buffer(name, torch.ones(n) if name in "ac" else torch.zeros(n))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        z = x * self.a[None, :, None, None] + self.b[None, :, None, None]
        planes = torch.cat([torch.zeros_like(z[:, :1]), torch.ones_like(z[:, :1])], 1)
        y = self.net(torch.cat([z, planes], 1).index_select(1, self.gather)).index_select(1, self.outputs)
        y = y * self.c[None, :, None, None] + self.d[None, :, None, None]
        return y if self.training else y.clamp(0.0, 1.0)
