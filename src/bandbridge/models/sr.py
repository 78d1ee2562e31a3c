"""Super-resolution generator for ×2/×3/×4: residual body at low resolution, sub-pixel
convolution (PixelShuffle) upsampling, plus a bicubic skip so the network learns the detail.

Input ``(B, C, h, w)`` in [0, 1]; output ``(B, Cout, h·s, w·s)``, clamped to [0, 1] in eval mode.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bandbridge.models.layers import ResBlock, bicubic_skip


class SRGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, nf: int = 64,
                 n_blocks: int = 16, res_scale: float = 0.1):
        super().__init__()
        if scale not in (2, 3, 4, 8):
            raise ValueError(f"SR scale must be 2, 3, 4 or 8, got {scale}")
        self.scale = scale
        self.head = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.body = nn.Sequential(*[ResBlock(nf, res_scale) for _ in range(n_blocks)],
                                  nn.Conv2d(nf, nf, 3, 1, 1))
        steps = [3] if scale == 3 else [2] * int(math.log2(scale))
        up: list[nn.Module] = []
        for s in steps:
            up += [nn.Conv2d(nf, nf * s * s, 3, 1, 1), nn.PixelShuffle(s), nn.ReLU(True)]
        self.up = nn.Sequential(*up, nn.Conv2d(nf, out_channels, 3, 1, 1))
        self.skip_channels = (in_channels, out_channels)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.head(x * 2.0 - 1.0)
        y = bicubic_skip(x, self.scale, self.skip_channels[1]) + self.up(h + self.body(h))
        return y if self.training else y.clamp(0.0, 1.0)
