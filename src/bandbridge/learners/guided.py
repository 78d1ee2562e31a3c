"""Reference-guided synthesis: the band fitted self-supervised at a degraded scale from a coarse
reference of it, applied at full scale (Wald's protocol and the scale-invariance assumption of
pansharpening; DSen2 for Sentinel-2's 20 m bands).

With the input's bands ``x`` (model values), the zero-shot model's output ``z`` and the reference
``r`` on its own grid (``k`` input pixels a side):

1. the **degraded scale** is the reference's grid: ``x`` and ``z`` are area-averaged onto it
   (``x↓``, ``z↓``), and the reference is degraded once more, averaged by ``k`` and interpolated
   back (``r↓↑``);
2. the learner-selection core (``select.choose``: spatial folds, every candidate) fits
   ``f(φ(x↓, r↓↑, z↓)) ≈ r`` on the clear reference cells — no fine truth is needed;
3. at **full scale** the same ``f`` is applied to ``φ(x, r↑, z)``;
4. a **consistency correction** adds the interpolated residual ``r − mean_k(f)`` so the output
   averages back to the reference on every clear cell — applied only where the fit's own held-out
   check at the degraded scale says it helps and the reference is not stale (:data:`STALE_DAYS`).

Cells the reference cannot see (clouds, fill, outside its footprint) are filled by the same kind of
fit without the reference (``f₀(φ(x↓, z↓)) ≈ r``) before interpolation, and get no correction.
Values stay in model values here; :class:`GuidedFit` maps the reference's stored units to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from affine import Affine
import torch

from bandbridge.data.reference import Grid, average_onto, upsample_onto
from bandbridge.learners.base import Learner
from bandbridge.learners.constant import Constant
from bandbridge.learners.folds import Pixels, spatial_folds
from bandbridge.learners.select import choose, fit_threads, mae, refit
from bandbridge.models.features import ContextFeatures

WINDOWS = (3, 9)  # context windows, in pixels of the scale they are computed at (scale invariance);
# small, so that a coarse grid of a few dozen cells a side still has folds and a buffer
BUFFER = max(WINDOWS)  # between a held-out block and the training pixels
HALO = max(WINDOWS) // 2  # rows a strip needs beyond its own
LO, HI = 0.05, 0.95  # the reference's range maps here: room for outputs beyond what it holds
STALE_DAYS = 45  # a reference further from the input in time is not imposed on the output:
# measured on NAIP (FACTS.md), a reference a year older made the correction hurt (19.8 → 21.4 DN)
FIT_CELLS = 200_000  # reference cells the choice is made on (a uniform sample when more)
STRIP_PX = 1 << 19  # full-scale pixels a strip of features holds (about 85 MB of features; the
# learner's copies of them come on top, so a strip bounds most of the apply step's memory)
MIN_COVER = 0.99  # of a reference cell the input must cover for the cell to be fitted on
CANDIDATES = ("constant", "linear", "gbm-bands", "gbm-context", "mlp-context")  # and their blend.
# The context ridges are left out: chosen by folds at the reference's scale they carried worst to
# the input's, where their products and local deviations reach values never fitted (NAIP
# development dates 2016 and 2018, k = 6 and 16: 9.9 and 17.7 DN against the upsampled
# reference's 9.0 and 17.4; development runs of issue 57, not kept as a results record)
FLEXIBLE_CELLS = 10_000  # clear cells below which no fit is made, only the upsampled reference made
# consistent: on NAIP at k = 16 (2 700 cells) the flexible fits carried worst (a year-old reference:
# gradient boosting 48.7 DN against the upsampled reference's 27.2), and on the VHR scenes at k = 4
# (6 400 cells) the linear map chosen by folds lost to it on two of three; at k = 6 (19 000 cells)
# the fits won. Not even a constant: degraded once more, such a grid is a few cells a side, and the
# offset a constant learns there is the cubic's edge error (NAIP 2009, k = 16: 19.4 DN against the
# upsampled reference's 15.1)
NO_FIT = "none (the upsampled reference)"
UPSAMPLING = "cubic"  # r↑ at both scales (GDAL's cubic): on the VHR scenes at k = 4 it beat bilinear
# by 5–8 %, and the residual the fit must learn is smaller
HALF = 0.5  # f learns the residual r − r↓↑ offset by this (learners predict in [0, 1]): one that
# learns nothing gives the upsampled reference itself


@dataclass
class GuidedFit:
    """What the degraded-scale fit decided and what full scale needs of it."""

    learner: Learner  # f on φ(x, r↑, z)
    grid: Grid  # the reference's grid
    filled: np.ndarray  # (h, w) the reference in model values, unseen cells filled by f₀
    seen: np.ndarray  # (h, w) bool: clear cells the input covers
    lo: float  # stored value mapped to LO
    hi: float  # stored value mapped to HI
    z_range: tuple[float, float]  # the zero-shot output's stored range mapped to [0, 1]
    chosen: str
    oof: dict[str, float]  # out-of-fold MAE of every candidate at the degraded scale (model values)
    upsampled_mae: float  # r↓↑ against r on the same held-out cells (model values)
    fit_mae: float  # f's held-out MAE at the degraded scale, without the correction
    corrected_mae: float  # with it
    correct: bool  # whether full scale gets the correction
    why: str  # the correction's decision in a phrase
    cells: int  # reference cells fitted on
    seconds: float = 0.0

    def to_stored(self, model: np.ndarray) -> np.ndarray:
        return (self.lo + (model - LO) * (self.hi - self.lo) / (HI - LO)).astype(np.float32)

    def stored_error(self, e: float) -> float:
        """A model-value error in the reference's stored units."""
        return float(e * (self.hi - self.lo) / (HI - LO))


