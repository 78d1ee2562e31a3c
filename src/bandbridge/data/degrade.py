"""Low-resolution inputs made from high-resolution images, as the super-resolution literature
makes them: MATLAB's ``imresize`` bicubic with antialiasing (through the ``bicubic-pytorch``
package, which reproduces it; PIL's and PyTorch's bicubic differ), then 8-bit rounding.

Optional real-world degradations (off by default; ``DegradeConfig``) are applied per crop:
Gaussian blur before downscaling, Gaussian noise and JPEG compression after it.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from bicubic_pytorch import imresize

from bandbridge.config import DegradeConfig


def modcrop(t: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop ``(..., H, W)`` at the bottom/right to multiples of ``scale`` (the SR convention)."""
    h, w = t.shape[-2:]
    return t[..., : h - h % scale, : w - w % scale]


def bicubic_down(hr: torch.Tensor, scale: int, levels: int | None = 255) -> torch.Tensor:
    """``(C, H, W)`` or ``(B, C, H, W)`` in [0, 1] → ``(…, H/s, W/s)``: MATLAB ``imresize(hr, 1/s)``
    (bicubic, antialiased), clipped to [0, 1] and rounded to ``levels`` steps (255: an 8-bit
    image, as the published LR images are; None keeps floats). H and W must be multiples of s."""
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"bicubic_down: {h}×{w} is not a multiple of the scale {scale}")
    lr = imresize(hr.float(), sizes=(h // scale, w // scale), antialiasing=True).clamp(0.0, 1.0)
    return lr if levels is None else torch.round(lr * levels) / levels


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(round(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[0]
    y = F.pad(x[None], (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)[0]


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    from PIL import Image
    a = (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    img = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a[..., :3])
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality))
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255.0
    out = out[..., None] if out.ndim == 2 else out
    return torch.from_numpy(out).permute(2, 0, 1).contiguous()


def _uniform(lo: float, hi: float, g: torch.Generator) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def degrade(hr: torch.Tensor, scale: int, cfg: DegradeConfig, g: torch.Generator,
            levels: int | None = 255) -> torch.Tensor:
    """The low-resolution input of one high-resolution crop ``(C, s·h, s·w)`` → ``(C, h, w)``:
    [blur σ ~ U(blur)] → bicubic ↓s → [noise σ ~ U(noise)] → [JPEG q ~ U(jpeg), 3-band only]
    → rounding. Each optional step applies with probability ``cfg.p``; draws come from ``g``."""
    x = hr.float()
    if cfg.blur[1] > 0 and float(torch.rand((), generator=g)) < cfg.p:
        x = _gaussian_blur(x, max(_uniform(*cfg.blur, g), 0.1))
    x = bicubic_down(x, scale, levels=None)
    if cfg.noise[1] > 0 and float(torch.rand((), generator=g)) < cfg.p:
        x = (x + _uniform(*cfg.noise, g) * torch.randn(x.shape, generator=g)).clamp(0.0, 1.0)
    if cfg.jpeg[1] > 0 and x.shape[0] in (1, 3) and float(torch.rand((), generator=g)) < cfg.p:
        x = _jpeg(x, round(_uniform(*cfg.jpeg, g)))
    return x if levels is None else torch.round(x * levels) / levels
