"""The sharpener's routes' errors (:func:`route_errors`: each route's MAE, with and without the
consistency correction) and its line of the guides (``regression``): one linear map of the guides per
band, applied to the fine guides, plus the band's low-pass.

The line's weights are fitted on the **detail** a Wald step takes away (each guide and target less
itself averaged by the step and interpolated back), not on the levels as TsHARP (Agam et al. 2007)
fits them, and shrunk by a ridge (:data:`LINE_RIDGE`) towards none: the detail of the finest octave,
which no check at a coarser scale sees, carries less of the guides than a coarser step's (a 20 m
band is blurrier than four 10 m pixels averaged; a resampled export's jitter; a misregistration),
so the weights a Wald step's detail gives over-sharpen the output. The band is the line on the fine
guides plus its **low-pass**, the reference less the line averaged (``r − mean_k(line)``), cubic
(``Sharpening.low``), and then the consistency correction of what cubic's cell means miss: the
detail injection of the pansharpening literature with the gains fitted on the scene.

Its check is **out of fold** and **one step down**: the line fitted on every fold but one predicts
that fold's cells, its low-pass from the reference averaged by the step, and the band so made (with
and without the correction) is scored against the best upsampling from that step the same way. A
band the fit does not take takes the line where it leaves at most :data:`SHARE` of that
upsampling's error. A line of ``G + 1`` parameters needs few cells (a 60 m band of a small scene: 49).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, average_onto, block_mean, nearest_filled, residual
from bandbridge.learners.guided import correction
from bandbridge.learners.upsampling import UPSAMPLERS, padded_up
from bandbridge.policy import (FIT_DEGRADED_MIN, LINE_FOLDS, LINE_FOLD_BLOCK, LINE_MARGIN, LINE_PER_PARAMETER,
    LINE_RIDGE, REFERENCE_UPSAMPLING, SHARPEN_TRANSFER_MIN, WALD_STEP)

REGRESSION = "regression"
CORRECTED = "+correction"
SHARE = 1 - LINE_MARGIN  # the share of the best upsampling's error a line's check must stay within (the plan says it)


@dataclass(frozen=True)
class Stored:
    """A band's model-value errors in its stored unit, named: ``per`` stored units a model value, ``unit``
    its name (``DN``, ``K``, ``reflectance``); called on an error, its words (``12.3 DN``)."""

    per: float = 1.0
    unit: str = "model values"

    def __call__(self, e: float) -> str:
        return f"{e * self.per:.4g} {self.unit}"


@dataclass
class Lines:
    """Each target's least-squares line on the guides: ``coef (G + 1, Ct)``, weights then the
    intercept, model values to model values."""

    coef: np.ndarray

    def apply(self, x: np.ndarray, rows: int = 256) -> np.ndarray:
        """``x (G, H, W)`` (model values; NaN stays NaN) → ``(Ct, H, W)`` float32, as one wide float64
        product ``(Ct, G) @ (G, N)`` ``rows`` rows at a time (no tall product with transposed copies)."""
        g, ct = x.shape[0], self.coef.shape[1]
        out = np.empty((ct, *x.shape[1:]), np.float32)
        w, c = self.coef[:g].T, self.coef[g][:, None]
        for a in range(0, x.shape[1], rows):
            part = x[:, a:a + rows].reshape(g, -1).astype(np.float64)
            out[:, a:a + rows] = (w @ part + c).reshape(ct, -1, x.shape[2])
        return out


@dataclass
class Moments:
    """The sums a line's fit needs over some cells: their count ``n``, the sums ``s1 (Z,)`` and the
    products ``s2 (Z, Z)`` of the columns ``z = [dx, dy, x, y]`` (float64), so that a fold's training
    cells are every cell's sums less the fold's."""

    n: int
    s1: np.ndarray
    s2: np.ndarray

    @classmethod
    def of(cls, z: np.ndarray) -> Moments:
        """Of the rows of ``z (N, Z)``."""
        z = z.astype(np.float64)
        return cls(len(z), z.sum(0), z.T @ z)

    def __sub__(self, other: Moments) -> Moments:
        return Moments(self.n - other.n, self.s1 - other.s1, self.s2 - other.s2)


def detail_ridge(m: Moments, g: int, ridge: float | None = None) -> np.ndarray:
    """``(G + 1, Ct)`` from the sums ``m`` of ``[dx, dy, x, y]`` (``G`` guides): the weights of the
    guides' detail ``dx`` that best give the targets' detail ``dy``, shrunk by a ridge of ``ridge`` (None:
    :data:`LINE_RIDGE`) times the guides' mean detail variance times the share of the target's detail the
    unshrunk weights leave (``1 − R²``: an exact line stays exact), and the intercept that gives the cells'
    mean of ``y`` from ``x``."""
    ridge = LINE_RIDGE if ridge is None else ridge  # read at the call: benchmarks/line_ridge.py sets it on half A
    ct = (len(m.s1) - 2 * g) // 2
    mean = m.s1 / m.n
    cov = m.s2 / m.n - np.outer(mean, mean)  # (Z, Z) about the means
    c, cy, vy = cov[:g, :g], cov[:g, g:g + ct], np.diag(cov)[g:g + ct]
    v = max(float(np.trace(c)) / g, 1e-18) * np.eye(g)
    w = np.linalg.solve(c + 1e-9 * v, cy)  # unshrunk (a hair of ridge: collinear guides)
    left = 1 - np.clip((w * cy).sum(0) / np.maximum(vy, 1e-30), 0, 1)  # (Ct,) 1 − R²
    w = np.stack([np.linalg.solve(c + ridge * left[t] * v, cy[:, t]) for t in range(ct)], axis=1)
    return np.vstack([w, mean[g + ct + g:] - mean[g + ct:g + ct + g] @ w])


def details(a: np.ndarray, grid: Grid, k: float) -> np.ndarray:
    """``a (C, h, w)`` less itself averaged by ``k`` and interpolated back (cubic): the detail one
    Wald step takes away."""
    down = grid.coarser(k)
    return a - up_all(degraded(a, grid, down)[0], down, grid, "cubic")


def block_folds(seen: np.ndarray, folds: int = LINE_FOLDS, block: int = LINE_FOLD_BLOCK, seed: int = 0) -> np.ndarray:
    """``(h, w)`` int: each cell's fold (−1 outside ``seen``), whole ``block``² blocks of cells to a
    fold, the blocks dealt to the folds in a seeded random order."""
    h, w = seen.shape
    ids = (np.arange(h)[:, None] // block) * (-(-w // block)) + np.arange(w)[None] // block
    order = np.random.default_rng(seed).permutation(int(ids.max()) + 1)
    fold = (order % max(1, min(folds, int(ids.max()) + 1)))[ids]
    return np.where(seen, fold, -1)


def out_of_fold(x: np.ndarray, r: np.ndarray, seen: np.ndarray, k: float, grid: Grid, seed: int = 0
                ) -> tuple[Lines, np.ndarray] | None:
    """``(the lines fitted on every clear cell, their out-of-fold prediction (Ct, h, w))`` of the
    targets ``r (Ct, h, w)`` on the guides ``x (G, h, w)`` (model values) by :func:`detail_ridge` on
    their detail one Wald step of ``k`` down, or None where the cells are too few
    (:data:`LINE_PER_PARAMETER`) or a fold's training cells are. Cells outside ``seen`` get the lines
    fitted on every clear cell."""
    g = x.shape[0]
    need = LINE_PER_PARAMETER * (g + 1)
    if int(seen.sum()) < need:
        return None
    z = np.concatenate([details(x, grid, k), details(r, grid, k), x, r])  # (Z, h, w): [dx, dy, x, y]
    whole = Moments.of(z[:, seen].T)
    lines = Lines(detail_ridge(whole, g))
    pred = lines.apply(x)
    fold = block_folds(seen, seed=seed)
    for q in np.unique(fold[seen]):
        held = fold == q
        train = whole - Moments.of(z[:, held].T)  # every cell's sums less the fold's: each cell read twice in all
        if train.n < need // 2:
            return None
        pred[:, held] = Lines(detail_ridge(train, g)).apply(x[:, held][:, None])[:, 0]
    return lines, pred


def line_check(x: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, k: float, seed: int
               ) -> tuple[Lines | None, dict[str, np.ndarray], float]:
    """``(the lines, each route's per-band MAE at their check, the check's step)``: the lines'
    out-of-fold prediction and every upsampling, one Wald step down (by ``k`` where that leaves
    ``policy.FIT_DEGRADED_MIN`` cells, else :data:`WALD_STEP`), each with and without the correction
    (``sharpen_routes``). ``(None, {}, 0)`` where the cells are too few to fit lines on."""
    step = k if seen.sum() / k ** 2 >= FIT_DEGRADED_MIN else WALD_STEP
    fitted = out_of_fold(x, r, seen, step, grid, seed)
    if fitted is None:
        return None, {}, 0.0
    lines, pred = fitted
    down = grid.coarser(step)
    r2, frac = degraded(r, grid, down)
    # the line's low-pass: the reference less the line averaged (0 where either is unknown), interpolated cubic
    m, cov = averaged(pred, np.isfinite(pred).all(0), grid, down)
    low = residual(r2, m, (frac > 0) & (cov > 0))
    routes = {u: (lambda u=u: up_all(r2, down, grid, u)) for u in UPSAMPLERS} | \
        {REGRESSION: lambda: pred + up_all(low, down, grid, "cubic")}
    return lines, route_errors(routes, seen, r, r2, frac, grid, down), float(step)


def line_route(check: dict[str, float], step: float, route: str, why: str, su: Stored = Stored()
               ) -> tuple[str, str]:
    """A band that does not take the fit takes its line (with or without the correction, whichever
    checked better) where the line leaves at most :data:`SHARE` of the best upsampling's error at its
    check; else ``route`` and ``why`` stand. Its errors in words are ``su``'s (the stored unit, named)."""
    ups = {m: e for m, e in check.items() if m.startswith(UPSAMPLERS)}
    best_up = min(ups, key=ups.get)
    best = min((m for m in check if m.startswith(REGRESSION)), key=check.get)
    said = (f"a line of the guides, out of fold one Wald step down (×{step:g}), erred {su(check[best])} against "
            f"{su(ups[best_up])} for {best_up} ({check[best] / max(ups[best_up], 1e-30):.2f} of it)")
    if check[best] <= SHARE * ups[best_up]:
        return best, f"{said}: the line is taken (the fit was not: {why})"
    return route, f"{why}; {said}, not within {SHARE:.2g} of it"