def features(x: np.ndarray) -> np.ndarray:
    """``φ(x)`` of ``(C, H, W)`` model values → ``(F, H, W)``: the bands, their means and standard
    deviations over :data:`WINDOWS`, their pairwise products (``models/features.py``)."""
    with torch.inference_mode():
        return ContextFeatures(x.shape[0], WINDOWS, True, exact=True)(torch.from_numpy(x[None]).float())[0].numpy()


def _strips(h: int, w: int):
    """``(a, b, lo, hi)`` of each strip of rows ``[a, b)`` (about :data:`STRIP_PX` pixels) and the
    rows ``[lo, hi)`` its context features need (:data:`HALO` more each side, within the image)."""
    step = max(16, STRIP_PX // max(w, 1))
    for a in range(0, h, step):
        b = min(h, a + step)
        yield a, b, max(0, a - HALO), min(h, b + HALO)


def _pixels(x: np.ndarray, y: np.ndarray, mask: np.ndarray, n: int, seed: int = 0,
            ) -> tuple[Pixels, np.ndarray, np.ndarray]:
    """:class:`Pixels` of one image (at most ``n`` of its valid pixels, a uniform sample), and
    their rows and columns. Features are computed strip by strip (a coarse grid may be large)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(mask)
    if len(rows) > n:
        keep = np.sort(rng.choice(len(rows), n, replace=False))
        rows, cols = rows[keep], cols[keep]
    h, w = mask.shape
    parts = []
    for a, b, lo, hi in _strips(h, w):
        f = features(x[:, lo:hi])
        sel = (rows >= a) & (rows < b)
        parts.append((np.flatnonzero(sel), f[:, rows[sel] - lo, cols[sel]].T))
    X = np.zeros((len(rows), parts[0][1].shape[1]), np.float32)
    for idx, f in parts:
        X[idx] = f
    long = h >= w
    px = Pixels(X, y[:, rows, cols].T.astype(np.float32), np.zeros(len(rows), int), np.zeros(len(rows), int),
                rows if long else cols, np.array([max(h, w)]), x.shape[0], int(mask.sum()))
    return px, rows, cols


def predict_image(learner: Learner, x: np.ndarray) -> np.ndarray:
    """``learner`` on every pixel of ``x (C, H, W)`` → ``(H, W)``, strip by strip."""
    h, w = x.shape[1:]
    out = np.zeros((h, w), np.float32)
    for a, b, lo, hi in _strips(h, w):
        f = features(x[:, lo:hi])[:, a - lo:b - lo]
        out[a:b] = learner.predict(f.reshape(f.shape[0], -1).T, x.shape[0])[:, 0].reshape(b - a, w)
    return out


def stored_range(values: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """``(lo, hi)`` of the clear values (the 0.1 and 99.9 percentiles, never equal)."""
    v = values[valid]
    lo, hi = (float(q) for q in np.percentile(v, (0.1, 99.9))) if v.size else (0.0, 1.0)
    return lo, hi if hi > lo else lo + 1.0


def fit(x_c: np.ndarray, z_c: np.ndarray | None, ref: np.ndarray, valid: np.ndarray, cover: np.ndarray,
        grid: Grid, k: float, gap_days: int | None = None, seed: int = 0,
        say: Callable[[str], None] = lambda s: None) -> GuidedFit:
    """The degraded-scale fit. ``x_c (C, h, w)``: the input's bands averaged onto the reference's
    ``grid``; ``z_c (1, h, w)`` the zero-shot output averaged likewise, stored units (None: none);
    ``ref (h, w)`` stored units; ``valid`` its clear cells; ``cover`` the fraction of each cell the
    input covers; ``k`` input pixels per reference pixel; ``gap_days`` between the two dates.

    The candidates are :data:`CANDIDATES`: the ones whose fit at one scale carried to a finer one."""
    import time
    t0 = time.perf_counter()
    seen = valid & (cover >= MIN_COVER)
    lo, hi = stored_range(ref, seen)
    z_range = stored_range(z_c[0], seen) if z_c is not None else (0.0, 1.0)
    r = LO + (HI - LO) * (np.where(valid, ref, lo) - lo) / (hi - lo)
    x = np.nan_to_num(x_c, nan=0.0).astype(np.float32)
    if z_c is not None:
        x = np.concatenate([x, _unit(np.nan_to_num(z_c, nan=z_range[0]), z_range)])
    with fit_threads():
        filled = fill(x, r, seen, ~valid, seed)
        coarse = grid.coarser(k)
        r2, up2, frac = degrade(filled, grid, coarse)
        px, rows, cols = _pixels(np.concatenate([x, up2]), (r - up2[0] + HALF)[None], seen, FIT_CELLS, seed)
        held = np.full(seen.shape, np.nan, np.float32)  # out-of-fold predictions, image-shaped
        if len(px) >= FLEXIBLE_CELLS:
            folds = spatial_folds(px, buffer=BUFFER)
            sel = choose(px, allowed=CANDIDATES, folds=folds, seed=seed)
            learner, chosen, oof = sel.fitted, sel.chosen, dict(sel.oof)
            for f in folds:
                model = refit(sel.chosen, sel.blend_of, px, rows=f.train)
                held[rows[f.test], cols[f.test]] = model.predict(px.X[f.test], px.bands)[:, 0]
        else:  # no fit: a residual of HALF everywhere is the upsampled reference itself
            learner = Constant().fit(px.X[:1], np.full((1, 1), HALF, np.float32), px.bands)
            chosen, oof = NO_FIT, {}
            held[rows, cols] = HALF
    held = held + up2[0] - HALF
    tested = ~np.isnan(held)
    fixed = held + _correction(held, tested, r2, frac, grid, coarse)
    fit_e, corr_e = mae(held[tested], r[tested]), mae(fixed[tested], r[tested])
    up_e = mae(up2[0][tested], r[tested])
    if chosen == NO_FIT:
        say(f"{len(px):,} clear cells, fewer than {FLEXIBLE_CELLS:,}: no fit, the upsampled reference "
            f"(held-out MAE {fit_e:.4f} model values)")
    else:
        say(f"{chosen} chosen ({len(folds)} spatial folds of {len(px):,} clear cells): held-out MAE {fit_e:.4f} "
            f"model values, the upsampled reference {up_e:.4f}")
    correct, why = decide(fit_e, corr_e, gap_days)
    return GuidedFit(learner, grid, filled.astype(np.float32), seen, lo, hi, z_range, chosen,
                     oof, up_e, fit_e, corr_e, correct, why, len(px), time.perf_counter() - t0)


def fill(x: np.ndarray, r: np.ndarray, seen: np.ndarray, need: np.ndarray, seed: int = 0) -> np.ndarray:
    """``r (h, w)`` with the cells ``need`` (the input covers them, the reference cannot see them)
    filled by ``f₀``, the reference from the input alone, fitted on the ``seen`` cells and applied
    at the reference's scale (no scale to carry across, so every candidate may be chosen where
    there are cells enough; :data:`FLEXIBLE_CELLS`). Nothing is fitted when no cell needs it."""
    if not need.any():
        return r.copy()
    px0, _, _ = _pixels(x, r[None], seen, FIT_CELLS, seed)
    allowed = None if len(px0) >= FLEXIBLE_CELLS else ("constant", "linear")
    f0 = choose(px0, allowed=allowed, folds=spatial_folds(px0, buffer=BUFFER), served=False)
    return np.where(need, predict_image(f0.fitted, x), r)


def degrade(r: np.ndarray, grid: Grid, coarse: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(r↓ (hc, wc), r↓↑ (1, h, w), the fraction of each coarse cell covered)``: ``r (h, w)``
    on ``grid`` averaged onto ``coarse`` and interpolated back."""
    r2, frac = average_onto(r[None], np.ones(r.shape, bool), grid, coarse)
    r2 = np.where(frac > 0, r2[0], np.nanmean(r))
    return r2, upsample_onto(r2[None], coarse, grid, UPSAMPLING), frac


