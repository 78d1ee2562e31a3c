"""Image-quality metrics (torchmetrics where it has them), masked and on stated data ranges.

Tensors are ``(C, H, W)`` or ``(B, C, H, W)``; ``mask`` is bool ``(H, W)``/``(B, 1, H, W)``,
True = valid. Masked pixels enter no metric: pixel-wise metrics use only valid pixels, SSIM and
SAM maps are averaged over valid pixels only.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics.functional import mean_absolute_error, mean_squared_error, pearson_corrcoef, r2_score
from torchmetrics.functional.image import peak_signal_noise_ratio, spectral_angle_mapper
from torchmetrics.functional.image import structural_similarity_index_measure as _ssim

from bandbridge.bands import INDICES, find_role
from bandbridge.data.datasets import batch_context
from bandbridge.losses import masked_l1


def _b(t: Tensor) -> Tensor:
    return t if t.dim() == 4 else t[None]


def masked_psnr(pred: Tensor, target: Tensor, mask: Tensor, data_range: float = 1.0) -> Tensor:
    """Per-sample PSNR in dB over valid pixels: 10·log10(range² / MSE). Returns ``(B,)``."""
    m = mask.to(pred.dtype).expand_as(pred)
    mse = (((pred - target) ** 2) * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


def masked_ssim(pred: Tensor, target: Tensor, mask: Tensor, data_range: float = 1.0) -> Tensor:
    """SSIM (Gaussian 11×11, σ 1.5) averaged over valid pixels; masked pixels of the prediction
    are set to the target's so they cannot disturb their neighbours' windows."""
    pred, target = _b(pred).float(), _b(target).float()
    m = _b(mask if mask.dim() >= 3 else mask[None]).bool().expand(pred.shape[0], 1, *pred.shape[-2:])
    pred = torch.where(m, pred, target)
    _, smap = _ssim(pred, target, data_range=data_range, return_full_image=True)
    mm = m.expand_as(smap).to(smap.dtype)
    return (smap * mm).sum() / mm.sum().clamp_min(1)


def batch_metrics(pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """Batch means of L1, PSNR and SSIM on model values (data range 1) — the validation set."""
    pred, target = pred.float(), target.float()
    return {"l1": masked_l1(pred, target, mask), "psnr": masked_psnr(pred, target, mask).mean(),
            "ssim": masked_ssim(pred, target, mask)}


def image_metrics(pred: Tensor, target: Tensor, mask: Tensor, data_range: float) -> dict[str, float]:
    """MAE, RMSE, PSNR, SSIM, R², Pearson r (mean over bands; NaN for a constant band) and, for
    multi-band targets, SAM in degrees, of one image pair ``(C, H, W)`` in physical units, over
    valid pixels."""
    pred, target = pred.float(), target.float()
    m = mask.bool().reshape(pred.shape[-2:])
    p, t = pred[:, m].T.contiguous(), target[:, m].T.contiguous()  # (N, C) valid pixels
    out = {"mae": float(mean_absolute_error(p, t)),
           "rmse": float(mean_squared_error(p, t).sqrt()),
           "psnr": float(peak_signal_noise_ratio(p, t, data_range=data_range)),
           # SSIM's 11×11 window needs an image at least that large
           "ssim": float(masked_ssim(pred, target, m, data_range)) if min(m.shape) >= 11
           else float("nan"),
           "r2": float("nan") if len(p) < 2 else float(
               r2_score(p.squeeze(1), t.squeeze(1)) if p.shape[1] == 1 else
               r2_score(p, t, multioutput="uniform_average"))}
    out["pearson_r"] = pixel_pearson(p, t)
    if pred.shape[0] > 1:
        sam = spectral_angle_mapper(_b(pred), _b(target), reduction="none")  # (1, H, W) radians
        out["sam_deg"] = float(torch.rad2deg(sam[0][m]).nanmean())
    return out


def removal_metrics(pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, float]:
    """Cloud removal scored as the field scores it (DSen2-CR, Meraner et al. 2020; UnCRtainTS,
    Ebel et al. 2023): reflectance clipped to [0, 1] (their DN clipped to [0, 10000], divided by
    10000), data range 1. Of one image ``(C, H, W)`` over ``mask (H, W)``: MAE; PSNR in dB,
    10·log10(1 / MSE); SSIM (Gaussian 11×11, σ 1.5, :func:`masked_ssim`'s map averaged over the
    mask; NaN under 11 px); SAM in degrees, the per-pixel angle averaged (``C > 1``). NaN outside
    the mask is read as 0 (it enters no figure but SSIM's windows at the mask's edge)."""
    p = torch.nan_to_num(pred.float()).clamp(0, 1)
    t = torch.nan_to_num(target.float()).clamp(0, 1)
    m = mask.bool().reshape(p.shape[-2:])
    pv, tv = p[:, m], t[:, m]
    out = {"mae": float((pv - tv).abs().mean()),
           "psnr": float(peak_signal_noise_ratio(pv, tv, data_range=1.0)),
           "ssim": float(masked_ssim(p, t, m, 1.0)) if min(m.shape) >= 11 else float("nan")}
    if p.shape[0] > 1:
        sam = spectral_angle_mapper(p[None], t[None], reduction="none")[0]  # (H, W) radians
        out["sam_deg"] = float(torch.rad2deg(sam[m]).nanmean())
    return out


def pixel_pearson(p: Tensor, t: Tensor) -> float:
    """Mean over bands of the per-pixel Pearson correlation of ``(N, C)`` predictions and targets
    (NaN when a band of either is constant: a constant image correlates with nothing)."""
    with warnings.catch_warnings():  # torchmetrics warns before answering NaN for a constant band
        warnings.simplefilter("ignore", UserWarning)
        return float(pearson_corrcoef(p.double(), t.double()).mean())


def band_metrics(pred: Tensor, target: Tensor, mask: Tensor, scale: float, offset: float,
                 x: Tensor | None = None, input_bands: list[str] | None = None) -> dict[str, float]:
    """:func:`image_metrics` of a prediction ``(Ct, H, W)`` against its target, both in model
    values, taken in physical units (``value · scale + offset``; the data range is ``scale``);
    with the input ``x`` and its band names (a single NIR target), :func:`index_metrics` too."""
    out = image_metrics(pred * scale + offset, target * scale + offset, mask, scale)
    if x is not None:
        out.update(index_metrics(x, input_bands or [], target[0], pred[0], mask))
    return out


def index_metrics(x: Tensor, input_bands: list[str], nir_true: Tensor, nir_pred: Tensor,
                  mask: Tensor) -> dict[str, float]:
    """NDVI/NDWI/EVI from the input's visible bands with real vs predicted NIR: MAE, RMSE and
    Pearson r. x ``(C, H, W)`` reflectance-like model values; NIR ``(H, W)``.

    The rule for unstable pixels: an index is scored over the valid pixels where its *real*
    value lies in [−1, 1], its physical range, and the predicted value is clipped to it. NDVI
    and NDWI never leave it for non-negative bands; EVI does where its denominator
    N + 6R − 7.5B + 1 nears zero (bright blue, 8-bit DN read as reflectance), where one pixel
    could otherwise dominate the mean (an EVI MAE of 1364). ``evi_kept`` is the share of valid
    pixels EVI was scored on."""
    m = mask.bool().reshape(nir_true.shape[-2:])
    out: dict[str, float] = {}
    for name, (fn, roles) in INDICES.items():
        idx = [find_role(input_bands, r) for r in roles if r != "nir"]
        if any(i is None for i in idx):
            continue
        bands = [x[i] for i in idx]
        a, b = fn(*bands, nir_true)[m].double(), fn(*bands, nir_pred)[m].double()
        inside = (a >= -1) & (a <= 1)
        a, b = a[inside], b[inside].clamp(-1, 1)
        none = a.numel() == 0
        out[f"{name}_mae"] = float("nan") if none else float(mean_absolute_error(b, a))
        out[f"{name}_rmse"] = float("nan") if none else float(mean_squared_error(b, a).sqrt())
        out[f"{name}_r"] = pixel_pearson(b[:, None], a[:, None]) if a.numel() > 1 else float("nan")
        if name == "evi":
            out["evi_kept"] = float(inside.double().mean()) if inside.numel() else float("nan")
    return out


def rgb_to_y(rgb: Tensor) -> Tensor:
    """ITU-R BT.601 luma as in MATLAB's rgb2ycbcr: RGB in [0, 1] → Y in [16, 235] (8-bit scale)."""
    r, g, b = rgb[..., 0, :, :], rgb[..., 1, :, :], rgb[..., 2, :, :]
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def sr_metrics(pred: Tensor, target: Tensor, scale: int) -> dict[str, float]:
    """The super-resolution protocol: crop ``scale`` pixels at each border, then PSNR/SSIM on RGB
    (range 1) and on the Y channel (8-bit range 255). pred/target ``(3, H, W)`` in [0, 1]; the
    prediction is rounded to 8 bits first, as the SR papers score saved images."""
    c = slice(scale, -scale) if scale > 0 else slice(None)
    p = torch.round(pred.float().clamp(0, 1)[:, c, c] * 255) / 255
    t = target.float()[:, c, c]
    py, ty = rgb_to_y(p)[None, None], rgb_to_y(t)[None, None]
    return {"psnr_rgb": float(peak_signal_noise_ratio(p, t, data_range=1.0)),
            "ssim_rgb": float(_ssim(p[None], t[None], data_range=1.0)),
            "psnr_y": float(peak_signal_noise_ratio(py, ty, data_range=255.0)),
            "ssim_y": float(_ssim(py, ty, data_range=255.0))}


