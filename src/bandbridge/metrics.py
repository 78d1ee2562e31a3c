"""Image-quality metrics on model values (every scaling maps to [0, 1], so data_range = 1).

Nodata pixels are excluded from L1/PSNR; SSIM (torchmetrics) is computed on images whose
masked pixels are zeroed on both sides, so they match there.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics.functional.image import structural_similarity_index_measure as _ssim

from bandbridge.losses import masked_l1


def masked_psnr(pred: Tensor, target: Tensor, mask: Tensor, data_range: float = 1.0) -> Tensor:
    """Per-sample PSNR in dB over valid pixels: 10·log10(range² / MSE). Returns ``(B,)``."""
    m = mask.to(pred.dtype).expand_as(pred)
    mse = (((pred - target) ** 2) * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


def masked_ssim(pred: Tensor, target: Tensor, mask: Tensor, data_range: float = 1.0) -> Tensor:
    """Mean SSIM (Gaussian 11×11, σ 1.5) with masked pixels zeroed on both sides."""
    m = mask.to(pred.dtype)
    return _ssim(pred * m, target * m, data_range=data_range)


def batch_metrics(pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """Batch means of L1, PSNR and SSIM on model values."""
    pred, target = pred.float(), target.float()
    return {"l1": masked_l1(pred, target, mask), "psnr": masked_psnr(pred, target, mask).mean(),
            "ssim": masked_ssim(pred, target, mask)}


@torch.inference_mode()
def evaluate_loader(generator: nn.Module, loader: DataLoader) -> dict[str, float]:
    """Sample-weighted means of :func:`batch_metrics` of ``generator`` over ``loader``."""
    was_training = generator.training
    generator.eval()
    sums: dict[str, float] = {}
    n = 0
    for batch in loader:
        b = batch["input"].shape[0]
        for k, v in batch_metrics(generator(batch["input"]), batch["target"], batch["mask"]).items():
            sums[k] = sums.get(k, 0.0) + float(v) * b
        n += b
    generator.train(was_training)
    return {k: v / max(n, 1) for k, v in sums.items()}
