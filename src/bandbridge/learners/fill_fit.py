"""The decision of ``bandbridge fill`` (``learners/gapfill.py`` says what it is): the route that holds out best
on a scene's clear part, and the fit as one module (``Anchored(learner, FillBase)``), made on any :class:`Source`
from a sample of its clear pixels (``learners/scene_fit.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bandbridge.learners.fill_regions import Region, compose, judge
from bandbridge.learners.fill_sar import SAR_DATED, SAR_HI, SAR_LATER, SAR_LO, sar_model  # noqa: F401
from bandbridge.learners.folds import Fold, spatial_folds
from bandbridge.learners.guided import CANDIDATES, EVERYWHERE, HALF, HI, LO, ROOM
from bandbridge.learners.scene_fit import BUFFER, as_pixels, configured, sample
from bandbridge.learners.select import choose, fit_threads, serve_us
from bandbridge.progress import Progress, steps
from bandbridge.policy import (EVERYWHERE_MPIX, FILL_BUDGET_S, FILL_FIT_MIN, FILL_FIT_PIXELS, FILL_FOLD_WORK,
                               FILL_LINEAR_MIN)

ROUTES = {"fit": "the learner-selection core fitted on the clear part",
          "linear": "the earlier date, a linear map per band fitted on the clear part",
          "as-is": "the earlier date as it is",
          "interpolated": "the clear dates before and after, interpolated linearly in time (the nearest date where only "
                          "one side is clear)",
          # fill --sar without --earlier (inference/place/fill.run_fill): the SAR fit, or nothing
          "sar": "Sentinel-1 alone, fitted on the clear part", "none": "nothing: the gap left as observed"}
FIT_CANDIDATES = tuple(c for c in CANDIDATES if c != "mlp-context")  # ``predict --reference``'s, less the
# context MLP: never chosen on the development sample's pairs, and the fit took half the time without it
PRODUCTS = False  # no pairwise products of the channels: the trees find interactions, the same MAE, faster
FEED = (0.0, 4.0)  # the least range, in model values, the bundle reads its design in (its input's minmax clips
# to it, as fed() does; feed_of widens it): up to 4, so that an earlier date far brighter than the scene's clear
# range reaches the per-band map unclipped; no wider, as the trees are not invariant to the map


def composite(earlier: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(base (C, H, W), valid (H, W), index (H, W))``: per pixel the first date of ``earlier``
    (nearest first) that is clear there; index −1 where none is."""
    base = np.full_like(earlier[0], np.nan)
    index = np.full(earlier[0].shape[1:], -1, np.int16)
    for i, e in enumerate(earlier):
        take = (index < 0) & np.isfinite(e).all(0)
        base[:, take] = e[:, take]
        index[take] = i
    return base, index >= 0, index


class Units:
    """Per band, the scene's stored values ↔ model values: its clear pixels' 0.1–99.9 % range onto
    ``[LO, HI]`` (room for values beyond what the clear part holds; learners predict in [0, 1])."""

    def __init__(self, y: np.ndarray, clear: np.ndarray):
        v = y[:, clear] if clear.any() else y.reshape(y.shape[0], -1)
        v = np.where(np.isfinite(v), v, np.nan)
        self.lo = np.nanpercentile(v, 0.1, axis=1).astype(np.float32)[:, None, None]
        hi = np.nanpercentile(v, 99.9, axis=1).astype(np.float32)[:, None, None]
        self.span = np.where(hi > self.lo, hi - self.lo, 1.0).astype(np.float32)

    def to_model(self, s: np.ndarray) -> np.ndarray:
        return (LO + (HI - LO) * (s - self.lo) / self.span).astype(np.float32)

    def to_stored(self, m: np.ndarray) -> np.ndarray:
        return (self.lo + (m - LO) * self.span / (HI - LO)).astype(np.float32)


