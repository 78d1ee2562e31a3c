"""Cloud gaps of an optical scene filled from an earlier clear date and Sentinel-1, fitted at the
place itself on the scene's own clear pixels (self-supervised, as ``guided.py`` fits a reference).

Everything here is numpy on one grid (the scene's; ``inference/place/fill_read.py`` puts the inputs
there). With the scene's bands ``y (C, H, W)`` (stored units), its clear pixels and its gap, the
earlier dates' same bands and the SAR backscatter (dB) at both dates:

- **the base**: per pixel, the nearest earlier date that is clear there (:func:`composite`);
- **the fit**: the learner-selection core (``select.choose``: spatial folds with a buffer, the
  candidates of :data:`FIT_CANDIDATES`) on the clear pixels, features ``φ`` (``guided.features``:
  the bands, local means and deviations) of the base, the other dates where the held-out check
  says they help, SAR now, SAR then and their difference (and SAR at the nearest later date with
  its change since now, where the check keeps the dates); the target is the change from the base
  mapped per band (``y − (a·base + c) + ½`` in model values, :data:`ANCHOR`), so a learner that
  learns nothing gives the per-band map, and a change larger than the model range (a cloud the
  scene classification called snow, a harvest) is not clipped;
- **linear per band**: ``y_b ≈ a_b · base_b + c_b`` fitted on the clear pixels (the baseline a user
  has without any of this), and **as is**: the base itself.

Each route's error is held out on the same clear pixels (the folds' blocks, :func:`held_out`), in
the scene's stored units; the route with the lowest held-out MAE fills the gap (:data:`ROUTES`).
Below :data:`~bandbridge.policy.FILL_FIT_MIN` clear pixels no fit is tried, below
:data:`~bandbridge.policy.FILL_LINEAR_MIN` the base goes in as it is.

**The edge**: the chosen route's held-out error is known on the clear pixels around the gap; it is
spread into the gap, fading with the distance from the clear part
(:func:`edge_correction`, :data:`~bandbridge.policy.FILL_EDGE_PX`), as gap fillers that
interpolate the residual (NSPI, Poisson blending) do: where the route is off by a local bias, the
filled pixels near the edge carry the same bias away, and the seam with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from bandbridge.learners.fill_fit import (ANCHOR, FEED, FIT_CANDIDATES, FIT_PIXELS, PRODUCTS, ROUTES,  # noqa: F401
                                         SAR_HI, SAR_LO, Decision, Source, Units, channels_of, composite, decide,
                                         decide_sar, design, fed, feed_of, held_out, interpolate, linear_maps,
                                         nearest_first, sar_model, shares)
from bandbridge.learners.fill_regions import Region, compose, region_map, route_of, used
from bandbridge.policy import FILL_EDGE_PX, FILL_LINEAR_MIN


@dataclass
class Stack:
    """The inputs on the scene's grid. ``y (C, H, W)`` the scene's bands that the earlier dates
    hold (stored units); ``clear (H, W)`` pixels the fit may learn from; ``gap (H, W)`` pixels to
    fill; ``earlier`` a list of ``(C, H, W)`` stored values, ``NaN`` where not clear, nearest date
    first; ``days`` their distance to the scene; ``sar_now``/``sar_then`` ``(2, H, W)`` VV, VH in
    dB (``NaN``: no data) or None; ``later`` the clear dates after the scene, nearest first, with
    ``later_days`` their days after it (issue 75: per pixel the nearest clear date on either side
    is the base, and where both sides are clear, their temporal interpolation is a route);
    ``sar_later`` ``(2, H, W)`` SAR at the nearest later date (dB), a feature with the later dates."""

    y: np.ndarray
    clear: np.ndarray
    gap: np.ndarray
    earlier: list[np.ndarray]
    days: list[int | None]
    sar_now: np.ndarray | None = None
    sar_then: np.ndarray | None = None
    later: list[np.ndarray] = field(default_factory=list)
    later_days: list[int | None] = field(default_factory=list)
    sar_later: np.ndarray | None = None


@dataclass
class Filled:
    """What the fill decided and made."""

    values: np.ndarray  # (C, H, W) the scene with its gap filled, stored units (float32)
    filled: np.ndarray  # (H, W) bool: pixels given a value here
    route: str  # a key of ROUTES
    mae: dict[str, float]  # held-out MAE of every route tried, stored units, same clear pixels
    chosen: str = ""  # the learner the fit chose (route fit or not)
    features: str = ""  # what the fit saw
    clear_pixels: int = 0
    unfillable: int = 0  # gap pixels no earlier date is clear at (left as they were)
    why: str = ""  # the decision in one line
    oof: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    residual: np.ndarray | None = None  # (C, H, W) the route's held-out error on clear pixels, NaN elsewhere
    corrected: bool = False  # the edge correction was added to the filled pixels
    sources: dict[str, int] = field(default_factory=dict)  # which dates filled how many pixels ("3 d before",
    # "5 d after", "interpolated")
    regions: dict[int, Region] = field(default_factory=dict)  # the gap's regions and their routes (fill_regions)


def edge_correction(residual: np.ndarray, px: float = FILL_EDGE_PX) -> np.ndarray:
    """``residual (C, H, W)`` (observed − predicted, NaN where unknown) spread over the image:
    a Gaussian-weighted mean of the known residuals (σ = ``px``), faded by ``exp(−d / px)`` with
    ``d`` the distance to the nearest known pixel; 0 where nothing is known or ``px`` is 0."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter
    known = np.isfinite(residual).all(0)
    if px <= 0 or not known.any():
        return np.zeros_like(residual, dtype=np.float32)
    k = gaussian_filter(known.astype(np.float64), px, mode="constant")
    out = np.zeros(residual.shape, np.float32)
    fade = np.exp(-distance_transform_edt(~known) / px)
    for c in range(residual.shape[0]):
        num = gaussian_filter(np.where(known, residual[c], 0.0).astype(np.float64), px, mode="constant")
        out[c] = np.where(k > 1e-6, num / np.maximum(k, 1e-6), 0.0) * fade
    return out


