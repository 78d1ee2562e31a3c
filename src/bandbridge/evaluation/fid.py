"""FID and KID (torchmetrics) with the standard Inception weights read from a local file."""

from __future__ import annotations

import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from bandbridge.fid_inception import load_fid_inception


def _rgb(t: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` in [0, 1] → ``(1, 3, H, W)``; one band is repeated, more than 3 cut to 3."""
    t = t.float().clamp(0, 1)
    t = t.expand(3, -1, -1) if t.shape[0] == 1 else t[:3]
    return t[None].contiguous()


@torch.inference_mode()
def fid_kid(real: list[torch.Tensor], fake: list[torch.Tensor], weights: str,
            feature: torch.nn.Module | None = None) -> dict[str, float]:
    """FID and KID (mean) between two image sets; ``feature`` replaces the Inception (tests)."""
    net = feature if feature is not None else load_fid_inception(weights)
    fid = FrechetInceptionDistance(feature=net, normalize=True)
    kid = KernelInceptionDistance(feature=net, normalize=True,
                                  subset_size=max(2, min(50, len(real))))
    for r, f in zip(real, fake):
        for m in (fid, kid):
            m.update(_rgb(r), real=True)
            m.update(_rgb(f), real=False)
    kid_mean, _ = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean)}