class Headroom(Units):
    """``fill_fit.Units`` with room for values far past the clear cells' range: their 0.1–99.9 %
    onto :data:`ROOM` rather than ``[LO, HI]`` (the engine's bundle clamps its output to [0, 1]:
    at ``[LO, HI]`` the brightest cells of a fitted band were cut, and no correction brings a cut
    cell back to the reference's mean)."""

    def to_model(self, s: np.ndarray, inplace: bool = False) -> np.ndarray:
        """``s`` in model values; ``inplace``: into float32 ``s`` itself (:func:`chained`)."""
        if inplace:
            return chained(s, (np.subtract, self.lo), (np.multiply, ROOM[1] - ROOM[0]), (np.divide, self.span),
                           (np.add, ROOM[0]))
        return (ROOM[0] + (ROOM[1] - ROOM[0]) * (s - self.lo) / self.span).astype(np.float32)

    def to_stored(self, m: np.ndarray, inplace: bool = False) -> np.ndarray:
        """``m`` in stored values; ``inplace``: into float32 ``m`` itself (:func:`chained`)."""
        if inplace:
            return chained(m, (np.subtract, ROOM[0]), (np.multiply, self.span), (np.divide, ROOM[1] - ROOM[0]),
                           (np.add, self.lo))
        return (self.lo + (m - ROOM[0]) * self.span / (ROOM[1] - ROOM[0])).astype(np.float32)


def chained(x: np.ndarray, *steps) -> np.ndarray:
    """``x`` through ``(ufunc, operand)`` steps in place: the operations of the expression, in its order, with no
    temporaries (a strip of six 10980-wide bands: a third of the time)."""
    for f, v in steps:
        f(x, v, out=x)
    return x


def channels_of(bands: int, others: int, between: bool, total: int, sar_later: bool = False,
                sar_dated: bool = False) -> dict[str, list[int]]:
    """The design's channel groups (``models/fill_design.FillDesign``'s order): ``base``, ``dates`` (the other
    dates), ``between`` (the interpolation), ``sar`` (now, then, their difference), ``sar_dates`` (``sar_later``,
    ``sar_dated``: the last four each; also apart as ``sar_later`` and ``sar_dated``)."""
    d, s = bands * (1 + others), total - 4 * (int(sar_later) + int(sar_dated))
    b = d + (bands if between else 0)
    t = s + (4 if sar_later else 0)
    return {"base": list(range(bands)), "dates": list(range(bands, d)), "between": list(range(d, b)),
            "sar": list(range(b, s)), "sar_dates": list(range(s, total)), "sar_later": list(range(s, t)),
            "sar_dated": list(range(t, total))}


def nearest_first(dates: list, days: list[int | None]) -> tuple[list, list[int | None]]:
    """``dates`` and their signed ``days`` (before the scene positive, after negative) ordered by
    distance, nearest first (unknown last): the base is, per pixel, the nearest date clear there."""
    order = sorted(range(len(dates)), key=lambda i: (days[i] is None, abs(days[i] or 0)))
    return [dates[i] for i in order], [days[i] for i in order]


def interpolate(before: list[np.ndarray], before_days: list[int | None], after: list[np.ndarray],
                after_days: list[int | None]) -> np.ndarray:
    """Per pixel the nearest clear date before the scene and the nearest after it, interpolated
    linearly in time at the scene's date ``(C, H, W)``; NaN where either side has no clear date
    (or a date is unknown)."""
    def side(dates, days):
        v, ok, idx = composite(dates)
        t = np.array([np.nan if d is None else float(d) for d in days], np.float32)
        return v, np.where(ok, t[np.maximum(idx, 0)], np.nan)
    b, tb = side(before, before_days)
    a, ta = side(after, after_days)
    w = tb / (tb + ta)  # the after date's weight: the nearer date weighs more
    return (b + (a - b) * w).astype(np.float32)


