"""Reference-guided synthesis: the band fitted self-supervised at a degraded scale from a coarse
reference of it (Wald's protocol and the scale-invariance assumption of pansharpening; DSen2 for
Sentinel-2's 20 m bands), or, where the reference has too few cells to fit on, the model's own
output made consistent with it (high-pass modulation, per cell).

With the input's bands ``x`` (model values) and the reference ``r`` on its own grid (``k`` input
pixels a side), the route is one of :data:`ROUTES`, decided at the reference's scale:

- **fit**: ``x`` area-averaged onto the reference's grid (``x↓``), the reference degraded once more
  (averaged by ``k`` and interpolated back, ``r↓↑``); the learner-selection core (``select.choose``:
  spatial folds, every candidate of :data:`CANDIDATES`) fits ``f(φ(x↓, r↓↑)) ≈ r − r↓↑ + ½`` on the
  clear cells; at full scale the output is ``f(φ(x, r↑)) + r↑ − ½`` — a saved model like any other
  (``models/reference_band.py``), so every backend serves it. A **consistency correction** adds the
  interpolated residual ``r − mean_k(output)`` so the output averages back to the reference, applied
  only where the fit's own held-out check says it helps and the reference is not stale;
- **consistent**: the model's zero-shot output ``z``, calibrated to the reference's units, scaled per
  reference cell so that it averages back to the reference (``z · r / mean_k(z)``, the ratio
  interpolated smoothly so no cell edge shows); for drone imagery under a satellite pixel;
- **upsampled**: the reference interpolated (what a user has without any of this).

The fit is chosen over the best upsampled reference only where its held-out error at the degraded scale
is lower; the consistent route over it only where it beats the best upsampling by
:data:`~bandbridge.policy.CONSISTENT_MARGIN` at every octave from 2 up to ``k`` cells a side that can be
checked, the first two always (:func:`consistent_octaves`); with too few cells to check those, never
(nothing checks it there: the upsampling is the floor).
Cells the reference cannot see (clouds, fill, outside its footprint) are filled, before
interpolation, by whichever held out better on the clear cells: a fit from the input alone
(``f₀(φ(x↓)) ≈ r``) or the calibrated zero-shot output. Every threshold is in ``policy.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable
import numpy as np

from bandbridge.data.grids import Grid, average_onto, nearest_filled, residual, upsample_onto
from bandbridge.learners.base import Learner
from bandbridge.learners.constant import Constant
from bandbridge.learners.folds import spatial_folds
from bandbridge.learners.scene_fit import BUFFER, HALO, WINDOWS, features, pixels  # noqa: F401 - the reference fit's names
from bandbridge.learners.scene_fit import configured as scene_configured
from bandbridge.learners.select import choose, fit_threads, mae, serve_us
from bandbridge.learners.upsampling import best_upsampling, padded_up, upsampling_choice
from bandbridge.policy import (CHECK_CELLS, CONSISTENT_MARGIN, EVERYWHERE_MPIX, FALLBACK_UPSAMPLING, FIT_CELLS_MIN,
    FIT_DEGRADED_MIN, HOLE_SHARE, MIN_COVER, REFERENCE_FIT_CELLS, REFERENCE_UPSAMPLING, STALE_DAYS, UNSEEN_COVER, WALD_STEP)

LO, HI = 0.05, 0.95  # a fill's range maps here (learners/fill_fit.Units): room for outputs beyond what it holds
ROOM = (0.25, 0.75)  # a reference's 0.1–99.9 % maps here (predict --reference, sharpen): at [LO, HI] the engine's
# [0, 1] clamp cut a thermal frame's hot spots (issue 84: an MSRS frame's upsampling 1.27× the same's RMSE)
CANDIDATES = ("constant", "linear", "gbm-bands", "gbm-context", "mlp-context")  # and their blend.
EVERYWHERE = ("constant", "linear", "mlp-context")  # for an input of EVERYWHERE_MPIX or more: what
# every backend serves (no trees, no student to distil), policy.py says why
# The context ridges are left out: chosen by folds at the reference's scale they carried worst to the
# input's, where their products and local deviations reach values never fitted (issue 57, NAIP)
HALF = 0.5  # f learns the residual r − r↓↑ offset by this (learners predict in [0, 1]): one that
# learns nothing gives the upsampled reference itself
ROUTES = {"fit": "fitted at the reference's scale", "consistent": "the model's output made consistent "
          "with the reference", "upsampled": "the reference upsampled"}


@dataclass
class GuidedFit:
    """What the reference's scale decided, and what full scale needs of it."""

    route: str  # a key of ROUTES
    learner: Learner  # f on φ(x, r↑) (the route fit); a constant ½ otherwise
    grid: Grid  # the reference's grid
    filled: np.ndarray  # (h, w) the reference in model values, unseen cells filled
    seen: np.ndarray  # (h, w) bool: clear cells the input covers
    lo: float  # stored value mapped to ROOM[0]
    hi: float  # stored value mapped to ROOM[1]
    chosen: str  # the learner (route fit), else the route
    upsampled_mae: float  # r↓↑ against r on the held-out cells (model values)
    fit_mae: float  # the route's held-out MAE at its check's scale, without the correction
    corrected_mae: float  # with it
    correct: bool  # whether full scale gets the consistency correction
    why: str  # the correction's decision in a phrase
    cells: int  # clear reference cells
    filled_from: str = ""  # what the unseen cells were filled from ("" where none needed it)
    calibration: tuple[float, float] = (1.0, 0.0)  # the zero-shot output's map to model values
    oof: dict[str, float] = field(default_factory=dict)  # every candidate's out-of-fold MAE
    tried: str = ""  # the learner the fit chose, where one was fitted (kept or not)
    zero_stored: float = 0.0  # the stored value of a physical 0
    seconds: float = 0.0
    upsampling: str = REFERENCE_UPSAMPLING  # the upsampled route's interpolation (the best held out, of UPSAMPLERS)
    octaves: dict[str, float] = field(default_factory=dict)  # the route's gain over the best upsampling one step
    # down, an octave coarser and predicted at the output's scale (learners/octaves.py; {}: not checked)
    carried: dict[str, float] = field(default_factory=dict)  # the fit's, where it held out better (kept or not)
    share: float = 1.0  # the share of the route's detail taken (learners/transfer.py)
    held_share: float = 1.0  # the share of the fit's detail its own held-out check supports (:func:`check_share`;
    # 1 where the rule CHECK_SHARE does not name the kind: not computed)
    scale: str = ""  # the test at the output's scale from the input's bands, in words ("": not run)

    def to_stored(self, model: np.ndarray) -> np.ndarray:
        return (self.lo + (model - ROOM[0]) * (self.hi - self.lo) / (ROOM[1] - ROOM[0])).astype(np.float32)

    def to_model(self, stored: np.ndarray) -> np.ndarray:
        return (ROOM[0] + (stored - self.lo) * (ROOM[1] - ROOM[0]) / (self.hi - self.lo)).astype(np.float32)

    def stored_error(self, e: float) -> float:
        """A model-value error in the reference's stored units."""
        return float(e * (self.hi - self.lo) / (ROOM[1] - ROOM[0]))


