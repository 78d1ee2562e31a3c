"""Area-to-point fitting (issue 95): a guided route's fit learned on the function it is applied as.

At full scale the fit ``f`` reads the context features ``φ`` (``scene_fit.features``: the bands, their means and
standard deviations over 3 and 9 px, their products) of the **fine** guides, whose windows span a few of the
guides' own pixels: texture inside one cell. Fitted on ``φ`` of the guides *averaged onto the reference's grid*
(windows of 3 and 9 cells: variation between cells), it was checked as another function than the one applied, and
a drone field passed every check and lost to upsampling at the output (issue 95: +55 % MAE at k = 10).

Here the fit is learned on what it is applied to, as ATPRK's regression part (Wang et al. 2016) does: on a window
of the fine grid, ``φ`` of the fine channels (the upsampled reference and the guides, as the work file holds them),
**averaged over each cell**, against the cell's Wald target ``r − mean_k(up) + ½``. A linear ``f`` commutes with the
cell mean (``mean_k f(φ) = f(mean_k φ)``), so the held-out check on the cells scores exactly the cell means of the
output ``f`` makes at full scale; so only the learners of :func:`candidates` fit here (a tree's or an MLP's cell mean is
not its value at the mean). The checks one Wald step down and an octave coarser (``learners/sharpen.py``,
``learners/octaves.py``) are the same function on coarser cells of the same window (:class:`Levels`): level ``b``'s
cells are ``b`` reference cells a side, its reference the cells averaged by ``b``, its up channel that reference
degraded by ``k``, interpolated back and onto the fine pixels as the work file's is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, block_mean
from bandbridge.learners.folds import Pixels
from bandbridge.learners.guided import HALF
from bandbridge.learners.scene_fit import HALO, as_pixels, features, uniform
from bandbridge.learners.select import fit_threads, refit
from bandbridge.learners.sharpen_routes import UPSAMPLERS, degraded, route_errors, up_all, wald_step
from bandbridge.learners.upsampling import padded_up
from bandbridge.policy import REFERENCE_UPSAMPLING, SHARPEN_SAMPLE_CELLS

LINEAR = ("constant", "linear", "ridge-context λ=0.0001", "ridge-context λ=0.001", "ridge-context λ=0.01")
# the candidates whose cell mean is their value at the cell's mean features (affine in φ), cheapest first
STRIP_PX = 1 << 17  # fine pixels of features held at once (about 50 MB of 100 features)


def candidates() -> tuple[str, ...]:
    """The learners an area-to-point fit chooses among: those of :data:`LINEAR` whose ridge is at least
    ``policy.AREA_RIDGE_MIN`` (the constant and the linear map always). The cells' mean features are nearly
    collinear (a band, its 3- and 9-pixel means, averaged over one cell, differ little), so a weak ridge fits
    the cells with large weights of opposite sign that cancel on the means and multiply the texture inside
    each cell: a Sentinel-2 scene's NIR at ×6 took λ = 10⁻⁴ held out best on the cells and its detail came out
    2.2× the true spread (2.1× the best upsampling's RMSE); read at the call (a benchmark sets it)."""
    from bandbridge import policy
    return tuple(n for n in LINEAR if not n.startswith("ridge") or float(n.split("=")[1]) >= policy.AREA_RIDGE_MIN)


Channels = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (up (Ct, H, W), x (G, H, W)) → the fit's input channels


@dataclass(frozen=True)
class Fine:
    """The fine guides over a window of whole reference cells: ``x (G, H, W)`` model values (NaN unknown),
    ``k`` guide pixels a cell side, ``at`` its first cell's row and column in the reference's grid."""

    x: np.ndarray
    k: int
    at: tuple[int, int]

    @property
    def cells(self) -> tuple[int, int]:
        return self.x.shape[1] // self.k, self.x.shape[2] // self.k

    def within(self, rows: slice, cols: slice) -> tuple[slice, slice] | None:
        """This window's cells as slices of the grid window ``rows, cols`` (None where it is not inside it)."""
        (r0, c0), (h, w) = self.at, self.cells
        a, b = r0 - rows.start, c0 - cols.start
        if a < 0 or b < 0 or a + h > rows.stop - rows.start or b + w > cols.stop - cols.start:
            return None
        return slice(a, a + h), slice(b, b + w)

    def levels(self, r: np.ndarray, seen: np.ndarray, channels: Channels, products: bool = True,
               rows: slice | None = None, cols: slice | None = None) -> Levels | None:
        """:class:`Levels` over ``r (Ct, h, w)`` and ``seen (h, w)``, the reference and clear cells of the grid window
        ``rows, cols`` (default: the whole grid); None where this window is not inside it."""
        on = self.within(rows or slice(0, seen.shape[0]), cols or slice(0, seen.shape[1]))
        if on is None:
            return None
        return Levels(self, r[:, on[0], on[1]], seen[on], channels, on, products)


def cell_features(ch: np.ndarray, k: int, products: bool, strip_px: int = STRIP_PX) -> np.ndarray:
    """``mean_k φ(ch)``: ``(F, H/k, W/k)`` float32, the features of ``ch (C, H, W)`` (whole cells of ``k``) at its
    own pixels averaged over each cell, by strips of whole cells each read with the features' halo."""
    h, w = ch.shape[1] // k, ch.shape[2] // k
    rows = max(1, strip_px // max(ch.shape[2] * k, 1)) * k  # whole cells a strip
    parts = []
    for a in range(0, h * k, rows):
        b = min(h * k, a + rows)
        lo, hi = max(a - HALO, 0), min(ch.shape[1], b + HALO)
        f = features(np.ascontiguousarray(ch[:, lo:hi]), products)[:, a - lo:b - lo, :w * k]
        parts.append(block_mean(f, k)[0])
    return np.concatenate(parts, axis=1)


@dataclass
class Level:
    """One level of :class:`Levels`: the cells' mean features ``f (F, h, w)``, the mean of the fine up channel
    ``up (Ct, h, w)``, the reference ``r (Ct, h, w)`` and the cells every fine pixel of which is clear ``ok``."""

    f: np.ndarray
    up: np.ndarray
    r: np.ndarray
    ok: np.ndarray
    bands: int  # the input channels φ was computed on (the learners' ``bands``)

    @property
    def target(self) -> np.ndarray:
        """``r − mean(up) + ½``: what the fit learns (``(Ct, h, w)``)."""
        return self.r - self.up + HALF

    def pixels(self, n: int, seed: int) -> tuple[Pixels, np.ndarray, np.ndarray]:
        """:class:`Pixels` of at most ``n`` of the ``ok`` cells (a seeded uniform sample), and their rows, columns."""
        rows, cols = uniform(self.ok, n, seed)
        px = as_pixels(self.f[:, rows, cols].T, self.target[:, rows, cols].T, rows, cols, self.ok.shape,
                       self.bands, int(self.ok.sum()))
        return px, rows, cols

    def predict(self, learner) -> np.ndarray:
        """``learner`` on every cell's mean features, as the cell mean of the output it makes at full scale:
        ``mean(up) + f − ½`` (``(Ct, h, w)``; a linear learner's, exact)."""
        y = learner.predict(self.f.reshape(len(self.f), -1).T, self.bands)
        return (y.T.reshape(self.up.shape) + self.up - HALF).astype(np.float32)


@dataclass
class Levels:
    """The Wald levels of one fine window: ``fine`` the guides, ``r (Ct, h, w)`` the reference over its cells (model
    values, every cell filled), ``seen (h, w)`` its clear cells, ``channels`` the order of the fit's input, ``on`` its
    cells' place in the grid window."""

    fine: Fine
    r: np.ndarray
    seen: np.ndarray
    channels: Channels
    on: tuple[slice, slice]  # its cells as slices of the grid window the decision sees
    products: bool = True
    _at: dict = field(default_factory=dict)

    @property
    def candidates(self) -> tuple[str, ...]:
        """:func:`candidates`, for the kinds that read this module's objects without importing it."""
        return candidates()

    def at(self, b: int) -> Level:
        """Level ``b`` (cells of ``b × b`` reference cells), made once."""
        if b not in self._at:
            self._at[b] = self._level(int(b))
        return self._at[b]

    def _level(self, b: int) -> Level:
        k = self.fine.k
        h, w = self.r.shape[1] // b, self.r.shape[2] // b
        fine = Grid(None, Affine.identity(), h * b * k, w * b * k)
        cells = fine.coarser(k * b)
        coarse = cells.coarser(k)
        r = block_mean(self.r[:, :h * b, :w * b], b)[0]
        ok = block_mean(self.seen[None, :h * b, :w * b].astype(np.float32), b)[0][0] == 1
        r2 = block_mean(r, k)[0]  # r↓, a partial edge cell the mean of what it holds
        up_fine = padded_up(padded_up(r2, coarse, cells), cells, fine, REFERENCE_UPSAMPLING).astype(np.float32)
        x = np.nan_to_num(self.fine.x[:, :fine.height, :fine.width], nan=HALF)
        ch = self.channels(up_fine, x)
        return Level(cell_features(ch, k * b, self.products), block_mean(up_fine, k * b)[0], r, ok, len(ch))

    def held(self, pred: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``(Ct, h, w)`` of the grid window ``shape``: the fit's held-out predictions ``pred (N, Ct)`` of the base
        level's cells ``rows, cols`` as the cell means of the band (``mean(up) + f − ½``), NaN on every other cell."""
        out = np.full(shape, np.nan, np.float32)
        out[:, rows + self.on[0].start, cols + self.on[1].start] = pred.T + self.at(1).up[:, rows, cols] - HALF
        return out

    def cells(self, b: int) -> int:
        """Clear cells at level ``b``."""
        return int(self.at(b).ok.sum())


def step_down(sel, cands: dict, lv: Levels, least: int, seed: int, base: int = 1) -> tuple[dict[str, np.ndarray], int]:
    """Every route's per-band MAE ``(Ct,)`` one Wald step down on level ``base`` of ``lv``, and the clear cells the
    fit was refitted on: ``sel``'s choice refitted on the level ``base × step`` and applied to level ``base``'s cells
    (their mean features), beside the upsamplings of level ``base`` degraded by ``k``; the step ``sharpen_routes.
    wald_step`` takes (``{}`` where none holds enough cells)."""
    k = lv.fine.k
    step, n2 = wald_step(k, lambda s: lv.cells(int(base * s)), least)
    if step is None:
        return {}, n2
    px2, _, _ = lv.at(int(base * step)).pixels(SHARPEN_SAMPLE_CELLS, seed)
    with fit_threads():
        f2 = refit(sel.chosen, sel.blend_of, px2, cands)
    at = lv.at(base)
    grid = Grid(None, Affine.identity(), *at.ok.shape)
    coarse = grid.coarser(k)
    r2, frac = degraded(at.r, grid, coarse)
    routes = {m: (lambda m=m: up_all(r2, coarse, grid, m)) for m in UPSAMPLERS}
    routes["fit"] = lambda: at.predict(f2)
    return route_errors(routes, at.ok, at.r, r2, frac, grid, coarse), n2