def linear_maps(e: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per band ``(a, c)`` of ``y ≈ a·e + c`` (least squares) from ``(N, C)`` pixels → ``(C, 2)``;
    a band without spread in ``e`` gets ``a = 0`` (its mean)."""
    out = np.zeros((e.shape[1], 2), np.float64)
    for b in range(e.shape[1]):
        if np.ptp(e[:, b]) > 0 and len(e) >= 2:
            out[b] = np.polyfit(e[:, b].astype(np.float64), y[:, b].astype(np.float64), 1)
        else:
            out[b] = (0.0, float(y[:, b].mean()) if len(y) else 0.0)
    return out


def held_out(folds: list[Fold], e: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions ``(N, C)`` of the per-band linear map (NaN where no fold held out)."""
    pred = np.full_like(y, np.nan)
    for f in folds:
        ab = linear_maps(e[f.train], y[f.train])
        pred[f.test] = e[f.test] * ab[:, 0] + ab[:, 1]
    return pred


def feed_of(lo: float, hi: float) -> tuple[float, float]:
    """The range a scene's design is fed in: :data:`FEED`, widened to whole model values that hold
    its lowest ``lo`` and highest ``hi`` value (a clipped design gives the per-band map a constant where
    it reads the clipped base)."""
    return (min(FEED[0], float(np.floor(lo))), max(FEED[1], float(np.ceil(hi))))


def fed(x: np.ndarray, feed: tuple[float, float] = FEED) -> np.ndarray:
    """Model values as the fit's bundle reads them (its input's ``minmax`` over ``feed``,
    clipped: :func:`feed_of`): the learner is fitted on exactly what every tile will hold."""
    return ((np.clip(x, *feed) - feed[0]) / (feed[1] - feed[0])).astype(np.float32)


class Source(Protocol):
    """What the fit reads of one scene: ``learn (H, W)`` clear pixels with an earlier clear date;
    ``clear_y (H, W)`` clear pixels; ``units``; ``linear (C, 2)`` the per-band map fitted on every
    ``learn`` pixel (None under :data:`~bandbridge.policy.FILL_LINEAR_MIN`); ``unit`` (optional) what its values are
    in, for the route's line (default "the scene's stored units"); ``channels`` the design's channel
    indices of ``base``, ``dates`` (after the nearest), ``sar``, ``sar_dates`` (SAR later); ``read(window,
    channels)`` → ``(design (k, h, w) model values, stored (2C, h, w): the scene's bands, the base)``."""

    shape: tuple[int, int]
    bands: int
    learn: np.ndarray
    clear_y: np.ndarray
    units: Units
    linear: np.ndarray | None
    channels: dict[str, list[int]]
    feed: tuple[float, float]

    def read(self, win: tuple[int, int, int, int], channels: list[int]) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class Decision:
    """A fit's outcome: the route, every route's held-out MAE (stored units, the same clear
    pixels), and for the routes ``fit`` and ``sar`` the learner and what it reads (``channels`` of
    the design) with its anchor per band (``a·base_m + d`` in model values)."""

    route: str
    mae: dict[str, float]
    why: str
    clear_pixels: int
    units: Units
    linear: np.ndarray | None = None  # (C, 2) the per-band map, stored units
    chosen: str = ""
    features: str = ""
    oof: dict[str, float] = field(default_factory=dict)
    channels: list[int] = field(default_factory=list)
    fitted: object | None = None  # learners/base.Learner
    anchor: tuple[np.ndarray, np.ndarray] | None = None
    held: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # rows, cols, (C, N) held-out residual
    sampled: tuple[np.ndarray, np.ndarray] | None = None  # rows, cols of every pixel the fit sampled
    feed: tuple[float, float] = FEED  # the range the design is fed in (fed(), the bundle's minmax)
    regions: dict[int, Region] = field(default_factory=dict)  # code → the gap region's route (fill_regions)

    def module(self):
        """The fit as one torch module on :func:`fed` inputs ``(B, k, H, W)`` → model values
        ``(B, C, H, W)``: ``Anchored(learner, FillBase)`` — what the fit's bundle saves and
        every backend serves (the same module runs an in-memory scene)."""
        import torch

        from bandbridge.models.anchored import Anchored
        from bandbridge.models.fill_base import FillBase
        k, c = len(self.channels), len(self.anchor[0])
        base = FillBase(k, c, 0 if self.route == "sar" else c, HALF)  # the SAR fit maps no date; a region's fit
        # may serve any route
        a, d = self.anchor
        base.a.copy_(torch.as_tensor(a * (self.feed[1] - self.feed[0]), dtype=torch.float32))
        base.d.copy_(torch.as_tensor(d + a * self.feed[0], dtype=torch.float32))
        return Anchored(self.fitted.module(k, c), base, None, True, k).eval()


def _rows(units: Units, v: np.ndarray, to_model: bool = True) -> np.ndarray:
    """``units`` on pixels ``(N, C)``."""
    f = units.to_model if to_model else units.to_stored
    return f(v.T[:, :, None])[:, :, 0].T


def _names(src: Source, extra: bool) -> str:
    k = len(src.channels["dates"]) // src.bands if extra else 0
    sar = {0: [], 2: ["SAR now"], 6: ["SAR now", "SAR then", "their difference"]}[len(src.channels["sar"])]
    between = ["the dates interpolated"] if extra and src.channels.get("between") else []
    later = ((SAR_LATER if src.channels.get("sar_later") else []) + (SAR_DATED if src.channels.get("sar_dated")
                                                                        else [])) if extra else []
    return ", ".join(["earlier bands", *(f"date {i + 2}" for i in range(k)), *between, *sar, *later])


def candidates(pixels_out: int, bands: int = 1) -> dict:
    """``select.choose``'s candidates, cost and work for a fit served on ``pixels_out`` pixels of ``bands`` target
    bands: from :data:`~bandbridge.policy.EVERYWHERE_MPIX` on, only what serves fast on every backend
    (``guided.EVERYWHERE``, a cheaper one winning within the folds' noise); else :data:`FIT_CANDIDATES`. The
    search's work is the scene's, not the clock's (every tree candidate is a model a band): each fold's fit sees
    :data:`~bandbridge.policy.FILL_FOLD_WORK` pixel-bands at most, and candidates past
    :data:`~bandbridge.policy.FILL_BUDGET_S` reference seconds in all (``policy.LEARNER_WORK``) are left out."""
    work = {"budget_s": FILL_BUDGET_S / max(bands, 1), "fit_pixels": FILL_FOLD_WORK // max(bands, 1)}
    if pixels_out >= EVERYWHERE_MPIX * 1e6:
        return {"candidates": configured(EVERYWHERE, PRODUCTS), "cost": serve_us} | work
    return {"candidates": configured(FIT_CANDIDATES, PRODUCTS)} | work


def decide(src: Source, seed: int = 0, force: str | None = None, pixels_out: int = 0,
           gap: np.ndarray | None = None, progress: Progress | None = None) -> Decision:
    """The route that held out best on ``src``'s clear part (see the module docstring);
    ``pixels_out``: the pixels the fit will fill (:func:`candidates`); with the pixels to fill
    ``gap (H, W)`` and ``src.region`` (``fill_regions.region_map``), a route per region of the gap; ``progress``
    counts the sample and the selection core's fold fits (``select.choose``)."""
    n = int(src.learn.sum())
    if src.linear is None:
        return Decision("as-is", {}, f"{n:,} clear pixel(s) with an earlier clear date: under the {FILL_LINEAR_MIN:,} "
                        "a per-band map needs, the earlier date goes in as it is" + (" wherever it is clear" if not n
                                                                                     else ""), n, src.units)
    c, units = src.bands, src.units
    a = src.linear[:, 0].astype(np.float64)  # the per-band map (stored units) as a·base_m + d in model values
    lo, span = units.lo[:, 0, 0].astype(np.float64), units.span[:, 0, 0].astype(np.float64)
    d = LO * (1 - a) + (HI - LO) * (a * lo + src.linear[:, 1] - lo) / span
    between, sar_dates = src.channels.get("between", []), src.channels.get("sar_dates", [])
    ch = {e: src.channels["base"] + (src.channels["dates"] + between if e else []) + src.channels["sar"]
          + (sar_dates if e else []) for e in (False, True)}  # the later dates' SAR goes with the dates
    read = lambda e: lambda win: (lambda x, v: (fed(x, src.feed), v))(*src.read(win, ch[e]))  # noqa: E731
    sampled = steps(progress, f"the fit's sample: up to {FILL_FIT_PIXELS:,} clear pixels and their features", 1)
    f, v, rows, cols = sample(read(False), src.learn, FILL_FIT_PIXELS, seed, PRODUCTS)
    sampled()
    y_px, e_px = v[:, :c], v[:, c:2 * c]
    anchor_px = _rows(units, e_px) * a + d
    target = _rows(units, y_px) - anchor_px + HALF
    px = as_pixels(f, target, rows, cols, src.shape, len(ch[False]), n)
    folds = spatial_folds(px, buffer=BUFFER)
    dec = Decision("linear", {}, "", n, units, src.linear, anchor=(a, d), feed=src.feed)
    if not folds:  # too short a scene for a block and its buffer: the map, no check
        dec.why = "the clear part is too small to hold any pixels out: the per-band linear map, unchecked"
        return dec
    tested = np.zeros(len(px), bool)
    for fo in folds:
        tested[fo.test] = True
    held = {"as-is": e_px, "linear": held_out(folds, e_px, y_px)}
    if between:  # no fit: its error on the held-out pixels is its error
        held["interpolated"] = v[:, 2 * c:3 * c]
    dec.mae = {k: _mae(p[tested], y_px[tested]) for k, p in held.items()}
    if n >= FILL_FIT_MIN:
        best = None
        for extra in [False, True] if src.channels["dates"] or between or sar_dates else [False]:
            fx = f if not extra else sample(read(True), src.learn, FILL_FIT_PIXELS, seed, PRODUCTS)[0]
            p = as_pixels(fx, target, rows, cols, src.shape, len(ch[extra]), n)
            with fit_threads():
                sel = choose(p, folds=folds, seed=seed, served=False, progress=progress, **candidates(pixels_out, c))
            pred = _rows(units, sel.held - HALF + anchor_px, to_model=False)
            e = _mae(pred[tested], y_px[tested])
            if best is None or e < best[0]:
                best = (e, sel, extra, pred)
        e, sel, extra, held["fit"] = best
        dec.mae["fit"] = e
        dec.fitted, dec.chosen, dec.oof, dec.channels = sel.fitted, sel.chosen, dict(sel.oof), ch[extra]
        dec.features = _names(src, extra)
    dec.route = force if force in dec.mae else min(dec.mae, key=dec.mae.get)
    dec.why = _why(dec.route, dec.mae, n, getattr(src, "unit", "the scene's stored units"))
    _residuals(dec, getattr(src, "region", None), held, rows, cols, tested, y_px, gap, force)
    return dec


def _residuals(dec: Decision, codes, held: dict, rows, cols, tested, y_px, gap, force: str | None) -> None:
    """``dec``'s route per gap region (``codes``: ``fill_regions.region_map`` of the scene, None: one route)
    and its held-out residuals on the sampled pixels ``rows, cols`` (``held``: each route's predictions)."""
    if codes is not None and gap is not None:
        dec.regions = judge(codes[rows[tested], cols[tested]], {k: p[tested] for k, p in held.items()},
                            y_px[tested], codes[gap], dec.route, force if force in dec.mae else None)
    pred = compose(dec.regions, dec.route, codes[rows, cols], {k: p.T for k, p in held.items()}).T \
        if dec.regions else held[dec.route]
    dec.held = (rows[tested], cols[tested], (y_px - pred)[tested].T)
    dec.sampled = (rows, cols)


def decide_sar(src: Source, seed: int = 0, pixels_out: int = 0, progress: Progress | None = None) -> Decision | None:
    """The gap from Sentinel-1 alone: the core fitted on the clear pixels, the scene's bands the
    target, where it holds out better than the clear part's median (a constant); None where it
    does not, or under :data:`~bandbridge.policy.FILL_FIT_MIN` clear pixels, or without SAR (better than
    leaving a cloud: ``docs/results/fill_sar_alone.json``)."""
    n = int(src.clear_y.sum())
    if n < FILL_FIT_MIN or not src.channels["sar"]:
        return None
    chans, c, feed = src.channels["sar"], src.bands, src.feed
    f, v, rows, cols = sample(lambda w: (lambda x, s: (fed(x, feed), s))(*src.read(w, chans)), src.clear_y,
                              FILL_FIT_PIXELS, seed, PRODUCTS)
    px = as_pixels(f, _rows(src.units, v[:, :c]), rows, cols, src.shape, len(chans), n)
    folds = spatial_folds(px, buffer=BUFFER)
    if not folds:
        return None
    with fit_threads():
        sel = choose(px, folds=folds, seed=seed, served=False, progress=progress, **candidates(pixels_out, c))
    if sel.oof[sel.chosen] >= sel.oof.get("constant", np.inf):
        return None
    why = (f"from SAR alone ({sel.chosen}, out-of-fold MAE {sel.oof[sel.chosen]:.3g} against the constant's "
           f"{sel.oof['constant']:.3g}, in model values: 0–1 over the clear part's 0.1–99.9 % range per band)")
    return Decision("sar", {}, why, n, src.units, chosen=sel.chosen, oof=dict(sel.oof), channels=chans,
                    fitted=sel.fitted, anchor=(np.zeros(c), np.full(c, HALF)), feed=feed)


def _mae(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(p - y)))


def _why(route: str, mae: dict[str, float], n: int, unit: str) -> str:
    """The route's line: every figure on it a held-out MAE in ``unit`` (the values as read: ``Source.unit``)."""
    said = ", ".join(f"{k} {v:.4g}" for k, v in mae.items())
    if "fit" not in mae:
        return (f"{ROUTES[route]} ({n:,} clear pixels, under the {FILL_FIT_MIN:,} a fit needs; held-out MAE in {unit}: "
                f"{said})")
    return f"{ROUTES[route]}: the lowest held-out MAE on the clear part, in {unit}: {said}"