def configured(names: tuple[str, ...] = CANDIDATES, products: bool = True) -> list[Learner]:
    """:func:`~bandbridge.learners.scene_fit.configured`, :data:`CANDIDATES` by default."""
    return scene_configured(names, products)


def predict_all(learner: Learner, channels: np.ndarray, products: bool = True, rows: int = 256) -> np.ndarray:
    """``learner`` on every cell of ``channels (C, h, w)`` (fed values) → ``(Ct, h, w)``, ``rows``
    rows at a time, each read with its features' halo (``scene_fit.HALO``): the features of a
    whole large grid are never held."""
    h = channels.shape[1]
    parts = []
    for a in range(0, h, rows):
        b = min(h, a + rows)
        lo, hi = max(a - HALO, 0), min(h, b + HALO)
        f = features(channels[:, lo:hi], products)[:, a - lo:b - lo]
        y = learner.predict(f.reshape(f.shape[0], -1).T, channels.shape[0])
        parts.append(y.T.reshape(-1, b - a, channels.shape[2]).astype(np.float32))
    return np.concatenate(parts, axis=1)


def fit(x_c: np.ndarray, ref: np.ndarray, valid: np.ndarray, cover: np.ndarray, grid: Grid, k: float,
        gap_days: int | None = None, z_c: np.ndarray | None = None, zero_stored: float = 0.0,
        pixels_out: int = 0, seed: int = 0, filled_now: Callable[[np.ndarray], None] = lambda f: None,
        carry: Callable | None = None, fine=None) -> GuidedFit:
    """The decision at the reference's scale. ``x_c (C, h, w)``: the input's bands (model values) averaged onto the
    reference's ``grid``; ``ref (h, w)`` stored units; ``valid`` its clear cells; ``cover`` the share of each cell the
    input covers; ``k`` input pixels per reference pixel; ``gap_days`` between the two dates; ``z_c (h, w)`` the
    model's zero-shot output averaged onto the grid, in the reference's stored units (None: not run; the consistent
    route then cannot be taken); ``zero_stored`` the stored value of a physical 0 (the consistent route scales above
    it); ``pixels_out`` the input's pixels the fit will be served on (a large input: :data:`EVERYWHERE`);
    ``filled_now(filled)`` hears the filled reference as soon as it is known, before the fit (so its upsampling onto
    the input can run beside the fit, which takes one core); ``carry``: the fit's gains at coarser octaves
    (``sharpen.fit_octaves``, above this module; None: its held-out check alone); ``fine``: the input over a window of
    whole cells (``area.Fine``), where the fit is learned area to point (``learners/area.py``)."""
    t0 = time.perf_counter()
    seen = valid & (cover >= MIN_COVER)
    v = ref[seen]  # lo, hi: the clear values' 0.1 and 99.9 percentiles, never equal
    lo, hi = (float(q) for q in np.percentile(v, (0.1, 99.9))) if v.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    to_model = lambda v: (ROOM[0] + (ROOM[1] - ROOM[0]) * (v - lo) / (hi - lo)).astype(np.float32)  # noqa: E731
    # every unseen cell starts as its nearest clear cell, then fill() does better where it can
    r = nearest_filled(to_model(np.where(valid, ref, lo))[None], valid)[0]
    x = np.nan_to_num(x_c, nan=0.0).astype(np.float32)
    z = to_model(np.nan_to_num(z_c, nan=lo)) if z_c is not None else None
    with fit_threads():  # z calibrated for filling; the consistent route scales z itself, cell by cell
        calibration = calibrate(z, r, seen) if z is not None else (1.0, 0.0)
        z_cal = (z * calibration[0] + calibration[1]).astype(np.float32) if z is not None else None
        filled, filled_from = fill(x, r, seen, ~valid & (cover > 0), z_cal, seed, cover)
        filled_now(filled)
        n = int(seen.sum())
        coarse = grid.coarser(k)
        r2, frac = average_onto(filled[None], np.ones(filled.shape, bool), grid, coarse)  # r↓ and each cell's cover
        r2 = np.where(frac > 0, r2[0], np.nanmean(filled))
        up2 = padded_up(r2, coarse, grid)  # r↓↑ (1, h, w)
        learner: Learner = Constant().fit(np.zeros((1, 1), np.float32), np.full((1, 1), HALF, np.float32), 1)
        route, chosen, oof, octaves, carried = "upsampled", "upsampled", {}, {}, {}  # the gains: route's, fit's
        area = fine.levels(r[None], seen, lambda u, g: np.concatenate([g, u])) if fine is not None else None
        sel, tried, fit_e, up_e, corr_e, how, hs = (
            held_out(x, r, seen, up2, r2, frac, grid, coarse, pixels_out, seed, area) if can_fit(n, k)
            else (None, "", *[np.nan] * 3, "", 1.0))
        how = how or upsampling_choice(filled[None], seen, grid, k)[0]  # no fit: the best upsampling a Wald step down
        if sel is not None:
            oof = dict(sel.oof)
            if min(fit_e, corr_e) < up_e:
                carried = carry(sel, x, r, seen, grid, k, seed, area) if carry else {"output_scale": 0.0}
                if carried["output_scale"] < 1:  # NaN: too few cells one step down to check it carries
                    route, chosen, learner, octaves = "fit", sel.chosen, sel.fitted, carried
        if route != "fit" and z is not None:
            per = (hi - lo) / (ROOM[1] - ROOM[0])  # stored units per model value
            above = lambda m: lo + (m - ROOM[0]) * per - zero_stored  # noqa: E731 - physical 0 at 0: ratios
            octaves, cons_e, base_e = consistent_octaves(above(z), above(r), seen, grid, k)
            if octaves["output_scale"] < 1 - CONSISTENT_MARGIN:  # NaN (too few cells to check): upsampling
                route, chosen = "consistent", "zero-shot made consistent"  # beat it at every octave checked
                fit_e, up_e, corr_e = cons_e / per, base_e / per, cons_e / per
    correct, why = decide(fit_e, corr_e, gap_days) if route == "fit" else (
        False, "not applied: " + ("the output is consistent by construction" if route == "consistent"
                                  else "the reference itself, upsampled"))
    return GuidedFit(route, learner, grid, filled.astype(np.float32), seen, lo, hi, chosen, up_e, fit_e, corr_e,
                     correct, why, n, filled_from, calibration, oof, tried, zero_stored, time.perf_counter() - t0,
                     how or REFERENCE_UPSAMPLING, octaves, carried, held_share=hs)


