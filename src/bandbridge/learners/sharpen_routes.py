"""The sharpener's routes' errors (:func:`route_errors`: each route's MAE, with and without the
consistency correction) and its route for few cells: a band as a linear map of the guides (the TsHARP form,
Agam et al. 2007: one least-squares line per band over the reference's cells, applied to the fine
guides, the residual added back by the consistency correction), and its check.

The fit of ``learners/sharpen.py`` needs cells to choose a learner on and to refit one Wald step
down; a least-squares line of ``G + 1`` parameters needs few, and it is the field's answer where
cells are few (the Sentinel-2 60 m bands of a small scene: 49 cells). Its check is **out of fold**
and **at the output's scale one step down**: the line fitted on every fold but one predicts that
fold's cells, and what the consistency correction leaves of that held-out residual, one Wald step
down (the residual averaged by the step and interpolated back, as the output's correction is), is
scored against the best upsampling of the band the same way. Fitted on all the cells, a line of
few parameters barely changes between folds, so the check is the run one scale up with little of
the noise a refit one step down has on few cells.

No check made at coarser scales sees the finest octave, and there the guides' detail carries
least: the bands' different blur (a 20 m band is blurrier than four 10 m pixels averaged), a
resampled export's jitter, a misregistration. So the line is taken only where, one step down, it
leaves at most :data:`SHARE` of the best upsampling's error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, average_onto, upsample_onto
from bandbridge.learners.guided import padded_up
from bandbridge.policy import FIT_DEGRADED_MIN, LINE_SHARE

REGRESSION = "regression"
UPSAMPLERS = ("nearest", "bilinear", "cubic")
CORRECTED = "+correction"
STEP = 2.0  # the Wald step down where k's own leaves too few cells to fit on (the fit still at k)
SHARE = LINE_SHARE  # policy.py: the line is taken where its check error (MAE) is at most this share of the
# best upsampling's (what set it is there)
PER_PARAMETER = 4  # clear cells per parameter (G + 1) the line needs: fewer, and no fold's fit is determined
FOLD_BLOCK = 4  # cells: the side of the spatial blocks the folds hold out (a block's cells are neighbours)
FOLDS = 5  # spatial folds of the out-of-fold check (fewer where fewer blocks)


@dataclass
class Lines:
    """Each target's least-squares line on the guides: ``coef (G + 1, Ct)``, weights then the
    intercept, model values to model values."""

    coef: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x (G, H, W)`` (model values; NaN stays NaN) → ``(Ct, H, W)``."""
        g = x.shape[0]
        flat = x.reshape(g, -1).T.astype(np.float64)
        return (flat @ self.coef[:g] + self.coef[g]).T.reshape(-1, *x.shape[1:]).astype(np.float32)