def route_errors(routes: dict, mask: np.ndarray, r: np.ndarray, r2: np.ndarray, frac: np.ndarray, grid: Grid,
                 coarse: Grid) -> dict[str, np.ndarray]:
    """Each route's per-band MAE ``(Ct,)`` on ``mask``'s cells, and its consistency-corrected form's
    (``route+correction``; but nearest upsampling's, consistent by construction). ``routes``: name →
    a call giving its ``(Ct, h, w)`` prediction, made one at a time (a large grid holds one)."""
    out, mae = {}, lambda p: np.abs(p[:, mask] - r[:, mask]).mean(axis=1)  # noqa: E731 - each band's on mask
    for name, make in routes.items():
        p = make()
        out[name] = mae(p)
        if name != "nearest":
            out[name + CORRECTED] = mae(p + correction(p, mask, r2, frac, grid, coarse, averaged))
    return out


def upsamplings(r2: np.ndarray, coarse: Grid, grid: Grid, up: np.ndarray) -> dict:
    """Each upsampling's route for :func:`route_errors`: a call giving ``r2`` interpolated onto ``grid`` by it
    (``up``: the reference upsampling's, made already)."""
    return {m: (lambda m=m: up if m == REFERENCE_UPSAMPLING else up_all(r2, coarse, grid, m)) for m in UPSAMPLERS}


