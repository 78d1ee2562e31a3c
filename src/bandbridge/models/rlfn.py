"""An efficient super-resolution network of the residual feature-distillation family (RLFN:
Kong et al., "Residual Local Feature Network for Efficient Super-Resolution", CVPRW 2022).

Each block is three 3×3 convolutions with a local residual, a 1×1 fusion and enhanced spatial
attention (ESA): a strided, max-pooled view of the block's features gates every pixel, which
gives a wide receptive field at almost no cost. A bicubic skip of the input is added to the
sub-pixel output, and the last convolution starts at zero, so the untrained network *is*
bicubic interpolation and training only ever learns the missing detail.

Input ``(B, C, h, w)`` in [0, 1] (h, w ≥ 16); output ``(B, Cout, h·s, w·s)``, clamped to [0, 1]
in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bandbridge.models.layers import bicubic_skip


def _act() -> nn.Module:
    return nn.LeakyReLU(0.05, inplace=True)


class ESA(nn.Module):
    """Enhanced spatial attention: ``x · σ(conv(up(conv(maxpool₇,₃(conv₃,₂(x')))) + x'))``."""

    def __init__(self, nf: int, f: int = 16):
        super().__init__()
        self.reduce = nn.Conv2d(nf, f, 1)
        self.same = nn.Conv2d(f, f, 1)
        self.down = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.mid = nn.Conv2d(f, f, 3, padding=1)
        self.expand = nn.Conv2d(f, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.reduce(x)
        v = self.mid(F.max_pool2d(self.down(r), kernel_size=7, stride=3))
        v = F.interpolate(v, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.expand(v + self.same(r)))


class RLFB(nn.Module):
    """Residual local feature block: ``ESA(conv₁ₓ₁(f₃(f₂(f₁(x))) + x))``."""

    def __init__(self, nf: int, esa_channels: int = 16):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1), _act(), nn.Conv2d(nf, nf, 3, 1, 1),
                                   _act(), nn.Conv2d(nf, nf, 3, 1, 1), _act())
        self.fuse = nn.Conv2d(nf, nf, 1)
        self.esa = ESA(nf, esa_channels) if esa_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.esa(self.fuse(self.convs(x) + x))


class RLFN(nn.Module):
    """``y = bicubic(x) + PixelShuffle_s(conv(conv(blocks(h)) + h))``, ``h = conv(2x − 1)``.

    ``nf`` feature channels, ``n_blocks`` RLFBs, ``esa_channels`` 0 drops the attention.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, nf: int = 48,
                 n_blocks: int = 6, esa_channels: int = 16):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"rlfn scale must be 2, 3 or 4, got {scale}")
        self.scale, self.out_channels = scale, out_channels
        self.head = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.body = nn.Sequential(*[RLFB(nf, esa_channels) for _ in range(n_blocks)])
        self.after = nn.Conv2d(nf, nf, 3, 1, 1)
        self.up = nn.Sequential(nn.Conv2d(nf, out_channels * scale * scale, 3, 1, 1),
                                nn.PixelShuffle(scale))
        nn.init.zeros_(self.up[0].weight)  # start as bicubic: the detail is learned from zero
        nn.init.zeros_(self.up[0].bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = self.head(x * 2.0 - 1.0)
        y = bicubic_skip(x, self.scale, self.out_channels) + self.up(self.after(self.body(h)) + h)
        return y if self.training else y.clamp(0.0, 1.0)
