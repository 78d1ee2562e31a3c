"""Radiometry per image: the statistics the generator normalises with, and the training
augmentation that simulates what differs between sensors and processing levels.

Statistics are computed once per *image* from a decimated view (at most ``max_side`` pixels a
side), never per tile, so every tile of an image is normalised alike. They are per-band low/high
percentiles of the valid pixels in model values: ``stats = [lo_1..lo_C, hi_1..hi_C]``.

Augmentation (``data.augment``; ranges in model values, i.e. reflectance for reflectance data):
- ``gain``: per input band, ×U(1 − gain, 1 + gain) — calibration and sun-angle differences.
- ``haze``: one additive term per image, U(lo, hi) at blue, scaled by a Rayleigh-like profile
  (blue 1, green 0.59, red 0.29, NIR 0.11; (490 nm / λ)⁴) on every spectral band of input *and*
  target — top-of-atmosphere vs surface reflectance.
- ``gamma``: input ``x^γ`` with ln γ ~ U(−gamma, gamma) — display stretches of 8-bit products.
- ``exposure``: one factor on every input band, log-uniform in ``[lo, hi]``, clipped at 1 — dusk,
  night and over-exposed cameras, where the target (thermal) does not change with the light.
- ``noise``: Gaussian σ on the input — sensor noise.
- ``quantize``: probability of rounding the input to 8 bits — JPEG/PNG products.
The per-image statistics are transformed exactly with the image (percentiles commute with
monotone per-band maps), so the network sees what a real image of that kind would give it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bandbridge.bands import band_role

if TYPE_CHECKING:  # torch is imported where it is used: prediction specs are read without it
    import torch
    from torch import Tensor

STATS_PERCENTILES = (1.0, 99.0)
STATS_MAX_SIDE = 1024
# Relative path radiance by band role, ∝ λ⁻⁴ normalised at blue (490 nm).
HAZE_PROFILE = {"coastal": 1.5, "blue": 1.0, "green": 0.59, "red": 0.29, "rededge": 0.2,
                "nir": 0.11, "swir": 0.01}


def image_stats(data: np.ndarray, mask: np.ndarray, max_side: int = STATS_MAX_SIDE) -> np.ndarray:
    """Per-band (low, high) percentiles of the valid pixels of ``data (C, H, W)`` (model values),
    over a strided view at most ``max_side`` a side. Returns float32 ``(2·C,)``: all lows then all
    highs; an image with no valid pixel gives lows 0 and highs 1."""
    c, h, w = data.shape
    k = max(1, -(-max(h, w) // max_side))
    d, m = data[:, ::k, ::k], mask[::k, ::k]
    if not m.any():
        return np.r_[np.zeros(c), np.ones(c)].astype(np.float32)
    q = np.percentile(d[:, m], STATS_PERCENTILES, axis=1)  # (2, C)
    return q.reshape(-1).astype(np.float32)


def haze_weights(names: list[str]) -> Tensor:
    """The haze profile of bands by name (0 for non-spectral bands: SAR, thermal, gray)."""
    import torch
    return torch.tensor([HAZE_PROFILE.get(band_role(n), 0.0) for n in names], dtype=torch.float32)


def augment_radiometry(x: Tensor, y: Tensor, mask: Tensor, stats: Tensor, in_names: list[str],
                       out_names: list[str], aug, g: torch.Generator
                       ) -> tuple[Tensor, Tensor, Tensor]:
    """Apply ``aug`` (an ``AugmentConfig``) to one crop: ``x (Ci, h, w)``, ``y (Ct, H, W)``,
    ``mask (1, H, W)`` (translation: same grid), image ``stats (2·Ci,)``. Returns new x, y, stats."""
    import torch
    ci = x.shape[0]

    def u(lo: float, hi: float, n: int = 1) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=g)

    lo, hi = stats[:ci].clone(), stats[ci:].clone()
    x, y = x.clone(), y.clone()
    if aug.gain:
        gain = u(1 - aug.gain, 1 + aug.gain, ci)
        x, lo, hi = x * gain[:, None, None], lo * gain, hi * gain
    if aug.haze and aug.haze[1] > aug.haze[0]:
        t = u(*aug.haze)
        off_x, off_y = t * haze_weights(in_names), t * haze_weights(out_names)
        x, lo, hi = x + off_x[:, None, None], lo + off_x, hi + off_x
        y = (y + off_y[:, None, None]).clamp(0, 1)
    if aug.exposure[1] > aug.exposure[0]:
        e = torch.exp(u(float(np.log(aug.exposure[0])), float(np.log(aug.exposure[1]))))
        x, lo, hi = x * e, lo * e, hi * e
    x, lo, hi = x.clamp(0, 1), lo.clamp(0, 1), hi.clamp(0, 1)
    if aug.gamma:
        gam = torch.exp(u(-aug.gamma, aug.gamma))
        x, lo, hi = x ** gam, lo ** gam, hi ** gam
    if aug.noise:
        x = (x + aug.noise * torch.randn(x.shape, generator=g)).clamp(0, 1)
    if aug.quantize and float(torch.rand((), generator=g)) < aug.quantize:
        x, lo, hi = (torch.round(t * 255) / 255 for t in (x, lo, hi))
    m = mask.to(x.dtype)
    return x * m[:, :x.shape[1], :x.shape[2]], y * m, torch.cat([lo, hi])


# The never-worse guard (data/domain.py sets it, models/anchor.py applies it): an image whose
# statistics lie outside the range training saw gets its residual faded toward the anchor,
# fully kept up to ``start`` range-widths outside, gone at ``end``; widths below ``floor`` (model
# values) count as ``floor``, so that a statistic training saw one value of is not a wall.
GUARD_DEFAULTS = {"floor": 0.05, "start": 0.25, "end": 1.0}


def guard_ranges(guard: dict) -> tuple[np.ndarray, np.ndarray]:
    """The guard's ranges as ``(S, 2·C)`` lows and highs (one row without per-source ranges)."""
    return (np.atleast_2d(np.asarray(guard["low"], np.float64)),
            np.atleast_2d(np.asarray(guard["high"], np.float64)))


