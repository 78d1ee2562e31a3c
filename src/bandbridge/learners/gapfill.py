"""Cloud gaps of an optical scene filled from an earlier clear date and Sentinel-1, fitted at the
place itself on the scene's own clear pixels (self-supervised, as ``guided.py`` fits a reference).

Everything here is numpy on one grid (the scene's; ``inference/jobs/fill_read.py`` puts the inputs
there). With the scene's bands ``y (C, H, W)`` (stored units), its clear pixels and its gap, the
earlier dates' same bands and the SAR backscatter (dB) at both dates:

- **the base**: per pixel, the nearest earlier date that is clear there (:func:`composite`);
- **the fit**: the learner-selection core (``select.choose``: spatial folds with a buffer, the
  candidates of :data:`FIT_CANDIDATES`) on the clear pixels, features ``φ`` (``guided.features``:
  the bands, local means and deviations) of the base, the other dates where the held-out check
  says they help, SAR now, SAR then and their difference; the target is the change from the base
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

from bandbridge.learners.folds import Fold, Pixels, spatial_folds
from bandbridge.learners.guided import BUFFER, CANDIDATES, HALF, HI, LO, configured, features
from bandbridge.learners.select import choose, fit_threads
from bandbridge.policy import FILL_EDGE_PX, FILL_FIT_MIN, FILL_LINEAR_MIN

ROUTES = {"fit": "the learner-selection core fitted on the clear part",
          "linear": "the earlier date, a linear map per band fitted on the clear part",
          "as-is": "the earlier date as it is",
          # fill --sar without --earlier (inference/jobs/fill.run_fill): the SAR fit, or nothing
          "sar": "Sentinel-1 alone, fitted on the clear part", "none": "nothing: the gap left as observed"}
SAR_LO, SAR_HI = -30.0, 5.0  # dB mapped to [0, 1] (bands.py's sar_db scaling)
FIT_PIXELS = 200_000  # clear pixels the choice is made on (a uniform sample when more)
FIT_CANDIDATES = tuple(c for c in CANDIDATES if c != "mlp-context")  # ``predict --reference``'s, less
# the context MLP: on the development sample's first three date pairs (00002806639B424A, seeded
# discs, 2026-11-27) it was never chosen nor in the chosen blend, and the fit took half the time
# without it (45–56 s against 77–126 s a pair on two busy cores) with the same held-out MAE
ANCHOR = "linear"  # what the fit learns the change from: "linear" (the per-band map) or "base"
PRODUCTS = False  # no pairwise products of the channels: with SAR at two dates there are ten
# channels, 45 products; the trees find interactions themselves, and the fit took half the time
# without them on the real cloudy date of docs/fill.md's figure (sample 00002806639B424A,
# 2018-06-03: held-out MAE 0.01648 reflectance against 0.01640 with them, 31 s against 41 s)


@dataclass
class Stack:
    """The inputs on the scene's grid. ``y (C, H, W)`` the scene's bands that the earlier dates
    hold (stored units); ``clear (H, W)`` pixels the fit may learn from; ``gap (H, W)`` pixels to
    fill; ``earlier`` a list of ``(C, H, W)`` stored values, ``NaN`` where not clear, nearest date
    first; ``days`` their distance to the scene; ``sar_now``/``sar_then`` ``(2, H, W)`` VV, VH in
    dB (``NaN``: no data) or None."""

    y: np.ndarray
    clear: np.ndarray
    gap: np.ndarray
    earlier: list[np.ndarray]
    days: list[int | None]
    sar_now: np.ndarray | None = None
    sar_then: np.ndarray | None = None


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


def sar_model(db: np.ndarray) -> np.ndarray:
    """SAR dB ``(2, H, W)`` → [0, 1], no data at the clear pixels' median (a feature, not a
    target: a hole must not look like a dark field)."""
    m = np.clip((db - SAR_LO) / (SAR_HI - SAR_LO), 0, 1).astype(np.float32)
    for c in range(m.shape[0]):
        bad = ~np.isfinite(m[c])
        if bad.any():
            m[c][bad] = np.nanmedian(m[c]) if (~bad).any() else 0.5
    return m


def design(base_m: np.ndarray, others_m: list[np.ndarray], sar_now: np.ndarray | None,
           sar_then: np.ndarray | None) -> tuple[np.ndarray, str]:
    """The fit's input channels ``(Ci, H, W)`` in model values and their names: the base, other
    dates (NaN: the base there), SAR now, SAR then, and their difference (+½: in [0, 1])."""
    parts, names = [base_m], ["earlier bands"]
    for i, o in enumerate(others_m):
        parts.append(np.where(np.isfinite(o), o, base_m))
        names.append(f"date {i + 2}")
    if sar_now is not None:
        now = sar_model(sar_now)
        parts.append(now)
        names.append("SAR now")
        if sar_then is not None:
            then = sar_model(sar_then)
            parts += [then, np.clip(now - then + HALF, 0, 1)]
            names += ["SAR then", "their difference"]
    return np.nan_to_num(np.concatenate(parts), nan=HALF).astype(np.float32), ", ".join(names)


def pixels_of(x: np.ndarray, target: np.ndarray, mask: np.ndarray, seed: int) -> tuple[Pixels, np.ndarray, np.ndarray]:
    """:class:`Pixels` of the ``mask`` pixels (a uniform sample of :data:`FIT_PIXELS`), features
    ``φ(x)``, targets ``target (Ct, H, W)``, positions along the longer side (the folds' blocks)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(mask)
    if len(rows) > FIT_PIXELS:
        keep = np.sort(rng.choice(len(rows), FIT_PIXELS, replace=False))
        rows, cols = rows[keep], cols[keep]
    f = features(x, PRODUCTS)
    h, w = mask.shape
    n = len(rows)
    px = Pixels(f[:, rows, cols].T.copy(), target[:, rows, cols].T.astype(np.float32), np.zeros(n, int),
                np.zeros(n, int), rows if h >= w else cols, np.array([max(h, w)]), x.shape[0], int(mask.sum()))
    return px, rows, cols


def predict_all(learner, x: np.ndarray) -> np.ndarray:
    """``learner`` on every pixel of ``x (Ci, H, W)`` → ``(Ct, H, W)`` model values."""
    f = features(x, PRODUCTS)
    p = learner.predict(f.reshape(f.shape[0], -1).T, x.shape[0])
    return p.T.reshape(p.shape[1], *x.shape[1:])


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


def _mae(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(p - y)))