def least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(G + 1, Ct)`` minimising ``‖[x 1]·W − y‖²`` over the rows of ``x (N, G)``, ``y (N, Ct)``."""
    a = np.c_[x.astype(np.float64), np.ones(len(x))]
    return np.linalg.lstsq(a, y.astype(np.float64), rcond=None)[0]


def block_folds(seen: np.ndarray, folds: int = FOLDS, block: int = FOLD_BLOCK, seed: int = 0) -> np.ndarray:
    """``(h, w)`` int: each cell's fold (−1 outside ``seen``), whole ``block``² blocks of cells to a
    fold, the blocks dealt to the folds in a seeded random order."""
    h, w = seen.shape
    ids = (np.arange(h)[:, None] // block) * (-(-w // block)) + np.arange(w)[None] // block
    order = np.random.default_rng(seed).permutation(int(ids.max()) + 1)
    fold = (order % max(1, min(folds, int(ids.max()) + 1)))[ids]
    return np.where(seen, fold, -1)


def out_of_fold(x: np.ndarray, r: np.ndarray, seen: np.ndarray, seed: int = 0) -> tuple[Lines, np.ndarray] | None:
    """``(the lines fitted on every clear cell, their out-of-fold prediction (Ct, h, w))`` of the
    targets ``r (Ct, h, w)`` on the guides ``x (G, h, w)`` (model values), or None where the cells
    are too few (:data:`PER_PARAMETER`) or a fold's training cells are. Cells outside ``seen`` get
    the lines fitted on every clear cell."""
    g = x.shape[0]
    need = PER_PARAMETER * (g + 1)
    if int(seen.sum()) < need:
        return None
    xs, rs = x[:, seen].T, r[:, seen].T
    lines = Lines(least_squares(xs, rs))
    pred = lines.apply(x)
    fold = block_folds(seen, seed=seed)
    for q in np.unique(fold[seen]):
        train = seen & (fold != q)
        if int(train.sum()) < need // 2:
            return None
        part = Lines(least_squares(x[:, train].T, r[:, train].T)).apply(x)
        pred[:, fold == q] = part[:, fold == q]
    return lines, pred


def line_check(x: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, k: float, seed: int
               ) -> tuple[Lines | None, dict[str, np.ndarray], float]:
    """``(the lines, each route's per-band MAE at their check, the check's step)``: the lines'
    out-of-fold prediction and every upsampling, one Wald step down (by ``k`` where that leaves
    ``policy.FIT_DEGRADED_MIN`` cells, else :data:`STEP`), each with and without the correction
    (``sharpen_routes``). ``(None, {}, 0)`` where the cells are too few to fit lines on."""
    fitted = out_of_fold(x, r, seen, seed)
    if fitted is None:
        return None, {}, 0.0
    lines, pred = fitted
    step = k if seen.sum() / k ** 2 >= FIT_DEGRADED_MIN else STEP
    down = grid.coarser(step)
    r2, frac = averaged(r, np.ones(seen.shape, bool), grid, down)
    r2 = np.where(frac > 0, r2, np.nanmean(r, axis=(1, 2), keepdims=True)).astype(np.float32)
    routes = {m: (lambda m=m: up_all(r2, down, grid, m)) for m in UPSAMPLERS} | {REGRESSION: lambda: pred}
    return lines, route_errors(routes, seen, r, r2, frac, grid, down), float(step)


def line_route(check: dict[str, float], step: float, route: str, why: str) -> tuple[str, str]:
    """A band that does not take the fit takes its line (with or without the correction, whichever
    checked better) where the line's error at its check is at most :data:`~bandbridge.learners.
    sharpen_routes.SHARE` of the best upsampling's there; else ``route`` and ``why`` stand."""
    ups = {m: e for m, e in check.items() if m.startswith(UPSAMPLERS)}
    best_up = min(ups, key=ups.get)
    best = min((m for m in check if m.startswith(REGRESSION)), key=check.get)
    said = (f"a line of the guides, out of fold one Wald step down (×{step:g}), erred {check[best]:.4g} against "
            f"{ups[best_up]:.4g} for {best_up}")
    if check[best] <= SHARE * ups[best_up]:
        return best, f"{said}: within {SHARE:.2g} of it, the line is taken (the fit was not: {why})"
    return route, f"{why}; {said}, not within {SHARE:.2g} of it"


def route_errors(routes: dict, mask: np.ndarray, r: np.ndarray, r2: np.ndarray, frac: np.ndarray, grid: Grid,
                 coarse: Grid) -> dict[str, np.ndarray]:
    """Each route's per-band MAE ``(Ct,)`` on ``mask``'s cells, and its consistency-corrected form's
    (``route+correction``; but nearest upsampling's, consistent by construction). ``routes``: name →
    a call giving its ``(Ct, h, w)`` prediction, made one at a time (a large grid holds one)."""
    out = {}
    for name, make in routes.items():
        p = make()
        out[name] = band_mae(p, r, mask)
        if name != "nearest":
            out[name + CORRECTED] = band_mae(p + correction(p, mask, r2, frac, grid, coarse), r, mask)
    return out


def band_mae(pred: np.ndarray, r: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(Ct,)``: each band's MAE on ``mask``'s cells."""
    return np.abs(pred[:, mask] - r[:, mask]).mean(axis=1)


def up_all(r2: np.ndarray, coarse: Grid, grid: Grid, method: str) -> np.ndarray:
    """``r2 (Ct, hc, wc)`` interpolated onto ``grid`` (``guided.padded_up``)."""
    return padded_up(r2, coarse, grid, method).astype(np.float32)


def averaged(image: np.ndarray, valid: np.ndarray, src: Grid, dst: Grid) -> tuple[np.ndarray, np.ndarray]:
    """``grids.average_onto``, by block sums where ``dst`` is ``src.coarser(step)`` for a whole ``step``
    (the decision's grids): the same means and cover without GDAL's pass per band (at a 600² input's 90 000
    cells, 118 such passes were 0.6 of decide's 1.4–1.9 CPU-s); a cell past the image's edge is the mean of
    the pixels it holds (GDAL's average also reads pixels past the edge there)."""
    step = int(round(dst.transform.a / src.transform.a))
    if step < 1 or dst.crs != src.crs or dst.transform != src.transform @ Affine.scale(step) or \
            (dst.height, dst.width) != (-(-src.height // step), -(-src.width // step)):
        return average_onto(image, valid, src, dst)
    h, w = dst.height * step, dst.width * step
    ok = np.zeros((h, w), np.float32)
    ok[:src.height, :src.width] = valid
    v = np.zeros((image.shape[0], h, w), np.float64)
    v[:, :src.height, :src.width] = np.where(valid, image, 0.0)
    count = ok.reshape(dst.height, step, dst.width, step).sum((1, 3))
    total = v.reshape(image.shape[0], dst.height, step, dst.width, step).sum((2, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan).astype(np.float32)
    return mean, (count / step ** 2).astype(np.float32)


def correction(pred: np.ndarray, have: np.ndarray, target_c: np.ndarray, frac: np.ndarray, fine: Grid,
               coarse: Grid) -> np.ndarray:
    """``guided.correction`` (the residual ``target − mean(pred)`` of every cell with both, interpolated
    onto the fine grid) with the means by :func:`averaged`."""
    m, cov = averaged(pred, have, fine, coarse)
    res = np.where((frac > 0) & (cov > 0) & np.isfinite(m), target_c - np.nan_to_num(m), 0.0).astype(np.float32)
    return upsample_onto(res, coarse, fine)