class ArraySource:
    """:class:`Source` of a :class:`Stack` held in memory (evaluation's scenes, a small fill)."""

    def __init__(self, stack: Stack, use_sar: bool = True):
        y = stack.y
        dates, _ = nearest_first(stack.earlier + stack.later, list(stack.days) + [
            None if d is None else -d for d in stack.later_days])
        self.base, self.has_base, self.index = composite(dates)
        side = lambda ds: composite(ds)[1] if ds else np.zeros(self.has_base.shape, bool)  # noqa: E731
        self.region = region_map(side(stack.earlier), side(stack.later))  # which sides are clear at each pixel
        between = interpolate(stack.earlier, stack.days, stack.later, stack.later_days) if stack.later else None
        self.units = Units(y, stack.clear)
        finite = np.isfinite(y).all(0)
        self.learn, self.clear_y = stack.clear & self.has_base & finite, stack.clear & finite
        self.shape, self.bands = y.shape[1:], y.shape[0]
        n = int(self.learn.sum())
        self.linear = linear_maps(self.base[:, self.learn].T, y[:, self.learn].T) if n >= FILL_LINEAR_MIN else None
        others = [self.units.to_model(e) for e in dates[1:]]
        now, then = (stack.sar_now, stack.sar_then) if use_sar else (None, None)
        later = stack.sar_later if use_sar and now is not None else None
        inter = None if between is None else self.units.to_model(between)
        self.x, _ = design(self.units.to_model(self.base), others, now, then, between=inter, sar_later=later)
        self.feed = feed_of(float(self.x.min()), float(self.x.max()))
        self.channels = channels_of(self.bands, len(others), inter is not None, self.x.shape[0], later is not None)
        self.between_raw = between
        self.between = None if between is None else np.where(np.isfinite(between), between, self.base)
        self.stored = np.concatenate([y, self.base] + ([self.between] if between is not None else []))

    def read(self, win: tuple[int, int, int, int], channels: list[int]) -> tuple[np.ndarray, np.ndarray]:
        r, c, h, w = win
        return self.x[channels, r:r + h, c:c + w], self.stored[:, r:r + h, c:c + w]


