"""A network's residual on top of a learner, by composition: ``G(x) = L(x) + w·R(x)``.

``L`` is any per-pixel learner module (learners/: the linear map, a ridge on context features,
the selection core's choice, trees and blends included), ``R`` a network's raw output in
[−1, 1] (``network.residual``, whose last convolution starts at zero, so the untrained model *is*
the learner), ``w (B,)`` the never-worse guard's weight of each image (1 without a guard). The
network knows no anchor and the learner no network; the export adds their two graphs.
Inference clamps to [0, 1]; training does not, so the loss keeps a gradient past the range.
"""

from __future__ import annotations

from torch import Tensor, nn

from bandbridge.models.anchor import DomainGuard, image_stats, zero_last_conv


class Anchored(nn.Module):
    """``learner`` (frozen: fitted in closed form or by the selection core) plus ``network``'s
    residual faded by ``guard``. ``clamp_learner``: the learner's output is clamped before the
    residual is added (a learner the selection core chose) or not (a linear or ridge map fitted
    by the run itself, as 0.1.0 computed both). ``in_bands``: the input bands (the guard reads
    their image statistics)."""

    def __init__(self, learner: nn.Module, network: nn.Module, guard: DomainGuard | None = None,
                 clamp_learner: bool = True, in_bands: int = 3):
        super().__init__()
        self.network, self.learner, self.guard = network, learner, guard
        self.clamp_learner, self.in_bands = clamp_learner, in_bands
        self.learner.requires_grad_(False)
        zero_last_conv(network.residual_tail())
        self._register_load_state_dict_pre_hook(legacy_keys)

    def anchor(self, x: Tensor) -> Tensor:
        """The learner's output, as the residual is added to it."""
        return self.learner(x) if self.clamp_learner else self.learner.raw(x)

    def weighted_residual(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``w·R(x)``: the network's residual, faded per image by the guard at inference."""
        r = self.network.residual(x, context)
        if self.guard is not None and not self.training:
            r = r * self.guard(image_stats(x, context, self.in_bands)).to(r.dtype)[:, None, None, None]
        return r

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        y = self.anchor(x) + self.weighted_residual(x, context)
        return y if self.training else y.clamp(0.0, 1.0)


def legacy_keys(state_dict, prefix, *args) -> None:
    """Weights saved by 0.1.0, whose networks held their anchor as ``spectral`` (a 1×1
    convolution, or a learner), load into the composition: ``spectral.weight`` →
    ``learner.head.weight``, ``spectral.*`` → ``learner.*``, the rest → ``network.*``."""
    if not any(k.startswith(prefix + "spectral.") for k in state_dict):
        return
    for k in [k for k in state_dict if k.startswith(prefix)]:
        rest = k[len(prefix):]
        if rest in ("spectral.weight", "spectral.bias"):
            new = "learner.head." + rest[len("spectral."):]
        elif rest.startswith("spectral."):
            new = "learner." + rest[len("spectral."):]
        else:
            new = "network." + rest
        state_dict[prefix + new] = state_dict.pop(k)