def fill(stack: Stack, use_sar: bool = True, extra_dates: bool | None = None, seed: int = 0,
         allow_fit: bool = True, force: str | None = None, edge_px: float = FILL_EDGE_PX) -> Filled:
    """The gap of ``stack`` filled by the route that held out best (see the module docstring).
    ``use_sar``: False fits without SAR (evaluation's column); ``extra_dates``: True / False
    forces the dates after the nearest in or out of the features, None lets the held-out check
    decide; ``allow_fit``: False keeps to the linear and as-is routes; ``force``: this route fills
    the gap whatever the check says (evaluation's columns; the check is still made and recorded);
    ``edge_px``: the edge correction's length (0: none)."""
    t0 = time.perf_counter()
    y, clear, gap = stack.y, stack.clear, stack.gap
    base, has_base, _ = composite(stack.earlier)
    units = Units(y, clear)
    base_m = units.to_model(base)
    learn = clear & has_base & np.isfinite(y).all(0)
    n = int(learn.sum())
    mae: dict[str, float] = {}
    sar_now = stack.sar_now if use_sar else None
    sar_then = stack.sar_then if use_sar else None
    out = y.copy()
    todo = gap & has_base
    if n < FILL_LINEAR_MIN:
        values = base
        route, why = "as-is", (f"{n:,} clear pixel(s) with an earlier clear date: under the {FILL_LINEAR_MIN:,} a "
                               "per-band map needs, the earlier date goes in as it is")
        chosen = feats = ""
        oof: dict[str, float] = {}
    else:
        ys, es = y[:, learn].T, base[:, learn].T
        ab = linear_maps(es, ys)
        anchor_m = units.to_model(base * ab[:, :1, None] + ab[:, 1:, None]) if ANCHOR == "linear" else base_m
        target = units.to_model(y) - anchor_m + HALF
        px, rows, cols = pixels_of(design(base_m, [], sar_now, sar_then)[0], np.nan_to_num(target, nan=HALF),
                                   learn, seed)
        folds = spatial_folds(px, buffer=BUFFER)
        if not folds:  # too short a scene for a block and its buffer: the map, no check
            values = base * ab[:, :1, None] + ab[:, 1:, None]
            return _done(out, values, todo, gap, "linear", {}, "", "", n, "the clear part is too small to hold "
                         "any pixels out: the per-band linear map, unchecked", {}, t0)
        y_px, e_px = y[:, rows, cols].T, base[:, rows, cols].T
        tested = np.zeros(len(px), bool)
        for f in folds:
            tested[f.test] = True
        lin = held_out(folds, e_px, y_px)
        mae["as-is"] = _mae(e_px[tested], y_px[tested])
        mae["linear"] = _mae(lin[tested], y_px[tested])
        chosen = feats = ""
        oof = {}
        fitted = None
        held = {"as-is": e_px, "linear": lin}
        if allow_fit and n >= FILL_FIT_MIN:
            fitted, chosen, feats, oof, fit_e, x_all, held["fit"] = _fit(
                stack, units, base_m, anchor_m, target, learn, folds, px, rows, cols, y_px, tested, sar_now,
                sar_then, extra_dates, seed)
            mae["fit"] = fit_e
        route = force if force in mae else min(mae, key=mae.get)
        residual = np.full(y.shape, np.nan, np.float32)
        residual[:, rows[tested], cols[tested]] = (y_px - held[route])[tested].T
        if route == "fit":
            values = units.to_stored(predict_all(fitted, x_all) - HALF + anchor_m)
        elif route == "linear":
            values = base * ab[:, :1, None].astype(np.float32) + ab[:, 1:, None].astype(np.float32)
        else:
            values = base
        why = _why(route, mae, n, allow_fit)
        if edge_px > 0:
            values = values + edge_correction(residual, edge_px)
    done = _done(out, values, todo, gap, route, mae, chosen, feats, n, why, oof, t0)
    if n >= FILL_LINEAR_MIN:
        done.residual, done.corrected = residual, edge_px > 0
    if done.unfillable and stack.sar_now is not None and use_sar:
        _sar_alone(done, stack, units, gap & ~has_base, seed)
    return done