def held_out(x: np.ndarray, r: np.ndarray, seen: np.ndarray, up2: np.ndarray, r2: np.ndarray, frac: np.ndarray,
             grid: Grid, coarse: Grid, pixels_out: int, seed: int, area=None):
    """``(the selection, what it tried in words, its held-out MAE, the best upsampled reference's, the corrected
    fit's, that upsampling)`` on the same held-out cells; ``(None, "", NaN, NaN, NaN, "")`` where the clear cells
    give no fold. A large input: only what every backend serves, and a candidate within the folds' noise that
    serves faster wins (``select.cheaper_within_noise``, by each kind's measured serving cost). ``area``:
    the fine window's ``area.Levels``, the fit learned area to point on its linear candidates (``lv.candidates``)."""
    lv = area
    px, rows, cols = lv.at(1).pixels(REFERENCE_FIT_CELLS, seed) if lv else \
        pixels(np.concatenate([x, up2]), (r - up2[0] + HALF)[None], seen, REFERENCE_FIT_CELLS, seed)
    folds = spatial_folds(px, buffer=BUFFER)
    if not folds:
        return None, "", float("nan"), float("nan"), float("nan"), "", 1.0
    large = pixels_out >= EVERYWHERE_MPIX * 1e6
    sel = choose(px, configured(lv.candidates if lv else EVERYWHERE if large else CANDIDATES), folds=folds, seed=seed,
                 cost=serve_us if large else None)
    if lv:
        held = lv.held(sel.held, rows, cols, (1, *seen.shape))[0]
    else:
        held = np.full(seen.shape, np.nan, np.float32)
        held[rows, cols] = sel.held[:, 0] + up2[0][rows, cols] - HALF
    tested = ~np.isnan(held)
    fixed = held + correction(held[None], tested, r2[None], frac, grid, coarse)[0]
    how, up_e = best_upsampling(r2, coarse, grid, r, tested)
    from bandbridge import policy  # the check's share only where its rule reads it (an interpolation of r2 more)
    share = check_share(held[tested], padded_up(r2, coarse, grid, how)[0][tested], r[tested]) \
        if "reference" in policy.CHECK_SHARE else 1.0
    return (sel, f"{sel.chosen} ({len(folds)} spatial folds)", mae(held[tested], r[tested]), up_e,
            mae(fixed[tested], r[tested]), how, share)


