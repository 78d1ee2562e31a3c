"""Small shared pieces: normalisation by name, padding to a multiple, the SR bicubic skip."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm '{kind}'; choose one of {NORMS}")


def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad ``(B, C, H, W)`` on the bottom/right to multiples of ``m``; returns the
    padded tensor and the original (H, W) to crop back to."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)



def bicubic_skip(x: torch.Tensor, scale: int, out_channels: int) -> torch.Tensor:
    """``(B, C, h, w)`` → ``(B, out_channels, h·s, w·s)``: bicubic upsampling, the base a
    super-resolution network adds its detail to (the band mean when the counts differ)."""
    base = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    if base.shape[1] != out_channels:
        base = base.mean(1, keepdim=True).expand(-1, out_channels, -1, -1)
    return base


class ResBlock(nn.Module):
    """EDSR's residual block (Lim et al. 2017): ``x + res_scale · conv(ReLU(conv(x)))``, 3×3, ``nf`` to ``nf``."""

    def __init__(self, nf: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1), nn.ReLU(True), nn.Conv2d(nf, nf, 3, 1, 1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)