def _sar_alone(done: Filled, stack: Stack, units: Units, holes: np.ndarray, seed: int) -> None:
    """Gap pixels no earlier date is clear at, filled (in place) from SAR alone: the core fitted
    on the clear pixels, features SAR now (and then, and their difference), the scene's bands the
    target, where it holds out better than the clear part's median. ``../shared/FACTS.md``: 0.0314
    reflectance on the WorldCereal protocol, against 0.0750 for the earlier date as it is — better
    than leaving a cloud; not tried under :data:`~bandbridge.policy.FILL_FIT_MIN` clear pixels."""
    learn = stack.clear & np.isfinite(stack.y).all(0)
    if learn.sum() < FILL_FIT_MIN:
        return
    x, _ = design(np.zeros((0, *learn.shape), np.float32), [], stack.sar_now, stack.sar_then)
    px, _, _ = pixels_of(x, np.nan_to_num(units.to_model(stack.y), nan=HALF), learn, seed)
    folds = spatial_folds(px, buffer=BUFFER)
    if not folds:
        return
    with fit_threads():
        sel = choose(px, configured(FIT_CANDIDATES, PRODUCTS), folds=folds, seed=seed, served=False)
    if sel.oof[sel.chosen] >= sel.oof.get("constant", np.inf):
        return
    v = units.to_stored(predict_all(sel.fitted, x))
    done.values[:, holes] = v[:, holes]
    done.filled = done.filled | holes
    done.why += (f"; {int(holes.sum()):,} pixel(s) no earlier date is clear at: from SAR alone ({sel.chosen}, "
                 f"out-of-fold MAE {sel.oof[sel.chosen]:.3g} in model values against the constant's "
                 f"{sel.oof['constant']:.3g})")
    done.unfillable = 0


def _fit(stack, units, base_m, anchor_m, target, learn, folds, px, rows, cols, y_px, tested, sar_now,
         sar_then, extra_dates, seed):
    """The core's choice on the design without, then (where there are) with the other dates;
    ``(learner, its name, features, oof, held-out MAE in stored units, the design it was fitted on,
    the held-out predictions (N, C) in stored units)``."""
    options = [False] if len(stack.earlier) < 2 or extra_dates is False else \
        [True] if extra_dates else [False, True]
    best = None
    for extra in options:
        others = [units.to_model(e) for e in stack.earlier[1:]] if extra else []
        x, names = design(base_m, others, sar_now, sar_then)
        if extra:  # the same pixels (same mask and seed), so the folds still index them
            px, _, _ = pixels_of(x, np.nan_to_num(target, nan=HALF), learn, seed)
        with fit_threads():
            sel = choose(px, configured(FIT_CANDIDATES, PRODUCTS), folds=folds, seed=seed, served=False)
        b = anchor_m[:, rows, cols].T
        pred = units.to_stored((sel.held - HALF + b).T[:, :, None])[:, :, 0].T
        e = _mae(pred[tested], y_px[tested])
        if best is None or e < best[4]:
            best = (sel.fitted, sel.chosen, names, dict(sel.oof), e, x, pred)
    return best


def _why(route: str, mae: dict[str, float], n: int, allow_fit: bool) -> str:
    said = ", ".join(f"{k} {v:.4g}" for k, v in mae.items())
    if "fit" not in mae and allow_fit:
        return (f"{ROUTES[route]} ({n:,} clear pixels, under the {FILL_FIT_MIN:,} a fit needs; held out: "
                f"{said})")
    return f"{ROUTES[route]}: the lowest held-out MAE on the clear part ({said})"


def _done(out, values, todo, gap, route, mae, chosen, feats, n, why, oof, t0) -> Filled:
    out[:, todo] = values[:, todo]
    return Filled(out.astype(np.float32), todo, route, mae, chosen, feats, n, int((gap & ~todo).sum()), why,
                  oof, time.perf_counter() - t0)