def range_excess(stats: np.ndarray, guard: dict) -> np.ndarray:
    """``(S, 2·C)``: how far each statistic lies outside each range, in widths of that range."""
    lo, hi = guard_ranges(guard)
    s = np.asarray(stats, np.float64)
    return (np.maximum(lo - s, 0) + np.maximum(s - hi, 0)) / np.maximum(hi - lo, guard["floor"])


def nearest_range(excess: np.ndarray) -> int:
    """The range (row of ``excess (S, 2·C)``) an image lies least far outside of."""
    return int(np.argmin(excess.max(1)))


def guard_weight(stats: np.ndarray, guard: dict) -> float:
    """The image's weight: 1 inside the range (up to ``start`` widths out), falling linearly to
    0 at ``end`` widths out (the output is then the anchor, or the floor, alone); with one range
    per source, by the range the image is most like."""
    e = range_excess(stats, guard)
    return float(np.clip((guard["end"] - e[nearest_range(e)].max()) / (guard["end"] - guard["start"]), 0.0, 1.0))


def guard_note(stats: np.ndarray, guard: dict, names: list[str], floor: dict | None = None) -> str | None:
    """One line on an image the guard fades (None when it keeps the residual whole): the
    statistic furthest outside and the range training saw; with a ``floor`` (models/fallback.py),
    what the output falls back to."""
    every = range_excess(stats, guard)
    r = nearest_range(every)  # the source the image is most like
    e, w = every[r], guard_weight(stats, guard)
    if w >= 1.0:
        return None
    k = int(e.argmax())
    c = len(names)
    what = f"{names[k % c]} {STATS_PERCENTILES[k // c]:g}th percentile"
    lo, hi = guard_ranges(guard)
    source = f" of its nearest source, {guard['sources'][r]}" if guard.get("sources") else ""
    unlike = (f"this image is unlike the model's training images ({what} {float(stats[k]):.4g}, "
              f"training{source} {lo[r, k]:.4g}–{hi[r, k]:.4g})")
    calibrate = "(a few pairs of your imagery calibrate it: `bandbridge adapt`)"
    if floor:
        kept = "the output is" if w == 0 else f"the output is {1 - w:.0%}"
        return (f"{unlike}: {kept} the zero-shot floor, the {floor.get('kind', 'linear')} linear map "
                f"chosen for sources the model never saw {calibrate}")
    kept = "the model's own detail is dropped" if w == 0 else f"the model's own detail is kept at {w:.0%}"
    return f"{unlike}: {kept}, the output leans on the model's baseline fit {calibrate}"