def fill(stack: Stack, use_sar: bool = True, extra_dates: bool | None = None, seed: int = 0,
         allow_fit: bool = True, force: str | None = None, edge_px: float = FILL_EDGE_PX) -> Filled:
    """The gap of a :class:`Stack` held in memory filled by the route that held out best (see the
    module docstring; ``bandbridge fill`` runs the same decision on files through the engine,
    ``inference/place/fill_engine.py``). ``use_sar``: False fits without SAR (evaluation's column);
    ``extra_dates``: True / False forces the dates after the nearest in or out of the features,
    None lets the held-out check decide; ``allow_fit``: False keeps to the linear and as-is routes;
    ``force``: this route fills the gap whatever the check says (evaluation's columns; the check
    is still made and recorded); ``edge_px``: the edge correction's length (0: none)."""
    t0 = time.perf_counter()
    src = ArraySource(stack, use_sar)
    out, todo = stack.y.copy(), stack.gap & src.has_base
    dec = decide(src, extra_dates, seed, allow_fit, force, gap=todo)
    values = compose(dec.regions, dec.route, src.region, {r: src.base if r == "as-is" else src.between if r ==
                                                          "interpolated" else apply(dec, src.x, src.base, r)
                                                          for r in used(dec.regions, dec.route)})
    residual = None
    if dec.held is not None:
        residual = np.full(stack.y.shape, np.nan, np.float32)
        rows, cols, r = dec.held
        residual[:, rows, cols] = r
        if edge_px > 0:
            values = values + edge_correction(residual, edge_px)
    out[:, todo] = values[:, todo]
    done = Filled(out.astype(np.float32), todo, dec.route, dec.mae, dec.chosen, dec.features, dec.clear_pixels,
                  int((stack.gap & ~todo).sum()), dec.why, dec.oof, 0.0, residual, residual is not None and edge_px > 0)
    done.regions = dec.regions
    signed = [*stack.days, *(None if d is None else -d for d in stack.later_days)]
    between = None if src.between_raw is None else \
        np.isfinite(src.between_raw).all(0) & (route_of(dec.regions, dec.route, src.region) == "interpolated")
    done.sources = shares(src.index, todo, nearest_first(signed, signed)[1], between)
    holes = stack.gap & ~src.has_base
    if done.unfillable and use_sar and stack.sar_now is not None and (sar := decide_sar(src, seed)) is not None:
        done.values[:, holes] = apply(sar, src.x, src.base)[:, holes]
        done.filled = done.filled | holes
        done.why += f"; {int(holes.sum()):,} pixel(s) no earlier date is clear at: {sar.why}"
        done.unfillable = 0
    done.seconds = time.perf_counter() - t0
    return done


def apply(dec: Decision, x: np.ndarray, base: np.ndarray, route: str | None = None) -> np.ndarray:
    """The ``route``'s values (default the decision's) ``(C, H, W)`` (stored units) of a design ``x``
    held in memory (model values) and its base (stored units): the fit's module
    (:meth:`Decision.module`), the per-band map."""
    if (route or dec.route) == "linear":
        ab = dec.linear.astype(np.float32)
        return base * ab[:, :1, None] + ab[:, 1:, None]
    import torch
    with torch.inference_mode():
        m = dec.module()(torch.from_numpy(fed(x[dec.channels], dec.feed))[None])[0].numpy()
    return dec.units.to_stored(m)


