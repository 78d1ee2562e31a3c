"""A band's prior from the guides alone: a small fully convolutional network that maps the fine
bands a sensor always has (Sentinel-2's four 10 m bands) to the bands it holds coarser, on the
guides' own grid (issue 84).

It is trained at a Wald step below the product's scales, on pairs every Sentinel-2 scene gives for
free (the 10 m bands averaged onto the 20 m or 60 m grid, the band there as it is), and serves
``bandbridge sharpen -m`` as one more guide: the sharpener's fit at the place decides, held out,
how much of its detail a band takes (``learners/sharpen.py``), so a prior that carries nothing of a
band there costs that band nothing. Its levels are not trusted: a guide enters the fit through
its detail and the reference sets the levels.

The body is the residual stack of EDSR/DSen2 (Lim et al. 2017; Lanaras et al. 2018: convolution,
ReLU, convolution, scaled by ``res_scale``) at one scale, beside a 1×1 convolution of the input,
so that the untrained network is a per-pixel linear map and training learns what the spatial
context adds. Input ``(B, C, H, W)`` reflectance; output ``(B, Cout, H, W)`` reflectance.
"""

from __future__ import annotations

import torch
from torch import nn

from bandbridge.models.layers import ResBlock


class BandPrior(nn.Module):
    """``y = W x + tail(body(head(gain · x))) / gain``: a per-pixel linear map plus the residual
    stack's correction (``gain`` lifts reflectance, mostly under 0.3, to unit scale inside)."""

    def __init__(self, in_channels: int = 4, out_channels: int = 8, nf: int = 32, n_blocks: int = 4,
                 res_scale: float = 0.1, gain: float = 4.0):
        super().__init__()
        self.gain = gain
        self.skip = nn.Conv2d(in_channels, out_channels, 1)
        self.head = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.body = nn.Sequential(*[ResBlock(nf, res_scale) for _ in range(n_blocks)], nn.ReLU(True))
        self.tail = nn.Conv2d(nf, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.skip(x) + self.tail(self.body(self.head(x * self.gain))) / self.gain


def multiply_adds(in_channels: int, out_channels: int, nf: int = 32, n_blocks: int = 4) -> int:
    """The multiply-adds :class:`BandPrior` does a pixel: its 1×1 map, its head and tail 3×3
    convolutions and two 3×3 ``nf``-to-``nf`` convolutions a block (77,216 for 4 → 8 bands, 32 features, 4 blocks)."""
    return in_channels * out_channels + 9 * nf * (in_channels + out_channels + 2 * n_blocks * nf)
