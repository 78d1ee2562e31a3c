"""Distances between two sets of images that need no pairs: the 1-D Wasserstein distance
between their distributions of pixel values and of gradient magnitudes.

W₁(P, Q) = ∫₀¹ |F_P⁻¹(t) − F_Q⁻¹(t)| dt, evaluated exactly enough on ``QUANTILES`` evenly spaced
quantiles of each sample (error ≤ the largest gap between neighbouring values). Intensity W₁ is
in the units of the values; gradient W₁ in those units per pixel (|∇| from forward differences,
only where a pixel and its right and lower neighbours are valid). Both see the marginal
distributions only: an output with the right values in the wrong places scores perfectly, so they
complement per-pixel metrics on registered pairs and never replace them.
"""

from __future__ import annotations

import torch
from torch import Tensor

QUANTILES = 4096


def valid_values(t: Tensor, mask: Tensor) -> Tensor:
    """Values of ``t (B, C, H, W)`` at valid pixels (``mask (B, 1, H, W)``): ``(N, C)``."""
    return t.movedim(1, -1)[mask[:, 0].bool()].float()


def gradient_magnitudes(t: Tensor, mask: Tensor) -> Tensor:
    """|∇t| = √(∂x² + ∂y²) by forward differences at pixels whose right and lower neighbours are
    valid too: ``(N, C)``."""
    t, m = t.float(), mask[:, 0].bool()
    dx = t[..., :-1, 1:] - t[..., :-1, :-1]
    dy = t[..., 1:, :-1] - t[..., :-1, :-1]
    ok = m[:, :-1, :-1] & m[:, :-1, 1:] & m[:, 1:, :-1]
    return (dx * dx + dy * dy).sqrt().movedim(1, -1)[ok]


def wasserstein_1d(a: Tensor, b: Tensor, quantiles: int = QUANTILES) -> float:
    """W₁ between the empirical distributions of ``a (N,)`` and ``b (M,)``: the mean gap
    between their quantile functions at ``quantiles`` midpoints."""
    if a.numel() == 0 or b.numel() == 0:
        return float("nan")
    t = (torch.arange(quantiles, dtype=torch.float64) + 0.5) / quantiles

    def q(v: Tensor) -> Tensor:
        s = torch.sort(v.flatten().double()).values
        return s[(t * s.numel()).long().clamp_max(s.numel() - 1)]
    return float((q(a) - q(b)).abs().mean())


class DistributionSample:
    """Values and gradient magnitudes of a stream of image batches, pooled (one per band)."""

    def __init__(self) -> None:
        self.values: list[Tensor] = []
        self.gradients: list[Tensor] = []

    def add(self, t: Tensor, mask: Tensor) -> None:
        """Pool the valid pixels of ``t (B, C, H, W)`` (``mask (B, 1, H, W)``)."""
        self.values.append(valid_values(t, mask).cpu())
        self.gradients.append(gradient_magnitudes(t, mask).cpu())

    def distances(self, real: "DistributionSample") -> dict[str, float]:
        """``w1_intensity``, ``w1_gradient`` (means over bands) and their mean ``w1`` against
        ``real`` (which must have as many bands)."""
        out = {}
        for key, mine, theirs in (("w1_intensity", self.values, real.values),
                                  ("w1_gradient", self.gradients, real.gradients)):
            a, b = torch.cat(mine), torch.cat(theirs)
            out[key] = sum(wasserstein_1d(a[:, c], b[:, c]) for c in range(a.shape[1])) / a.shape[1]
        out["w1"] = (out["w1_intensity"] + out["w1_gradient"]) / 2
        return out
