"""Conditional PatchGAN critic/discriminator (70×70 receptive field at n_layers=3).

Input: the condition and a target (real or generated) concatenated on channels,
``(B, Cin + Cout, H, W)``; output: a map of unbounded scores ``(B, 1, H/8 − 2, W/8 − 2)``
(no sigmoid: every objective works on logits/scores).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from bandbridge.models.layers import norm_layer

CRITIC_NORMS = ("none", "instance", "batch", "spectral")


class PatchGAN(nn.Module):
    def __init__(self, in_channels: int = 4, ndf: int = 64, n_layers: int = 3,
                 norm: str = "instance"):
        super().__init__()
        if norm not in CRITIC_NORMS:
            raise ValueError(f"unknown critic norm '{norm}'; choose one of {CRITIC_NORMS}")
        sn = norm == "spectral"
        feat_norm = "none" if sn else norm
        bias = norm != "batch"

        def conv(cin, cout, stride, b=bias):
            c = nn.Conv2d(cin, cout, 4, stride, 1, bias=b)
            return spectral_norm(c) if sn else c

        layers: list[nn.Module] = [conv(in_channels, ndf, 2, True), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            layers += [conv(ndf * prev, ndf * mult, 2 if n < n_layers else 1),
                       norm_layer(feat_norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(conv(ndf * mult, 1, 1, True))
        self.net = nn.Sequential(*layers)

    def forward(self, cond: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([cond * 2.0 - 1.0, target * 2.0 - 1.0], 1))
