"""Per-image input normalisation shared by the U-Net and ResNet generators, and the parts of the
anchor (models/anchored.py) that are not the learner: the guard and the residual's zero start.

Radiometry is per image, never per tile: the statistics ``stats (B, 2·C)`` = per-band low and high
percentiles of the *whole* image (model values, see :func:`bandbridge.radiometry.image_stats`)
arrive in the generator's context after its first four columns (lat, lon, GSD, sensor), so every
tile of an image is normalised alike and tiled output stays seamless.

Modes (``input_norm``):
- ``none``: the bands as read.
- ``dark_object``: ``x − lo`` (dark-object subtraction: removes the additive haze/offset that
  differs between top-of-atmosphere and surface reflectance); the network also sees ``lo``.
- ``robust``: ``(x − lo) / (hi − lo)`` (per-image contrast stretch, for DN products of unknown
  gain); the network also sees ``lo`` and ``hi``.

The baseline anchor (models/anchored.py): ``G(x) = L(x) + R(n(x), stats)`` with ``L`` a learner
fitted before training (the linear map ``A·x + b`` in closed form, a ridge on context features,
or the selection core's choice) and ``R`` the CNN, fed the normalised bands ``n(x)`` and the image
statistics, whose last layer starts at zero — the untrained model *is* the learner. ``L`` stays
fixed in training (the residual learns what the fit cannot); bundles keep it as weights. The
learner takes the bands as read: fitted on normalised bands it transferred worse to sources held
out (``scripts/loso_linear.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from bandbridge.radiometry import STATS_PERCENTILES

NORM_MODES = ("none", "dark_object", "robust")
CONTEXT_BASE = 4  # lat, lon, GSD, sensor index; image statistics follow


def normalize_bands(x: Tensor, lo: Tensor, hi: Tensor, mode: str) -> Tensor:
    """``x (B, C, H, W)`` with per-image ``lo``/``hi (B, C)`` → normalised bands ``(B, C, H, W)``."""
    if mode == "none":
        return x
    lo4 = lo[:, :, None, None].to(x.dtype)
    if mode == "dark_object":
        return x - lo4
    if mode == "robust":
        return (x - lo4) / (hi[:, :, None, None].to(x.dtype) - lo4).clamp_min(1e-3)
    raise ValueError(f"input_norm must be one of {NORM_MODES}, got '{mode}'")


def batch_stats(x: Tensor) -> Tensor:
    """Fallback statistics of the batch's own images ``(B, 2·C)`` when no context carries them
    (a whole image passed at once; tiles must get the image's statistics through the context):
    the percentiles of :func:`bandbridge.radiometry.image_stats`, in torch."""
    flat = x.float().flatten(2)
    # torch.quantile's linear interpolation, written with a sort so that it exports to ONNX
    # (a whole-tile graph for QGIS computes its statistics itself)
    v = torch.sort(flat, dim=2).values
    n = v.shape[2]
    qs = []
    for p in STATS_PERCENTILES:
        pos = p / 100 * (n - 1)
        i = int(pos)
        j = min(i + 1, n - 1)
        qs.append(v[:, :, i] + (v[:, :, j] - v[:, :, i]) * (pos - i))
    return torch.cat(qs, 1)


def image_stats(x: Tensor, context: Tensor | None, channels: int) -> Tensor:
    """The image statistics ``(B, 2·C)`` of ``x``'s ``channels`` bands: the context's (the whole
    image's, so every tile is treated alike), else the batch's own (:func:`batch_stats`)."""
    c = channels
    if context is not None and context.shape[1] >= CONTEXT_BASE + 2 * c:
        return context[:, CONTEXT_BASE:CONTEXT_BASE + 2 * c].float()
    return batch_stats(x)


class InputNorm(nn.Module):
    """``(x, context) → (normalised bands (B, C, H, W), statistic maps (B, k·C, H, W))``."""

    def __init__(self, channels: int, mode: str = "none"):
        super().__init__()
        if mode not in NORM_MODES:
            raise ValueError(f"input_norm must be one of {NORM_MODES}, got '{mode}'")
        self.channels, self.mode = channels, mode
        self.extra = {"none": 0, "dark_object": channels, "robust": 2 * channels}[mode]

    @property
    def out_channels(self) -> int:
        return self.channels + self.extra

    def stats(self, x: Tensor, context: Tensor | None) -> Tensor:
        return image_stats(x, context, self.channels)

    def forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if self.mode == "none":
            return x, x[:, :0]
        s = self.stats(x, context)
        lo, hi = s[:, :self.channels], s[:, self.channels:]
        xn = normalize_bands(x, lo, hi, self.mode)
        maps = lo if self.mode == "dark_object" else torch.cat([lo, hi], 1)
        h, w = x.shape[-2:]
        return xn, maps[:, :, None, None].to(x.dtype).expand(-1, -1, h, w)


def zero_last_conv(module: nn.Module) -> None:
    """Zero the weights and bias of the last convolution in ``module`` (the residual starts at 0)."""
    convs = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    if not convs:  # a residual without weights (models/reference_band.py): nothing to zero
        return
    nn.init.zeros_(convs[-1].weight)
    if convs[-1].bias is not None:
        nn.init.zeros_(convs[-1].bias)


def zero_residual(generator: nn.Module) -> None:
    """Make an anchored generator (models/anchored.py) its learner again: zero the residual's
    last convolution (``network.residual_tail()``, the block that ends in it)."""
    zero_last_conv(generator.network.residual_tail())


class DomainGuard(nn.Module):
    """The never-worse guard: each image's weight ``w (B,)`` from its statistics ``(B, 2·C)``,
    1 inside the range training saw (``low``, ``high``; data/domain.py) and falling to 0 between
    ``start`` and ``end`` range-widths outside it — the same formula as
    :func:`bandbridge.radiometry.guard_weight`, which predict uses to say so. ``low``/``high``
    may hold one range per training source (``(S, 2·C)``, ``sources`` naming them): the weight
    is then that of the range the image is most like, so an image is unlike the training data
    only when it is unlike every source. Its ranges are configuration (model.yaml), not weights:
    bundles without a guard load unchanged."""

    def __init__(self, low: list, high: list, floor: float = 0.05, start: float = 0.25,
                 end: float = 1.0, images: int = 0, sources: list[str] | None = None):
        super().__init__()
        lo, hi = torch.tensor(low, dtype=torch.float32), torch.tensor(high, dtype=torch.float32)
        self.register_buffer("low", lo.reshape(-1, lo.shape[-1]), persistent=False)  # (S, 2·C)
        self.register_buffer("high", hi.reshape(-1, hi.shape[-1]), persistent=False)
        self.floor, self.start, self.end = float(floor), float(start), float(end)

    def forward(self, stats: Tensor) -> Tensor:
        s = stats.float()[:, None]  # (B, 1, 2·C) against (S, 2·C)
        width = (self.high - self.low).clamp_min(self.floor)
        excess = ((self.low - s).clamp_min(0) + (s - self.high).clamp_min(0)) / width
        w = ((self.end - excess.amax(2)) / (self.end - self.start)).clamp(0.0, 1.0)  # (B, S)
        return w.amax(1)


def guard_part(in_bands: int, guard: dict | None) -> DomainGuard | None:
    """The generator's guard from its ``guard`` argument (None: no guard)."""
    if not guard:
        return None
    lo, hi = np.asarray(guard["low"], float), np.asarray(guard["high"], float)
    if lo.shape != hi.shape or lo.ndim not in (1, 2) or lo.shape[-1] != 2 * in_bands:
        raise ValueError(f"guard: low and high need {2 * in_bands} statistics (2 per input band), "
                         "or a list of such per source")
    return DomainGuard(**guard)