def up_all(r2: np.ndarray, coarse: Grid, grid: Grid, method: str) -> np.ndarray:
    """``r2 (Ct, hc, wc)`` interpolated onto ``grid`` (``upsampling.padded_up``)."""
    return padded_up(r2, coarse, grid, method).astype(np.float32)


def degraded(a: np.ndarray, grid: Grid, coarse: Grid) -> tuple[np.ndarray, np.ndarray]:
    """``(a (C, h, w) averaged onto coarse, float32, a cell it misses its band's mean; each cell's cover)``."""
    m, frac = averaged(a, np.ones(a.shape[1:], bool), grid, coarse)
    return np.where(frac > 0, m, np.nanmean(a, axis=(1, 2), keepdims=True)).astype(np.float32), frac


def averaged(image: np.ndarray, valid: np.ndarray, src: Grid, dst: Grid) -> tuple[np.ndarray, np.ndarray]:
    """``grids.average_onto``, by ``grids.block_mean`` where ``dst`` is ``src.coarser(step)`` for a whole
    ``step`` (the decision's grids): the same means and cover without GDAL's pass per band; a cell past the
    image's edge is the mean of the pixels it holds (GDAL's average also reads pixels past the edge there)."""
    step = int(round(dst.transform.a / src.transform.a))
    if step < 1 or dst.crs != src.crs or dst.transform != src.transform @ Affine.scale(step) or \
            (dst.height, dst.width) != (-(-src.height // step), -(-src.width // step)):
        return average_onto(image, valid, src, dst)
    return block_mean(image, step, valid)


def window(seen: np.ndarray, cells: int) -> tuple[slice, slice]:
    """Rows and columns of at most ``cells`` of ``seen (h, w)``: the whole where it fits, else the
    window (as square as the grid allows) holding the most clear cells of nine placements (each side at
    its start, middle or end)."""
    h, w = seen.shape
    if h * w <= cells:
        return slice(0, h), slice(0, w)
    wh = min(h, max(int(cells ** 0.5), cells // w))
    ww = min(w, cells // wh)
    total = np.pad(seen.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best = max(((a, b) for a in {0, (h - wh) // 2, h - wh} for b in {0, (w - ww) // 2, w - ww}),
               key=lambda p: total[p[0] + wh, p[1] + ww] - total[p[0], p[1] + ww] - total[p[0] + wh, p[1]]
               + total[p[0], p[1]])
    return slice(best[0], best[0] + wh), slice(best[1], best[1] + ww)


def reference_low(lines: Lines, x_c: np.ndarray, r: np.ndarray, rows: int = 512) -> np.ndarray:
    """``(Ct, h, w)``: ``r`` (the reference, model values) less the lines on ``x_c (G, h, w)`` (the
    guides averaged onto its grid, whose mean the lines' bands have, being linear), ``rows`` rows at a
    time (no float64 grid held whole); where a guide is unknown, the nearest known cell's."""
    low = np.empty_like(r, dtype=np.float32)
    for a in range(0, r.shape[1], rows):
        low[:, a:a + rows] = r[:, a:a + rows] - lines.apply(x_c[:, a:a + rows])
    return nearest_filled(low, np.isfinite(low).all(0))


def wald_step(k: float, count, least: int) -> tuple[float | None, int]:
    """``(the step, its clear cells)`` of a check one Wald step down: ``k`` (the run itself one scale up) where
    ``count(k)`` leaves ``least`` cells, else ``WALD_STEP`` where ``count`` leaves ``SHARPEN_TRANSFER_MIN``; ``(None,
    the last count)`` where neither does."""
    for step in dict.fromkeys((k, WALD_STEP)):
        n = count(step)
        if n >= (least if step == k else SHARPEN_TRANSFER_MIN):
            return step, n
    return None, n