def check_share(held: np.ndarray, u: np.ndarray, r: np.ndarray) -> float:
    """The least-squares share ``<d, r − u> / <d, d>`` of the fit's detail ``d = held − u`` over the best upsampling
    ``u`` that its own held-out cells support (``r`` the reference there), in [0, 1] (1 where the fit adds none)."""
    d = (held - u).astype(np.float64)
    dd = float(d @ d)
    return float(np.clip(d @ (r - u).astype(np.float64) / dd, 0.0, 1.0)) if dd > 0 else 1.0


def can_fit(cells: int, k: float) -> bool:
    """Whether ``cells`` clear reference cells at ``k`` are enough to fit on: :data:`~bandbridge.
    policy.FIT_CELLS_MIN` of them, and :data:`~bandbridge.policy.FIT_DEGRADED_MIN` once degraded by k."""
    return cells >= FIT_CELLS_MIN and cells / k ** 2 >= FIT_DEGRADED_MIN


def calibrate(z: np.ndarray, r: np.ndarray, seen: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of the least-absolute-deviation-robust line ``r ≈ a·z + b`` over the clear cells
    (a least-squares line refitted once without its worst tenth); ``(1, 0)`` with too few cells."""
    zs, rs = z[seen].astype(np.float64), r[seen].astype(np.float64)
    if zs.size < 3 or np.ptp(zs) == 0:
        return 1.0, float(np.median(rs - zs)) if zs.size else 0.0
    a, b = np.polyfit(zs, rs, 1)
    keep = np.abs(rs - (a * zs + b)) <= np.quantile(np.abs(rs - (a * zs + b)), 0.9)
    if keep.sum() >= 3 and np.ptp(zs[keep]) > 0:
        a, b = np.polyfit(zs[keep], rs[keep], 1)
    return float(a), float(b)


def fill(x: np.ndarray, r: np.ndarray, seen: np.ndarray, need: np.ndarray, z: np.ndarray | None,
         seed: int = 0, cover: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """``r (h, w)`` with the cells ``need`` (the input covers them, the reference cannot see them)
    filled, and from what: ``f₀`` (the reference from the input alone, fitted on the ``seen`` cells
    by the selection core) or the calibrated zero-shot output ``z``, whichever held out better on
    the clear cells (``z`` is the model's, which saw none of them: its error on all of them is its
    held-out error). Nothing is fitted when no cell needs it."""
    if not need.any():
        return r.copy(), ""
    edge_only = cover is not None and not (need & (cover >= UNSEEN_COVER)).any()
    if is_holes(need, seen, cover):  # a few cells: their nearest clear cell's value, nothing fitted
        from scipy.ndimage import distance_transform_edt
        idx = distance_transform_edt(~seen, return_distances=False, return_indices=True)
        return np.where(need, r[tuple(idx)], r), "" if edge_only else "their nearest clear cell (a few holes)"
    px0, rows, cols = pixels(x, r[None], seen, REFERENCE_FIT_CELLS, seed)
    folds = spatial_folds(px0, buffer=BUFFER)
    f0_e, z_e = float("inf"), float("inf")
    if folds:
        allowed = None if len(px0) >= FIT_CELLS_MIN else ("constant", "linear")
        f0 = choose(px0, allowed=allowed, folds=folds, served=False)
        tested = ~np.isnan(f0.held[:, 0])
        f0_e = mae(f0.held[tested, 0], px0.Y[tested, 0])
    if z is not None:
        z_e = mae(z[seen], r[seen])
    if z is not None and z_e <= f0_e:
        return np.where(need, z, r), "the model's output, calibrated to the reference (it held out better than a fit)"
    if not folds:  # cells at the footprint's edge only: nothing a user would see filled
        return np.where(need, float(np.median(r[seen])), r), "" if edge_only else \
            "the clear cells' median (too few cells to fit on)"
    return np.where(need, predict_all(f0.fitted, x, rows=max(x.shape[1], 1))[0], r), "" if edge_only else \
        f"a fit from the input alone ({f0.chosen})"


def is_holes(need: np.ndarray, seen: np.ndarray, cover: np.ndarray | None) -> bool:
    """Whether the unseen cells the input covers are only holes: fewer than
    :data:`~bandbridge.policy.HOLE_SHARE` of the clear cells (no fit, no zero-shot output for them)."""
    unseen = need if cover is None else need & (cover >= UNSEEN_COVER)
    return int(unseen.sum()) < HOLE_SHARE * max(int(seen.sum()), 1)


def consistent_octaves(z: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, k: float
                       ) -> tuple[dict[str, float], float, float]:
    """``(the consistent route's gains over the best upsampling: at 2 cells a side, at 4, and the worst of every
    octave checked, which is what the output's scale is taken to be; its MAE at 2, the best upsampling's)``.

    Checked by :func:`consistent_check` at each octave ``2, 4, 8, …`` up to ``k`` (:func:`octave_factors`),
    stopping at the first that does not beat the upsampling by :data:`~bandbridge.policy.CONSISTENT_MARGIN`: the
    check at 2 alone passed on thermal frames whose output lost up to 2.2× to the best upsampling (issue 84). An
    octave past the first two with too few cells is not checked; the worst is NaN (no check) where either of the
    first two has too few."""
    factors = octave_factors(k)
    need, gains, first = min(2, len(factors)), [], (float("nan"), float("nan"))
    for i, f in enumerate(factors):
        cons_e, base_e = consistent_check(z, r, seen, grid, f)
        first = first if i else (cons_e, base_e)
        g = cons_e / base_e if base_e > 0 else float("nan")
        if np.isfinite(g) or i < need:  # a coarse octave past the first two with too few cells adds nothing
            gains.append(g)
        if not g < 1 - CONSISTENT_MARGIN and (np.isfinite(g) or i < need):
            break  # a loss (or no check where one is needed) decides
    known = [g for g in gains if np.isfinite(g)]
    lost = bool(known) and max(known) >= 1 - CONSISTENT_MARGIN
    worst = max(known) if lost or len(known) == len(gains) else float("nan")
    octaves = {"one_step_down": gains[0], "octave_coarser": gains[1] if len(gains) > 1 else float("nan"),
               "output_scale": worst}
    return octaves, *first


def octave_factors(k: float) -> list[float]:
    """The octaves the consistent route is checked at: ``WALD_STEP``, its square, … up to ``k`` (``[2]`` for
    ``k`` under 4)."""
    out = [WALD_STEP]
    while out[-1] * WALD_STEP <= k:
        out.append(out[-1] * WALD_STEP)
    return out


def consistent_check(z: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, factor: float = WALD_STEP
                     ) -> tuple[float, float]:
    """``(MAE of the consistent route, MAE of the best upsampled reference)`` held out ``factor`` coarser:
    the reference averaged over ``factor`` × ``factor`` cells, the zero-shot output made consistent with
    that and the reference upsampled from it, both scored on the clear cells. NaN for both where fewer
    than :data:`~bandbridge.policy.CHECK_CELLS` coarse cells are clear (no check)."""
    coarse = grid.coarser(factor)
    r2, f2 = average_onto(r[None], seen, grid, coarse)
    ok2 = f2 > 0.5
    if int(ok2.sum()) < CHECK_CELLS:
        return float("nan"), float("nan")
    r2 = np.where(ok2, r2[0], np.nan)
    zm, _ = average_onto(z[None], np.isfinite(z), grid, coarse)  # z scaled so each cell averages to r2 (NaN: left),
    made = z * upsample_onto(ratio_field(r2, zm[0])[None], coarse, grid, "bilinear")[0]  # the ratio bilinear
    r2 = np.where(np.isfinite(r2), r2, np.nanmean(r2) if np.isfinite(r2).any() else 0.0).astype(np.float32)
    return mae(made[seen], r[seen]), best_upsampling(r2, coarse, grid, r, seen)[1]


def ratio_field(target: np.ndarray, z_mean: np.ndarray) -> np.ndarray:
    """Per cell, the factor that makes the output's mean ``z_mean`` the ``target`` (both ``(h, w)``,
    NaN where unknown): a ratio where both are above zero; a cell without one takes its nearest
    cell's (so the interpolation at the image's edge and round a cloud does not fade to 1), and 1
    where no cell has one."""
    ok = np.isfinite(target) & np.isfinite(z_mean) & (z_mean > 1e-3) & (target > 0)
    return nearest_filled(np.where(ok, target / np.where(ok, z_mean, 1.0), 1.0)[None], ok)[0]


def decide(fit_e: float, corr_e: float, gap_days: int | None) -> tuple[bool, str]:
    """Whether the consistency correction runs at full scale, and why in a phrase: only where it
    lowers the held-out error at the degraded scale and the reference is at most
    :data:`~bandbridge.policy.STALE_DAYS` from the input (a scene that changed in between would be
    imposed on it)."""
    if gap_days is not None and abs(gap_days) > STALE_DAYS:
        return False, (f"not applied: the reference is {abs(gap_days)} days from the input (more than "
                       f"{STALE_DAYS}), the scene may have changed")
    if not corr_e < fit_e:
        return False, "not applied: held out at the reference's scale it did not help"
    return True, "applied: held out at the reference's scale it lowered the error"


def correction(pred: np.ndarray, have: np.ndarray, target_c: np.ndarray, frac: np.ndarray,
               fine: Grid, coarse: Grid, average=average_onto) -> np.ndarray:
    """``(C, H, W)``: the residual ``target_c (C, h, w) − mean(pred (C, H, W))`` of every coarse cell with a
    target (``frac > 0``) and a prediction (``pred`` where ``have``), 0 elsewhere, interpolated onto the fine
    grid; ``average``: how the cell means are taken (``grids.average_onto``'s signature: the sharpener's
    ``sharpen_routes.averaged`` sums whole cells without GDAL's pass)."""
    m, cov = average(pred, have, fine, coarse)
    return upsample_onto(residual(target_c, m, (frac > 0) & (cov > 0)), coarse, fine)
