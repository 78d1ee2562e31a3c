"""The output's scale, predicted from the trend across octaves (issue 84). A fit at the place is
checked where a truth exists: one Wald step down, its route's error over the best upsampling's
(the **gain** ``g₁``, below 1 where the route wins). The output lies ``log₂ k`` octaves finer, where
nothing checks it. The same check run once more on the grids averaged by :data:`~bandbridge.policy.
WALD_STEP` gives ``g₂``, one octave coarser; where the gain worsens towards the finer scale
(``g₁ > g₂``), it is carried on to the output's scale in log terms,

    log ĝ₀ = log g₁ + τ · log₂ k · max(0, log g₁ − log g₂),

τ being :data:`~bandbridge.policy.OCTAVE_TREND` (0: the check one step down alone; 1: the whole
octave-to-octave trend carried ``log₂ k`` octaves). A band keeps its route only where ĝ₀ stays under
``1 − margin``; else it takes the best upsampling. A trend towards better is not carried (no route is
taken on a prediction of more than it showed). Where the coarser octave holds too few cells for its
check, ``g₂`` is unknown and ``ĝ₀ = g₁``.
"""

from __future__ import annotations

import math

import numpy as np

from bandbridge.data.grids import Grid
from bandbridge.policy import MIN_COVER, OCTAVE_TREND, WALD_STEP


def gain(errors: dict[str, float], route: str, upsamplers: tuple[str, ...]) -> float:
    """The best of ``route``'s forms (with or without the correction) over the best upsampling's, in
    ``errors`` (route name → MAE); NaN where either is missing."""
    mine = [e for m, e in errors.items() if m.startswith(route)]
    ups = [e for m, e in errors.items() if m.startswith(upsamplers)]
    if not mine or not ups or not min(ups) > 0:
        return float("nan")
    return float(min(mine) / min(ups))


def predicted(g1: float, g2: float, k: float, trend: float = OCTAVE_TREND) -> float:
    """``ĝ₀``, the gain predicted at the output's scale from ``g1`` (one step down) and ``g2`` (one
    octave coarser; NaN: unknown) for a reference ``k`` guide pixels a side (see the module)."""
    if not math.isfinite(g2) or not g2 > 0 or not g1 > g2:
        return g1
    return float(g1 * (g1 / g2) ** (trend * math.log2(max(k, 2.0))))


def coarser(x: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, averaged, fill: float,
            step: float = WALD_STEP) -> tuple[np.ndarray, np.ndarray, np.ndarray, Grid]:
    """``(x, r, seen, grid)`` one octave coarser: ``x (G, h, w)`` and ``r (Ct, h, w)`` averaged by
    ``step`` (``averaged``: ``sharpen_routes.averaged``; a cell nothing covers ``fill``), a cell clear where
    :data:`~bandbridge.policy.MIN_COVER` of it was."""
    seen2, down = coarser_seen(seen, grid, averaged, step)
    x2, r2 = (np.nan_to_num(averaged(a, np.ones(seen.shape, bool), grid, down)[0], nan=fill).astype(np.float32)
              for a in (x, r))
    return x2, r2, seen2, down


def coarser_seen(seen: np.ndarray, grid: Grid, averaged, step: float) -> tuple[np.ndarray, Grid]:
    """``(seen (h, w) averaged by step: a cell clear where MIN_COVER of it was and the grid covers it, that grid)``."""
    down = grid.coarser(step)
    have, share = averaged(seen[None].astype(np.float32), np.ones(seen.shape, bool), grid, down)
    return (share >= MIN_COVER) & (np.nan_to_num(have[0]) >= MIN_COVER), down


def words(octaves: dict[str, float]) -> str:
    """A route's gains (``{"one_step_down", "octave_coarser", "output_scale"}``) as a tag says them."""
    if not octaves:
        return "not checked"
    return (f"{octaves['one_step_down']:.4g}x the best upsampling's MAE one step down, {octaves['octave_coarser']:.4g}x "
            f"an octave coarser, {octaves['output_scale']:.4g}x predicted at the output's scale")
