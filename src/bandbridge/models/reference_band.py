"""The reference band as a network's "residual": ``R(x) = x_ref − ½``, where ``x_ref`` is the
input's last band, the upsampled reference in model values.

Composed with a learner as ``Anchored(learner, ReferenceBand())`` (models/anchored.py) it is
``predict --reference``'s model at full scale, ``y = f(φ(x, r↑)) + r↑ − ½``: the learner ``f``
learned the residual of the reference against its upsampling, offset by ½ (learners predict in
[0, 1]), so a learner that learned nothing gives the upsampled reference itself
(``learners/guided.py``). It holds no weights; saved, it is a bundle like any other and every
backend serves it.
"""

from __future__ import annotations

from torch import Tensor, nn


class ReferenceBand(nn.Module):
    """``x[:, -1:] − half`` of ``(B, C, H, W)``; ``in_channels``/``out_channels`` as every network
    takes them (one output band: the reference's)."""

    def __init__(self, in_channels: int, out_channels: int = 1, half: float = 0.5):
        super().__init__()
        if out_channels != 1:
            raise ValueError(f"the reference band is one band, not {out_channels}")
        if in_channels < 2:
            raise ValueError("the reference band follows the input's own bands: at least 2 inputs")
        self.half = float(half)

    def residual(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return x[:, -1:] - self.half

    def residual_tail(self) -> nn.Module:
        return self  # no convolution to zero: it has no weights

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.residual(x, context)
