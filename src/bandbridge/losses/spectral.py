"""Spectral losses (NIR-GAN's application-specific terms, made exact).

- ``histogram_emd``: the 1-D Earth Mover's (Wasserstein-1) distance between the value
  distributions of prediction and target, per band: W₁ = ∫ |F_pred(v) − F_target(v)| dv, with F
  the CDF of a differentiable soft histogram (Gaussian kernels, ``bins`` over [0, 1]).
- ``index_l1``: mean |idx(x, G(x)) − idx(x, y)| over NDVI, NDWI, EVI computed from the input's
  visible bands (found by role) and predicted vs real NIR; indices clipped to [−1, 1].

Shapes: pred/target ``(B, C, H, W)`` in [0, 1]; mask ``(B, 1, H, W)`` bool (True = valid).
"""

from __future__ import annotations

import torch
from torch import Tensor

from bandbridge.bands import INDICES
from bandbridge.losses.reconstruction import masked_l1


def soft_histogram(x: Tensor, mask: Tensor, bins: int = 64) -> Tensor:
    """Normalised soft histogram ``(B, C, bins)`` of the valid values of ``x``."""
    b, c = x.shape[:2]
    centres = (torch.arange(bins, device=x.device, dtype=x.dtype) + 0.5) / bins
    sigma = 1.0 / bins
    v = x.reshape(b, c, -1, 1)
    w = torch.exp(-0.5 * ((v - centres) / sigma) ** 2)
    w = w / w.sum(-1, keepdim=True).clamp_min(1e-12)  # each value carries mass 1
    m = mask.reshape(b, 1, -1, 1).to(x.dtype)
    h = (w * m).sum(2)
    return h / h.sum(-1, keepdim=True).clamp_min(1e-12)


def histogram_emd(pred: Tensor, target: Tensor, mask: Tensor | None = None, bins: int = 64) -> Tensor:
    """Mean over batch and bands of W₁ between the soft histograms (units of the values)."""
    if mask is None:
        mask = torch.ones_like(pred[:, :1], dtype=torch.bool)
    hp = soft_histogram(pred.float(), mask, bins)
    ht = soft_histogram(target.float(), mask, bins)
    return (hp.cumsum(-1) - ht.cumsum(-1)).abs().sum(-1).mean() / bins


def index_l1(x: Tensor, band_index: dict[str, int], nir_pred: Tensor, nir_true: Tensor,
             mask: Tensor | None = None, indices: tuple[str, ...] = ("ndvi", "ndwi", "evi")) -> Tensor:
    """Σ over indices of the masked mean |idx(x, NIR_pred) − idx(x, NIR_true)|.

    ``band_index`` maps roles ('red', 'green', 'blue') to channels of ``x``; NIR ``(B, 1, H, W)``.
    """
    total = nir_pred.new_zeros(())
    for name in indices:
        fn, roles = INDICES[name]
        bands = [x[:, band_index[r]:band_index[r] + 1] for r in roles if r != "nir"]
        total = total + masked_l1(fn(*bands, nir_pred).clamp(-1, 1), fn(*bands, nir_true).clamp(-1, 1), mask)
    return total
