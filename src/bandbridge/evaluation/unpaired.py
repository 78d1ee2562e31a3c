"""A baseline of unpaired translation that needs no pairs: :class:`HistogramMatch`, fitted on
each side's training images apart (the unpaired page's ``histogram-match`` row)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bandbridge.data.datasets import LoadedPair


@dataclass
class HistogramMatch:
    """ŷ_c = Q_B,c(F_A(gray(x))): the input's gray (the mean of its bands) through the CDF of the
    training inputs' gray values, onto the quantile function of the training targets' band c.
    Monotone and increasing by construction: it gets a target's histogram right and says nothing
    about where hot and cold go beyond "brighter is hotter"."""

    a_quantiles: Tensor  # (K,) gray values of domain A at evenly spaced probabilities
    b_quantiles: Tensor  # (Ct, K) values of each target band at the same probabilities
    name: str = "histogram-match"

    @classmethod
    def fit(cls, a: list[LoadedPair], b: list[LoadedPair], k: int = 1025) -> "HistogramMatch":
        """Fitted on domain A's images and domain B's images, apart (no pairing is used)."""
        t = torch.linspace(0, 1, k, dtype=torch.float64)
        gray = torch.cat([p.x.mean(0)[p.mask[0]] for p in a]).double()
        vals = torch.cat([p.x[:, p.mask[0]] for p in b], 1).double()
        return cls(torch.quantile(_thin(gray), t), torch.quantile(_thin(vals), t, dim=1).T)

    def __call__(self, x: Tensor) -> Tensor:
        """``x (Ci, H, W)`` model values → ``(Ct, H, W)``."""
        g = x.double().mean(0).flatten()
        k = self.a_quantiles.numel()
        # F_A(g): the fraction of training gray values below g, by interpolating the quantiles
        i = torch.searchsorted(self.a_quantiles, g).clamp(1, k - 1)
        lo, hi = self.a_quantiles[i - 1], self.a_quantiles[i]
        u = ((i - 1) + ((g - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)) / (k - 1)
        pos = u * (k - 1)
        j = pos.floor().long().clamp(0, k - 2)
        w = pos - j
        out = self.b_quantiles[:, j] * (1 - w) + self.b_quantiles[:, j + 1] * w
        return out.reshape(-1, *x.shape[1:]).float()


def _thin(v: Tensor, n: int = 4_000_000) -> Tensor:
    """At most ``n`` values along the last dimension, evenly strided (torch.quantile's limit)."""
    step = max(1, -(-v.shape[-1] // n))
    return v[..., ::step]