def decide(fit_e: float, corr_e: float, gap_days: int | None) -> tuple[bool, str]:
    """Whether the consistency correction runs at full scale, and why in a phrase: only where it
    lowers the held-out error at the degraded scale and the reference is at most
    :data:`STALE_DAYS` from the input (a scene that changed in between would be imposed on it)."""
    if gap_days is not None and abs(gap_days) > STALE_DAYS:
        return False, (f"not applied: the reference is {abs(gap_days)} days from the input (more than "
                       f"{STALE_DAYS}), the scene may have changed")
    if corr_e >= fit_e:
        return False, f"not applied: held out at the reference's scale it did not help ({fit_e:.4f} → {corr_e:.4f})"
    return True, f"applied: held out at the reference's scale {fit_e:.4f} → {corr_e:.4f} model values"


def _unit(z: np.ndarray, rng: tuple[float, float]) -> np.ndarray:
    return ((z - rng[0]) / (rng[1] - rng[0])).astype(np.float32)


def _coarse_residual(pred: np.ndarray, have: np.ndarray, target_c: np.ndarray, frac: np.ndarray,
                     fine: Grid, coarse: Grid) -> np.ndarray:
    """``(h, w)`` on ``coarse``: the residual ``target − mean(pred)`` of every cell with a target
    (``frac > 0``) and a prediction (``pred (H, W)`` where ``have``); 0 elsewhere."""
    m, cov = average_onto(pred[None], have, fine, coarse)
    return np.where((frac > 0) & (cov > 0) & np.isfinite(m[0]), target_c - np.nan_to_num(m[0]), 0.0).astype(np.float32)


