"""Several generators on one input, their outputs side by side: one engine pass where two bundles would read
the same work file twice (``sharpen``'s fit and the Sentinel-2 network over one tile read, issue 96).

Part ``i`` reads the first ``inputs[i]`` channels of the input (a part made for fewer channels than the
file holds reads its own prefix); ``(B, C, H, W)`` in, ``(B, ΣT_i, H, W)`` out, the parts in order. Each
part is what ``generators.build_generator`` builds from its own ``model.generator`` block, so the bundle
holds only weights and those blocks (loaded without unpickling)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Joined(nn.Module):
    """``parts`` each on the first ``inputs[i]`` channels, concatenated along the channels."""

    def __init__(self, parts: list[nn.Module], inputs: list[int]):
        super().__init__()
        if len(parts) != len(inputs) or not parts:
            raise ValueError(f"joined takes one input count a part: {len(parts)} parts, {len(inputs)} counts")
        self.parts = nn.ModuleList(parts)
        self.inputs = list(inputs)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return torch.cat([p(x[:, :n]) for p, n in zip(self.parts, self.inputs)], 1)
