"""Which upsampling a band takes where it takes no guided route (one home for ``predict --reference`` and
``sharpen``): the five every user runs (:data:`UPSAMPLERS`), interpolated from a coarse grid padded by replicated
cells (:func:`padded_up`), and the rule that picks one by a check (:func:`preferred`): the default
(``policy.FALLBACK_UPSAMPLING``, Lanczos) unless another beats it there by ``policy.UPSAMPLING_MARGIN``. The best
at the check alone was noisy: on half A of the floor's sources it left a (source, k) cell at 1.015× the best
single upsampling, where the default with a margin of 2 % left none (``benchmarks/upsampling_rule.py``).
"""

from __future__ import annotations

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, average_onto, upsample_onto
from bandbridge.learners.select import mae
from bandbridge.policy import FALLBACK_UPSAMPLING, FIT_DEGRADED_MIN, REFERENCE_UPSAMPLING, WALD_STEP

UPSAMPLERS = ("nearest", "bilinear", "cubic", "bspline", "lanczos")  # what a route is held against: every one a user runs
PAD = 2  # coarse cells replicated round a degraded grid before it is interpolated back: GDAL's
# cubic reads past the edge, and a fit there learned the interpolation's edge error


def preferred(errors: dict[str, float], margin: float | None = None, default: str = FALLBACK_UPSAMPLING) -> str:
    """The upsampled route of ``errors`` (a route → its error at a check; routes of :data:`UPSAMPLERS`, each perhaps
    with a suffix such as ``+correction``): the best there where it errs under ``1 − margin`` times the default's best
    form (``margin`` None: ``policy.UPSAMPLING_MARGIN``, read at the call: its benchmark sets it), else that form; the
    best where the default is not among them."""
    from bandbridge import policy
    margin = policy.UPSAMPLING_MARGIN if margin is None else margin
    best = min(errors, key=errors.get)
    own = [m for m in errors if m.split("+")[0] == default]
    if not own:
        return best
    mine = min(own, key=errors.get)
    return best if errors[best] < (1 - margin) * errors[mine] else mine


def padded_up(r2: np.ndarray, coarse: Grid, grid: Grid, method: str = REFERENCE_UPSAMPLING) -> np.ndarray:
    """``r2 (hc, wc)`` on ``coarse`` interpolated onto ``grid`` by ``method`` → ``(1, h, w)`` (or
    ``(C, hc, wc)`` → ``(C, h, w)``), the coarse grid padded by :data:`PAD` replicated cells first
    (no interpolation edge error for a fit to learn)."""
    bands = r2 if r2.ndim == 3 else r2[None]  # (C, hc, wc) too: every band in one interpolation
    return upsample_onto(np.pad(bands, ((0, 0), (PAD, PAD), (PAD, PAD)), mode="edge"), coarse.padded(PAD), grid, method)


def upsampling_choice(r: np.ndarray, seen: np.ndarray, grid: Grid, k: float) -> list[str]:
    """Per band of ``r (C, h, w)`` (model values, every cell filled): the interpolation of :data:`UPSAMPLERS`
    :func:`preferred` by how well each gives its clear cells (``seen``) back from ``r`` averaged one Wald step down:
    by ``k`` where that leaves :data:`~bandbridge.policy.FIT_DEGRADED_MIN` clear cells, else by ``WALD_STEP``; with
    fewer, :data:`~bandbridge.policy.FALLBACK_UPSAMPLING` (set on half A of the floor's sources). The step's blocks
    begin at the first clear row and column: a reference is read with a margin of cells beyond its input, filled
    from their nearest, and blocks across that margin and the edge cell scored the interpolations by the image's
    border (a TNO frame at ×10: nearest 0.74× Lanczos's error on blocks from the margin, 1.09× on the clear cells'
    own, and 1.09× at the output)."""
    n = int(seen.sum())
    step = next((s for s in (k, WALD_STEP) if n / s ** 2 >= FIT_DEGRADED_MIN), None)
    if step is None:
        return [FALLBACK_UPSAMPLING] * len(r)
    a, b = (int(np.argmax(seen.any(axis=1))), int(np.argmax(seen.any(axis=0)))) if n else (0, 0)
    r, seen = r[:, a:, b:], seen[a:, b:]
    grid = Grid(grid.crs, grid.transform @ Affine.translation(b, a), *seen.shape)
    coarse = grid.coarser(step)
    r2, frac = average_onto(r, np.ones(seen.shape, bool), grid, coarse)
    r2 = np.where(frac > 0, r2, np.nanmean(r, axis=(1, 2), keepdims=True)).astype(np.float32)
    errors = {m: np.abs(padded_up(r2, coarse, grid, m)[:, seen] - r[:, seen]).mean(axis=1) for m in UPSAMPLERS}
    return [preferred({m: float(e[b]) for m, e in errors.items()}) for b in range(len(r))]


def best_upsampling(r2: np.ndarray, coarse: Grid, grid: Grid, r: np.ndarray, mask: np.ndarray) -> tuple[str, float]:
    """``(the route a band without the fit takes, :func:`preferred` of each interpolation's MAE of r2 (hc, wc)
    upsampled against r (h, w) on mask; the least of those MAEs, what a guided route must beat)``."""
    errors = {m: mae(padded_up(r2, coarse, grid, m)[0][mask], r[mask]) for m in UPSAMPLERS}
    return preferred(errors), min(errors.values())