def _correction(pred: np.ndarray, have: np.ndarray, target_c: np.ndarray, frac: np.ndarray,
                fine: Grid, coarse: Grid) -> np.ndarray:
    """``(H, W)``: :func:`_coarse_residual` interpolated onto the fine grid."""
    return upsample_onto(_coarse_residual(pred, have, target_c, frac, fine, coarse)[None], coarse, fine)[0]


def strips(fine: Grid) -> int:
    """How many strips :func:`apply` works in on ``fine`` (its progress total)."""
    return sum(1 for _ in _strips(fine.height, fine.width))


def apply(g: GuidedFit, fine: Grid, rows: Callable[[int, int], tuple[np.ndarray, np.ndarray | None]],
          tick: Callable[[], None] = lambda: None) -> np.ndarray:
    """``f`` at full scale on ``fine``: ``rows(a, b)`` gives the input's bands ``(C, b − a, W)``
    (model values) and the zero-shot output ``(1, b − a, W)`` (stored units, or None) of rows
    ``[a, b)``; ``tick()`` after each strip. Returns ``(H, W)`` model values, before the
    correction."""
    h, w = fine.height, fine.width
    out = np.zeros((h, w), np.float32)
    for a, b, lo, hi in _strips(h, w):
        x, z = rows(lo, hi)
        strip = Grid(fine.crs, fine.transform @ Affine.translation(0, lo), hi - lo, w)
        up = upsample_onto(g.filled[None], g.grid, strip, UPSAMPLING)
        parts = [np.nan_to_num(x, nan=0.0)] + ([_unit(z, g.z_range)] if z is not None else []) + [up]
        f = features(np.concatenate(parts).astype(np.float32))[:, a - lo:b - lo]
        res = g.learner.predict(f.reshape(f.shape[0], -1).T, x.shape[0] + (z is not None) + 1)[:, 0]
        out[a:b] = res.reshape(b - a, w) + up[0, a - lo:b - lo] - HALF
        tick()
    return out


def residual(g: GuidedFit, pred: np.ndarray, valid: np.ndarray, fine: Grid) -> np.ndarray | None:
    """The consistency correction on the reference's grid ``(h, w)``: the reference minus the
    mean of ``pred (H, W)`` on every clear cell (0 elsewhere); None where ``g`` says no."""
    return _coarse_residual(pred, valid, g.filled, g.seen, fine, g.grid) if g.correct else None


def corrected(g: GuidedFit, pred: np.ndarray, res: np.ndarray | None, fine: Grid, a: int = 0) -> np.ndarray:
    """Rows ``[a, a + len(pred))`` of the output (model values): ``pred`` plus the correction
    ``res`` (:func:`residual`) interpolated onto them; a strip at a time keeps memory flat."""
    if res is None:
        return pred
    strip = Grid(fine.crs, fine.transform @ Affine.translation(0, a), pred.shape[0], fine.width)
    return pred + upsample_onto(res[None], g.grid, strip)[0]
