"""The per-image fallback to the zero-shot floor: ``G'(x) = F(x) + w·(G(x) − F(x))``.

``G`` is any generator (a network, a learner, a network's residual on a learner), ``F`` the floor
(learners/floor.py: the linear map of the bands chosen for a source no training pixel came
from, ``W (Ci + 1, Ct)`` weights then bias) and ``w (B,)`` the never-worse guard's weight of each
image (models/anchor.py: 1 inside the range of statistics training saw, 0 well outside). An image
unlike every training source gets the floor; one like them gets ``G`` unchanged. Both are
configuration of the bundle (``model.generator.floor`` with its ``ranges``), not weights: the wrapper
saves and loads ``G``'s weights under ``G``'s own names, so a bundle gains or loses the fallback
without its weights file changing.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bandbridge.models.anchor import DomainGuard, image_stats

INNER = "model."  # the wrapped generator's prefix in this module's own state dict


class Fallback(nn.Module):
    """``model`` whose output leans on the floor ``W`` on images ``guard`` finds unlike
    training's (at inference; training sees ``model`` alone)."""

    def __init__(self, model: nn.Module, W: list[list[float]], guard: DomainGuard, in_bands: int):
        super().__init__()
        w = torch.tensor(W, dtype=torch.float32)
        if w.ndim != 2 or w.shape[0] != in_bands + 1:
            raise ValueError(f"floor: linear needs {in_bands + 1} rows (a weight per input band, "
                             f"then the bias), got shape {tuple(w.shape)}")
        self.model, self.guard, self.in_bands = model, guard, in_bands
        # a network that normalises per image or places its input takes the context; a learner does not
        self.passes_context = "context" in inspect.signature(model.forward).parameters
        self.register_buffer("floor_weight", w[:-1].T.contiguous()[:, :, None, None], persistent=False)
        self.register_buffer("floor_bias", w[-1].contiguous(), persistent=False)
        self._register_state_dict_hook(_drop_prefix)
        self._register_load_state_dict_pre_hook(_add_prefix)

    def floor(self, x: Tensor) -> Tensor:
        """``F(x) (B, Ct, H, W)`` in [0, 1]: the floor's map of the bands."""
        y = F.conv2d(x[:, :self.in_bands], self.floor_weight.to(x.dtype), self.floor_bias.to(x.dtype))
        return y.clamp(0.0, 1.0)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        y = self.model(x, context) if self.passes_context else self.model(x)
        if self.training:
            return y
        w = self.guard(image_stats(x, context, self.in_bands)).to(y.dtype)[:, None, None, None]
        # y + (1 − w)(F − y): an image inside the range gets y bit for bit
        return y + (1 - w) * (self.floor(x) - y)


def _drop_prefix(module, state_dict, prefix, local_metadata) -> None:
    """Save the wrapped generator's weights under its own names (the bundle's file is ``G``'s)."""
    for k in [k for k in state_dict if k.startswith(prefix + INNER)]:
        state_dict[prefix + k[len(prefix + INNER):]] = state_dict.pop(k)


def _add_prefix(state_dict, prefix, *args) -> None:
    """Load ``G``'s weights, saved under its own names, into the wrapped generator."""
    for k in [k for k in state_dict if k.startswith(prefix) and not k.startswith(prefix + INNER)]:
        state_dict[prefix + INNER + k[len(prefix):]] = state_dict.pop(k)
