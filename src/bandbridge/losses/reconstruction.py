"""Reconstruction losses that respect the nodata mask."""

from __future__ import annotations

from torch import Tensor


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean |pred − target| over valid pixels. pred/target ``(B, C, H, W)``; mask ``(B, 1, H, W)``
    bool (True = valid) or None."""
    err = (pred - target).abs()
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype).expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1.0)
