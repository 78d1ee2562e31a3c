"""Realism measures that need no downloaded weights: how much a set of outputs *looks like* the
real images, beside the per-pixel error that a flat, low-contrast mean wins (the
perception–distortion trade-off, Blau & Michaeli 2018).

- :func:`sliced_wasserstein`: the sliced Wasserstein distance (SWD) between 7×7 patches of a
  Laplacian pyramid of the outputs and of the real images, per level and mean (Karras et al. 2018,
  "Progressive growing of GANs", §5): 0 for identical sets, larger the less alike their local
  structure is at that scale. Descriptors of *both* sets are standardised by the real images'
  per-level mean and standard deviation (Karras et al. standardise each set by its own, which
  would hide a global loss of contrast — the very failure of a flat output), so a distance is in
  units of the real patches' standard deviation.
- :func:`contrast_ratio`: the standard deviation of an output over that of its real image (1 =
  the real contrast; a flat output 0).
- :func:`pearson_r`: the per-pixel Pearson correlation of an output with its real image.

Images are ``(C, H, W)`` float tensors in one unit (model values or stored units, the same for
both sides), on any one device (the random draws are made on the CPU, so a GPU gives the same
patches and directions); masks ``(H, W)`` bool, True = valid. Torch only: the metric layer, training's
validation and the GPU study script share this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bandbridge.policy import CONTRAST_RANGE, IMAGE_MAE_WITHIN, R_MIN

PATCH = 7              # Karras et al.: 7×7 neighbourhoods
PATCHES_PER_IMAGE = 128
DIRECTIONS = 512       # random projections per repeat
REPEATS = 4
COARSEST = 16          # the pyramid stops where a side would fall below 16 pixels
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def pyramid_levels(h: int, w: int) -> int:
    """Levels of a Laplacian pyramid of an ``h × w`` image whose coarsest side is ≥ ``COARSEST``."""
    return max(1, (min(h, w) // COARSEST).bit_length())


def laplacian_pyramid(image: Tensor, levels: int) -> list[Tensor]:
    """``levels`` bands of ``image (C, H, W)``, finest first: each the image minus its blurred,
    halved and re-expanded self; the last the Gaussian residual."""
    g = image[None].float()
    c, out = g.shape[1], []
    k = (_BINOMIAL[:, None] * _BINOMIAL[None, :]).to(g)[None, None].expand(c, 1, 5, 5)  # 5-tap binomial
    for _ in range(levels - 1):
        down = F.conv2d(F.pad(g, (2, 2, 2, 2), mode="reflect"), k, groups=c)[..., ::2, ::2]
        up = F.interpolate(down, size=g.shape[-2:], mode="bilinear", align_corners=False)
        out.append((g - up)[0])
        g = down
    out.append(g[0])
    return out


def _patches(level: Tensor, mask: Tensor, n: int, gen: torch.Generator) -> Tensor:
    """``n`` random 7×7 patches of ``level (C, h, w)`` whose pixels are all valid in ``mask
    (h, w)``, as ``(n', C·49)`` (fewer when fewer valid positions exist)."""
    c, h, w = level.shape
    if h < PATCH or w < PATCH:
        return level.new_zeros((0, c * PATCH * PATCH))
    if bool(mask.all()):  # every top-left fits (the pooling below cost as much as the SWD's projections)
        ok = torch.ones((h - PATCH + 1, w - PATCH + 1), dtype=torch.bool, device=level.device)
    else:
        ok = F.max_pool2d((~mask)[None, None].float(), PATCH, 1)[0, 0] == 0  # (h-6, w-6) top-lefts
    where = torch.nonzero(ok)
    if len(where) == 0:
        return level.new_zeros((0, c * PATCH * PATCH))
    pick = where[torch.randint(len(where), (n,), generator=gen).to(where.device)]
    d = torch.arange(PATCH, device=level.device)
    rows = (pick[:, 0, None] + d)[:, :, None].expand(-1, PATCH, PATCH)
    cols = (pick[:, 1, None] + d)[:, None, :].expand(-1, PATCH, PATCH)
    return level[:, rows, cols].permute(1, 0, 2, 3).reshape(n, -1)


def descriptors(images: list[Tensor], masks: list[Tensor], levels: int, seed: int = 0
                ) -> list[Tensor]:
    """Per pyramid level, ``PATCHES_PER_IMAGE`` patch descriptors of every image, stacked."""
    gen = torch.Generator().manual_seed(seed)
    per_level: list[list[Tensor]] = [[] for _ in range(levels)]
    for img, m in zip(images, masks):
        mj = m.bool()
        for j, band in enumerate(laplacian_pyramid(img, levels)):
            if j:  # a coarse pixel is valid when all four finer ones are (the level above's mask)
                mj = -F.max_pool2d(-(mj[None, None].float()), 2, 2, ceil_mode=True)[0, 0] > 0.5
            per_level[j].append(_patches(band, mj[:band.shape[-2], :band.shape[-1]], PATCHES_PER_IMAGE, gen))
    return [torch.cat(p) for p in per_level]


def _sorted_quantiles(v: Tensor, n: int) -> Tensor:
    """``(n, k)`` quantiles of each column of ``v (m, k)`` (sorted values resampled to ``n``)."""
    s = torch.sort(v.T.contiguous(), 1).values.T  # as contiguous rows: 4× less CPU than along dim 0
    if s.shape[0] == n:
        return s
    pos = torch.linspace(0, s.shape[0] - 1, n, dtype=s.dtype, device=s.device)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(s.shape[0] - 1)
    f = (pos - lo)[:, None]
    return s[lo] * (1 - f) + s[hi] * f


def swd_1level(a: Tensor, b: Tensor, seed: int = 0) -> float:
    """SWD of two descriptor sets ``(n, d)``: the mean over ``REPEATS × DIRECTIONS`` random unit
    directions of the mean absolute difference between the sorted projections (quantiles, when
    the sets differ in size)."""
    gen = torch.Generator().manual_seed(seed)
    n = max(len(a), len(b))
    total = 0.0
    for _ in range(REPEATS):
        d = torch.randn(a.shape[1], DIRECTIONS, generator=gen, dtype=torch.float64).to(a.device)
        d /= d.norm(dim=0, keepdim=True)
        pa, pb = _sorted_quantiles(a.double() @ d, n), _sorted_quantiles(b.double() @ d, n)
        total += float((pa - pb).abs().mean())
    return total / REPEATS


def sliced_wasserstein(outputs: list[Tensor], reals: list[Tensor], masks: list[Tensor] | None = None,
                       seed: int = 0) -> dict[str, float]:
    """SWD between the Laplacian-pyramid patches of ``outputs`` and of ``reals`` (each a list of
    ``(C, H, W)``, paired or not): ``swd_l0`` (finest) … ``swd_lK`` (coarsest) and ``swd`` their
    mean. Both sets are standardised per level by the real descriptors' per-dimension-group
    (channel) mean and standard deviation. The same ``seed`` draws the same patch positions and
    directions, so two calls on one real set are comparable."""
    if masks is None:
        masks = [torch.ones(r.shape[-2:], dtype=torch.bool, device=r.device) for r in reals]
    levels = min(pyramid_levels(*t.shape[-2:]) for t in [*outputs, *reals])
    fake = descriptors(outputs, masks if len(outputs) == len(masks) else
                       [torch.ones(o.shape[-2:], dtype=torch.bool, device=o.device) for o in outputs], levels, seed)
    real = descriptors(reals, masks, levels, seed)
    out: dict[str, float] = {}
    for j, (f, r) in enumerate(zip(fake, real)):
        if len(f) == 0 or len(r) == 0:
            out[f"swd_l{j}"] = float("nan")
            continue
        c = r.shape[1] // (PATCH * PATCH)  # standardise per channel, over the patch's 49 values
        rr = r.reshape(len(r), c, -1)
        mu = rr.mean((0, 2), keepdim=True)
        sd = rr.std((0, 2), keepdim=True).clamp_min(1e-8)
        ff = ((f.reshape(len(f), c, -1) - mu) / sd).reshape(len(f), -1)
        rr = ((rr - mu) / sd).reshape(len(r), -1)
        out[f"swd_l{j}"] = swd_1level(ff, rr, seed + j)
    vals = [v for v in out.values() if v == v]
    out["swd"] = sum(vals) / len(vals) if vals else float("nan")
    return out


def contrast_ratio(output: Tensor, real: Tensor, mask: Tensor | None = None) -> float:
    """std(output) / std(real) over the valid pixels of one image (mean over bands); NaN when the
    real image is flat."""
    m = torch.ones(real.shape[-2:], dtype=torch.bool, device=real.device) if mask is None else mask.bool()
    o, r = output[:, m].double(), real[:, m].double()
    sr = r.std(1)
    if bool((sr <= 0).any()) or r.shape[1] < 2:
        return float("nan")
    return float((o.std(1) / sr).mean())


def pearson_r(output: Tensor, real: Tensor, mask: Tensor | None = None) -> float:
    """Per-pixel Pearson correlation of one output with its real image (mean over bands); NaN
    when either is flat (a flat image correlates with nothing)."""
    m = torch.ones(real.shape[-2:], dtype=torch.bool, device=real.device) if mask is None else mask.bool()
    o, r = output[:, m].double(), real[:, m].double()
    o, r = o - o.mean(1, keepdim=True), r - r.mean(1, keepdim=True)
    den = (o.norm(dim=1) * r.norm(dim=1))
    if bool((den <= 0).any()):
        return float("nan")
    return float(((o * r).sum(1) / den).mean())


def image_scores(output: Tensor, real: Tensor, mask: Tensor) -> dict[str, float]:
    """The realism columns of one image beside its error (``compare``, the web page): the
    contrast ratio and the SWD over its own patches (Pearson r is already an error column)."""
    return {"contrast": contrast_ratio(output, real, mask),
            "swd": sliced_wasserstein([output.float()], [real.float()], [mask])["swd"]}


def realism(outputs: list[Tensor], reals: list[Tensor], masks: list[Tensor] | None = None,
            seed: int = 0) -> dict[str, float]:
    """The realism columns of a set of outputs against their real images: ``swd`` (and per level),
    ``contrast`` (mean per-image ratio) and ``r`` (mean per-image Pearson r, NaN images skipped)."""
    masks = masks or [torch.ones(r.shape[-2:], dtype=torch.bool, device=r.device) for r in reals]
    out = sliced_wasserstein(outputs, reals, masks, seed)
    out["contrast"] = _nanmean([contrast_ratio(o, r, m) for o, r, m in zip(outputs, reals, masks)])
    out["r"] = _nanmean([pearson_r(o, r, m) for o, r, m in zip(outputs, reals, masks)])
    return out


def _nanmean(v: list[float]) -> float:
    k = [x for x in v if x == x]
    return sum(k) / len(k) if k else float("nan")


# The yardstick for image-like targets (thermal, optical from SAR; issue 60): a network may ship
# over the floor when, held out by source, it looks more real on every source without paying much
# per-pixel error. NIR and other physical bands keep the error rule.


SHIP_AXES = ("swd", "mae")  # what a bundle's network must pass on every held-out source to ship
STUDY_AXES = ("swd", "mae", "contrast", "r")  # issue 60's target for the thermal GAN


def image_rule(held: dict[str, float], floor: dict[str, float], need_r: bool = True,
               axes: tuple[str, ...] = STUDY_AXES) -> list[str]:
    """What keeps a network's held-out scores on one source (``mae``, ``swd``, ``contrast``,
    ``r``) from beating the floor's by the image rule, on ``axes``; empty when it passes.
    Shipping asks :data:`SHIP_AXES` (looks more real, pays at most 15 % more error); the study's
    target adds the contrast range and, on daytime sources (``need_r``), the correlation."""
    why = []
    if "swd" in axes and not held["swd"] < floor["swd"]:
        why.append(f"SWD {held['swd']:.3f} not below the floor's {floor['swd']:.3f}")
    if "mae" in axes and not held["mae"] <= IMAGE_MAE_WITHIN * floor["mae"]:
        why.append(f"MAE {held['mae']:.1f} over {IMAGE_MAE_WITHIN:g}× the floor's {floor['mae']:.1f}")
    lo, hi = CONTRAST_RANGE
    if "contrast" in axes and not lo <= held["contrast"] <= hi:
        why.append(f"contrast {held['contrast']:.2f} outside {lo:g}–{hi:g}")
    if "r" in axes and need_r and not held["r"] >= R_MIN:
        why.append(f"r {held['r']:.2f} below {R_MIN:g}")
    return why