@torch.inference_mode()
def evaluate_loader(generator: nn.Module, loader: DataLoader, sensors: list[str] | None = None) -> dict[str, float]:
    """Sample-weighted means of :func:`batch_metrics` of ``generator`` over ``loader``."""
    was_training = generator.training
    generator.eval()
    sums: dict[str, float] = {}
    n = 0
    for batch in loader:
        b = batch["input"].shape[0]
        pred = generator(batch["input"], batch_context(batch, sensors))
        for k, v in batch_metrics(pred, batch["target"], batch["mask"]).items():
            sums[k] = sums.get(k, 0.0) + float(v) * b
        n += b
    generator.train(was_training)
    return {k: v / max(n, 1) for k, v in sums.items()}


def sharpen_metrics(pred: Tensor, truth: Tensor, mask: Tensor, ratio: float) -> dict:
    """A sharpened image scored as DSen2 and the pansharpening literature score it, over valid
    pixels: per band RMSE and MAE (lists, the image's own units); ERGAS (Wald 2002), 100 · (h/l) ·
    sqrt(mean_k RMSE_k² / μ_k²) with h/l = 1 / ``ratio`` (the fine pixel over the coarse one) and
    μ_k the truth band's mean; and, for ``C > 1``, SAM in degrees (the per-pixel spectral angle,
    averaged). ``pred``/``truth`` ``(C, H, W)``, ``mask`` ``(H, W)`` True = valid."""
    pred, truth = pred.double(), truth.double()
    m = mask.bool().reshape(pred.shape[-2:])
    p, t = pred[:, m], truth[:, m]  # (C, N)
    rmse = ((p - t) ** 2).mean(1).sqrt()
    mu = t.mean(1)
    out = {"rmse": [float(v) for v in rmse], "mae": [float(v) for v in (p - t).abs().mean(1)],
           "ergas": float(100.0 / ratio * ((rmse / mu) ** 2).mean().sqrt())}
    if pred.shape[0] > 1:
        sam = spectral_angle_mapper(p.T[:, :, None, None], t.T[:, :, None, None], reduction="none")
        out["sam_deg"] = float(torch.rad2deg(sam).nanmean())
    return out
