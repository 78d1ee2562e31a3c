"""The sharpener's decision at the reference's scale (``bandbridge sharpen``): every band of a
coarse reference ``r (Ct, h, w)`` from any guide bands — Wald's protocol as ``predict
--reference``'s fit (``learners/guided.py``), one fit for all targets and a route per band.

The guides are averaged onto the reference's grid (``x↓``, model values) and each target is
degraded once more (``r↓↑``, cubic); the learner-selection core fits, for every target at once,
``f(φ(r↓↑, x↓)) ≈ r − r↓↑ + ½`` on spatial folds. Per band the routes (:data:`ROUTES`) are the
fit and the reference upsampled by nearest, bilinear, cubic convolution, cubic B-spline or Lanczos
interpolation (``upsampling.UPSAMPLERS``), each with or without
the consistency correction. A band takes the fit only where it beats its best upsampled route by
:data:`SHARPEN_MARGIN` both held out at the reference's scale and one Wald step down
(:func:`one_step_down`; the check at the reference's scale alone passed where the output was 14 %
worse than nearest upsampling, issue 76); where one scale down holds too few cells to fit on
(:data:`SHARPEN_TRANSFER_MIN`), the fit is not taken. Otherwise the band takes a line of the guides
(``learners/sharpen_routes.py``) where its own check passes, else its best upsampled route; with too
few cells to choose one by at ``k`` (``policy.FIT_DEGRADED_MIN`` once averaged by ``k``), the best a step of 2
down (``upsampling.upsampling_choice``). A guided route is kept only where the trend across octaves carries its
gain to the output's scale (:func:`octave_check`). A grid over
:data:`SHARPEN_DECIDE_CELLS` cells is decided on a window of it. No shift is measured here
(``place/sharpen_shift.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, nearest_filled
from bandbridge.learners.area import candidates as area_candidates
from bandbridge.learners.area import step_down
from bandbridge.learners.base import Learner
from bandbridge.learners.fill_fit import Headroom, Units, fed
from bandbridge.learners.folds import spatial_folds
from bandbridge.learners.guided import CANDIDATES as GUIDED_CANDIDATES
from bandbridge.learners.guided import HALF, ROOM, can_fit, predict_all
from bandbridge.learners.guided import configured as guided_configured
from bandbridge.learners.octaves import coarser, coarser_seen, gain, predicted
from bandbridge.learners.scene_fit import BUFFER, as_pixels, configured, pixels, sample
from bandbridge.learners.select import choose, fit_threads, refit, serve_us
from bandbridge.learners.sharpen_network import NETWORK, in_model, prefer
from bandbridge.learners.sharpen_network import errors as network_errors
from bandbridge.learners.sharpen_routes import (CORRECTED, REGRESSION, UPSAMPLERS, Lines, Stored, averaged, degraded,
                                               line_check, line_route, reference_low, route_errors, up_all,
                                               upsamplings, wald_step, window)
from bandbridge.learners.upsampling import preferred, upsampling_choice
from bandbridge.policy import (EVERYWHERE_MPIX, FIT_DEGRADED_MIN, LINE_MARGIN, MIN_COVER, REFERENCE_UPSAMPLING, SHARPEN_BUDGET_S,
                               SHARPEN_DECIDE_CELLS, SHARPEN_FOLD_PIXELS, SHARPEN_MARGIN, SHARPEN_PRODUCTS_MAX,
                               SHARPEN_SAMPLE_CELLS, SHARPEN_TRANSFER_MIN, SHARPEN_TREES_MIN, WALD_STEP,
                               REFERENCE_TRANSFER_MIN)

ROUTES = {"fit": "fitted at the reference's scale",
          REGRESSION: "a line of the guides' detail fitted on the reference's cells, plus its low-pass",
          "nearest": "the reference upsampled (nearest)",
          "bilinear": "the reference upsampled (bilinear)", "cubic": "the reference upsampled (cubic convolution)",
          "bspline": "the reference upsampled (cubic B-spline)", "lanczos": "the reference upsampled (Lanczos)",
          NETWORK: "the Sentinel-2 network's: the reference upsampled (cubic) and its correction from the guides"}
CANDIDATES = ("constant", "linear", "ridge-context λ=0.0001", "ridge-context λ=0.001", "ridge-context λ=0.01",
              "gbm-bands", "gbm-context")  # cheapest first: the budget cuts from the end. The context ridges
# guided.py leaves out are in: the check one Wald step down refuses a fit that does not carry


def route_words(route: str) -> str:
    """A route of :data:`ROUTES`, with ``+correction`` where it has one, in words."""
    base = route.removesuffix(CORRECTED)
    return ROUTES[base] + (", made consistent with the reference" if route.endswith(CORRECTED) else "")


@dataclass
class BandRoute:
    """One target's decision: its route and every route's error (model values)."""

    name: str
    route: str  # a key of ROUTES, "+correction" where the correction is applied
    heldout: dict[str, float]  # each route's MAE held out at the reference's scale
    transfer: dict[str, float]  # each route's MAE one Wald step down (empty: too few cells)
    why: str
    per_model: float = 1.0  # stored units per model value

    @property
    def base(self) -> str:
        return self.route.removesuffix(CORRECTED)

    checked: dict[str, float] = field(default_factory=dict)  # the line's and the upsamplings' MAE at its check

    @property
    def guided(self) -> bool:
        """Whether the band is made from the guides (the fit, the line or the network), not the reference alone."""
        return self.base in ("fit", REGRESSION, NETWORK)

    unguided: str = ""  # the upsampling the band had before its line was taken ("": it had the fit)
    octaves: dict[str, float] = field(default_factory=dict)  # its guided route's gain over the best upsampling
    # one step down, an octave coarser, and predicted at the output's scale (learners/octaves.py)
    share: float = 1.0  # the share of its guided route's detail it takes (learners/transfer.py)
    scale: str = ""  # the test at the output's scale from the guides, in words ("": not run)
    network: str = ""  # the network's check, in words ("": no network offered: learners/sharpen_network.py)
    checks: dict[str, float] = field(default_factory=dict)  # the network's check in figures (gains over upsampling)

    def upsampled(self, why: str) -> None:
        """Take the upsampled route the band had without the guides (where the line displaced one: a
        band of too few cells keeps cubic, not an upsampling chosen on them), else the best held out,
        instead of its guided route, for the reason ``why``."""
        ups = {m: e for m, e in self.heldout.items() if m.startswith(UPSAMPLERS)}
        self.route, self.why = self.unguided or preferred(ups), why

    @property
    def corrected(self) -> bool:
        return self.route.endswith(CORRECTED)

    def stored(self, route: str | None = None, scale: str = "heldout") -> float:
        """A route's error (this band's own by default) in the reference's stored units."""
        route = route or self.route
        e = getattr(self, scale).get(route, self.checked.get(route, float("nan")) if scale == "heldout" else float("nan"))
        return float(e * self.per_model)


@dataclass
class Sharpening:
    """What the reference's scale decided for every target, and what full scale needs of it."""

    bands: list[BandRoute]
    units: Headroom  # the targets' stored values ↔ model values
    filled: np.ndarray  # (Ct, h, w) the reference in model values, unseen cells their nearest clear cell's
    seen: np.ndarray  # (h, w) clear cells the guides cover
    grid: Grid
    k: float
    learner: Learner | None  # f, where any band takes the fit
    chosen: str = ""
    oof: dict[str, float] = field(default_factory=dict)
    products: bool = True
    cells: int = 0
    transfer_cells: int = 0  # clear cells one Wald step down (0: the check could not run)
    seconds: float = 0.0
    lines: Lines | None = None  # each target's line on the guides (model values), where any band takes it
    guide_units: Units | None = None  # the guides' stored values ↔ the model values the lines take
    low: np.ndarray | None = None  # (Ct, h, w) model values: the reference less its lines averaged, which a line's
    # band adds interpolated (cubic) before the correction (smoother than the correction's bilinear residual)

    @property
    def fitted(self) -> bool:
        return any(b.base == "fit" for b in self.bands)


def decide(x_c: np.ndarray, ref: np.ndarray, valid: np.ndarray, cover: np.ndarray, grid: Grid, k: float,
           names: list[str], pixels_out: int = 0, seed: int = 0, guide_units: Units | None = None,
           unit_names: list[str] | None = None, network=None, fine=None) -> Sharpening:
    """The routes of every target. ``x_c (G, h, w)``: the guides in model values averaged onto the reference's ``grid``;
    ``ref (Ct, h, w)`` its bands in stored units, ``valid (h, w)`` its clear cells, ``cover`` the share of each cell
    the guides cover; ``k`` guide pixels per reference pixel; ``names`` the targets'; ``pixels_out`` the output's
    pixels (a large one: only learners every backend serves fast: no trees); ``guide_units``: the map ``x_c`` was made
    by (stored → model values), which the line route needs at full scale (None: that route is not offered);
    ``unit_names``: each target's stored unit (``DN``, ``K``), which its reasons give their errors in; ``network``: a
    network across scenes, ``sharpen_network.Net`` (None: not offered), a route per band; ``fine``: the fine guides
    over a window of whole cells (``area.Fine``), which the fit is learned on area to point (None, or a window outside
    the decision's: on the guides averaged onto the grid)."""
    t0 = time.perf_counter()
    seen = valid & (cover >= MIN_COVER)
    every = max(1, int(np.ceil((seen.size / SHARPEN_DECIDE_CELLS) ** 0.5)))  # the range from a strided grid of at most
    units = Headroom(ref[:, ::every, ::every], seen[::every, ::every])  # SHARPEN_DECIDE_CELLS cells
    r = nearest_filled(units.to_model(ref), valid)
    out = Sharpening([], units, r, seen, grid, k, None, guide_units=guide_units)  # what full scale reads
    rows, cols = window(seen, SHARPEN_DECIDE_CELLS)  # the decision on a bounded window (a large grid): the rest of this
    x = np.nan_to_num(x_c[:, rows, cols], nan=HALF).astype(np.float32)  # function sees the window only
    r, seen = r[:, rows, cols], seen[rows, cols]
    grid = Grid(grid.crs, grid.transform @ Affine.translation(cols.start, rows.start), *seen.shape)
    coarse = grid.coarser(k)
    r2, frac = degraded(r, grid, coarse)
    up = up_all(r2, coarse, grid, REFERENCE_UPSAMPLING)
    n = out.cells = int(seen.sum())
    out.products = x.shape[0] + r.shape[0] <= SHARPEN_PRODUCTS_MAX
    tested, fitted, transfer, again = seen, {}, {}, None
    if can_fit(n, k):
        area = fine.levels(r, seen, lambda u, g: fed(np.concatenate([u, g])), out.products, rows, cols) if fine else None
        tested, fitted, transfer, again = fit_all(out, x, r, up, r2, frac, seen, grid, coarse, pixels_out, seed, area)
    routes = upsamplings(r2, coarse, grid, up) | fitted
    heldout = route_errors(routes, tested, r, r2, frac, grid, coarse)
    span = units.span[:, 0, 0] / (ROOM[1] - ROOM[0])
    unit = unit_names or ["stored units"] * len(names)
    of = lambda errors, b: {m: float(e[b]) for m, e in errors.items()}  # noqa: E731 - band b's errors
    few = n / k ** 2 < FIT_DEGRADED_MIN  # too few cells to choose an upsampling by at k: chosen a step of 2 down
    fallback = upsampling_choice(r, seen, grid, k) if few else [REFERENCE_UPSAMPLING] * len(names)
    said = [band_route(of(heldout, b), of(transfer, b), out, Stored(float(span[b]), unit[b]), fallback[b])
            for b in range(len(names))]
    unfitted = any(not route.startswith("fit") for route, _ in said)  # the lines cost a check: only where one needs them
    lines, checked, step = line_check(x, r, seen, grid, k, seed) if guide_units is not None and unfitted else \
        (None, {}, 0.0)
    for b, name in enumerate(names):
        route, why = said[b]
        check, before = of(checked, b), route
        if check and not route.startswith("fit"):
            route, why = line_route(check, step, route, why, Stored(float(span[b]), unit[b]))
        out.bands.append(BandRoute(name, route, of(heldout, b), of(transfer, b), why, float(span[b]), check,
                                   "" if before.startswith("fit") else before))
    octave_check(out, x, r, seen, grid, again, seed)
    if network is not None and guide_units is not None:
        with_network(out, in_model(network, guide_units, units), x, r, seen, grid, span, unit)
    if not out.fitted:
        out.learner = None
    if any(b.base == REGRESSION for b in out.bands):
        out.lines = lines
        out.low = reference_low(lines, x_c, out.filled)
    out.seconds = time.perf_counter() - t0
    return out


def fit_all(out: Sharpening, x: np.ndarray, r: np.ndarray, up: np.ndarray, r2: np.ndarray, frac: np.ndarray,
            seen: np.ndarray, grid: Grid, coarse: Grid, pixels_out: int, seed: int, area=None):
    """The one fit for every target on spatial folds (its learner, choice and scores into ``out``):
    ``(the cells it held out, {"fit": its held-out prediction}, every route's MAE one Wald step down, the same
    check on grids one octave coarser as a call of them)``; ``(seen, {}, {}, None)`` where the clear cells give
    no fold. ``area``: the fine window's ``area.Levels``, where the fit is learned area to point (only the learners
    that commute with a cell mean, ``area.candidates``), else None."""
    n, ct, products, k = out.cells, r.shape[0], out.products, out.k
    lv = area
    if lv is not None:
        px, rows, cols = lv.at(1).pixels(SHARPEN_SAMPLE_CELLS, seed)
    else:
        px, rows, cols = averaged_pixels(x, r, up, seen, n, seed, products)
    folds = spatial_folds(px, buffer=BUFFER)
    if not folds:
        return seen, {}, {}, None
    large = pixels_out >= EVERYWHERE_MPIX * 1e6
    kinds = area_candidates() if lv is not None else CANDIDATES[:-2] if large or n < SHARPEN_TREES_MIN else CANDIDATES
    # a large output: no trees (every backend serves the rest; not guided.EVERYWHERE's MLP: slow to serve)
    cands = configured(kinds, products)
    with fit_threads():
        sel = choose(px, cands, folds=folds, seed=seed, served=False, budget_s=SHARPEN_BUDGET_S / ct,
                     fit_pixels=SHARPEN_FOLD_PIXELS, cost=serve_us)
    if lv is not None:
        held = lv.held(sel.held, rows, cols, r.shape)
    else:
        held = np.full(r.shape, np.nan, np.float32)
        held[:, rows, cols] = sel.held.T + up[:, rows, cols] - HALF
    out.learner, out.chosen, out.oof = sel.fitted, sel.chosen, dict(sel.oof)
    by_name = {c.name: c for c in cands}
    if lv is not None:
        transfer, out.transfer_cells = step_down(sel, by_name, lv, SHARPEN_TRANSFER_MIN, seed)
        return np.isfinite(held[0]), {"fit": lambda: held}, transfer, \
            lambda *_: step_down(sel, by_name, lv, SHARPEN_TRANSFER_MIN, seed, base=2)[0]
    transfer, out.transfer_cells = one_step_down(sel, by_name, x, r, r2, frac, seen, grid, coarse, k, products, seed)
    again = lambda x2, r2_, seen2, grid2: one_step_down(sel, by_name, x2, r2_, *degraded(r2_, grid2, grid2.coarser(k)),  # noqa: E731
                                                        seen2, grid2, grid2.coarser(k), k, products, seed)[0]
    return np.isfinite(held[0]), {"fit": lambda: held}, transfer, again


def averaged_pixels(x: np.ndarray, r: np.ndarray, up: np.ndarray, seen: np.ndarray, n: int, seed: int,
                    products: bool):
    """``(Pixels, rows, cols)`` of the fit on the guides averaged onto the grid (the context features of
    ``[up, x]`` at the cells, against ``r − up + ½``): where no fine window is read."""
    channels = fed(np.concatenate([up, x]))
    target = r - up + HALF
    f, y, rows, cols = sample(lambda w: (channels[:, w[0]:w[0] + w[2], w[1]:w[1] + w[3]],
                                         target[:, w[0]:w[0] + w[2], w[1]:w[1] + w[3]]), seen, SHARPEN_SAMPLE_CELLS,
                              seed, products)
    return as_pixels(f, y, rows, cols, seen.shape, channels.shape[0], n), rows, cols


def with_network(out: Sharpening, f, x: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, span: np.ndarray,
                 unit: list[str]) -> None:
    """Each band's choice between its route and the network's (``sharpen_network.prefer``), ``f`` the network on
    model values, checked on the decision's window."""
    at_ref, down = network_errors(f, x, r, seen, grid, out.k)
    of = lambda errors, b: {m: float(e[b]) for m, e in errors.items()}  # noqa: E731 - band b's errors
    for b, band in enumerate(out.bands):
        prefer(band, of(at_ref, b), of(down, b), Stored(float(span[b]), unit[b]))


def band_route(heldout: dict[str, float], transfer: dict[str, float], s: Sharpening, su: Stored = Stored(),
               fallback: str = REFERENCE_UPSAMPLING) -> tuple[str, str]:
    """One band's route and why, in a phrase: the fit (with or without the correction, whichever
    held out better) where it beats the best upsampled route both held out at the reference's scale
    and one Wald step down; else the upsampled route held out (``upsampling.preferred``). Its errors in words are ``su``'s
    (the stored unit, named)."""
    ups = {m: e for m, e in heldout.items() if not m.startswith("fit")}
    best_up, take = min(ups, key=ups.get), preferred(ups)  # the fit beats the best; a band without it takes `take`
    fits = {m: e for m, e in heldout.items() if m.startswith("fit")}
    if not fits and s.cells / s.k ** 2 < FIT_DEGRADED_MIN:
        return fallback, (f"{s.cells:,} clear cells at k = {s.k:.3g}, too few to fit on or to choose an upsampling by "
                          f"at k (under {FIT_DEGRADED_MIN} once averaged by k): {fallback} upsampling, the best averaged by "
                          f"{WALD_STEP:g} where that leaves {FIT_DEGRADED_MIN} cells, else the rule's (FALLBACK_UPSAMPLING)")
    if not fits:
        return take, (f"{s.cells:,} clear cells at k = {s.k:.3g}, too few to fit on: the upsampling held out at "
                      "the reference's scale (the default unless another beats it by UPSAMPLING_MARGIN)")
    best_fit = min(fits, key=fits.get)
    if not fits[best_fit] < (1 - SHARPEN_MARGIN) * ups[best_up]:
        return take, (f"the fit held out {su(fits[best_fit])} against {su(ups[best_up])} for {best_up} at the "
                         "reference's scale: the guides do not carry this band")
    if not transfer:
        return take, ("one Wald step down holds too few cells to check the fit at the output's scale "
                         f"({s.transfer_cells:,} clear): the best upsampling, not a fit that may not carry")
    t_up = min((m for m in transfer if not m.startswith("fit")), key=transfer.get)
    if not transfer[best_fit] < (1 - SHARPEN_MARGIN) * transfer[t_up]:
        return take, (f"the fit held out better at the reference's scale ({su(fits[best_fit])} against "
                         f"{su(ups[best_up])}) but one Wald step down it erred {su(transfer[best_fit])} against "
                         f"{su(transfer[t_up])} for {t_up}: it would not carry to the output's scale")
    return best_fit, (f"the fit beat {best_up} held out at the reference's scale ({su(fits[best_fit])} against "
                      f"{su(ups[best_up])}) and one Wald step down ({su(transfer[best_fit])} against "
                      f"{su(transfer[t_up])} for {t_up})")


def one_step_down(sel, cands: dict, x: np.ndarray, r: np.ndarray, r2: np.ndarray, frac: np.ndarray,
                  seen: np.ndarray, grid: Grid, coarse: Grid, k: float, products: bool, seed: int,
                  least: int = SHARPEN_TRANSFER_MIN) -> tuple[dict[str, np.ndarray], int]:
    """Every route's per-band MAE one Wald step down, and the clear cells there: ``sel``'s choice
    refitted on ``x↓↓`` and ``r↓`` against ``r↓↓↑`` and applied at the reference's scale, beside the
    upsampled routes from ``r↓`` (``{}`` where too few cells are left to fit on); a step of ``k`` where it
    leaves ``least`` cells, else of ``WALD_STEP``."""
    made = {}  # each step's clear cells and grid, made once
    step, n2 = wald_step(k, lambda s: int(made.setdefault(s, coarser_seen(seen, grid, averaged, s))[0].sum()), least)
    if step is None:
        return {}, n2
    seen2, down = made[step]
    x2, rs = (np.nan_to_num(averaged(a, np.ones(seen.shape, bool), grid, down)[0], nan=HALF) for a in (x, r))
    below = down.coarser(k)
    r3, _ = degraded(rs, down, below)
    up3 = up_all(r3, below, down, REFERENCE_UPSAMPLING)
    px2, _, _ = pixels(fed(np.concatenate([up3, x2])), rs - up3 + HALF, seen2, SHARPEN_SAMPLE_CELLS, seed, products)
    with fit_threads():
        f2 = refit(sel.chosen, sel.blend_of, px2, cands)
    up2 = up_all(r2, coarse, grid, REFERENCE_UPSAMPLING)
    routes = {m: (lambda m=m: up_all(r2, coarse, grid, m)) for m in UPSAMPLERS}
    routes["fit"] = lambda: predict_all(f2, fed(np.concatenate([up2, x])), products) + up2 - HALF
    return route_errors(routes, seen, r, r2, frac, grid, coarse), n2


def octave_check(out: Sharpening, x: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, again, seed: int
                 ) -> None:
    """Each guided band's route kept only where the gain predicted at the output's scale
    (``octaves.predicted``: its check one step down, and the same check one octave coarser) stays under
    ``1 −`` its margin; else its upsampled route. ``again``: the fit's check on coarser grids (None: no fit)."""
    guided = [b for b in out.bands if b.guided]
    if not guided:
        return
    x2, r2, seen2, grid2 = coarser(x, r, seen, grid, averaged, HALF)
    level2 = {}
    if any(b.base == "fit" for b in guided) and again is not None:
        level2["fit"] = again(x2, r2, seen2, grid2)
    if any(b.base == REGRESSION for b in guided):
        level2[REGRESSION] = line_check(x2, r2, seen2, grid2, out.k, seed)[1]
    for i, b in enumerate(out.bands):
        if not b.guided:
            continue
        margin = SHARPEN_MARGIN if b.base == "fit" else LINE_MARGIN
        g1 = gain(b.transfer if b.base == "fit" else b.checked, b.base, UPSAMPLERS)
        g2 = gain({m: float(e[i]) for m, e in level2.get(b.base, {}).items()}, b.base, UPSAMPLERS)
        g0 = predicted(g1, g2, out.k)
        b.octaves = {"one_step_down": g1, "octave_coarser": g2, "output_scale": g0}
        if not g0 < 1 - margin:
            b.upsampled(f"{b.why}; but over the best upsampling it erred {g1:.3g}× one step down and {g2:.3g}× an "
                        f"octave coarser, which predicts {g0:.3g}× at the output's scale: not under {1 - margin:.3g}")


def fit_octaves(sel, x: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, k: float, seed: int, area=None
                ) -> dict[str, float]:
    """The fit's gain over the best upsampling one Wald step down and one octave coarser, and predicted at
    the output's scale (``learners/octaves.py``): the sharpener's check (:func:`one_step_down`: the chosen
    learner refitted a scale coarser and applied at the reference's), one core for both kinds; what
    ``predict --reference``'s decision (``guided.fit``) is given as its ``carry``. ``x (C, h, w)``
    the input averaged onto the reference's ``grid``, ``r (h, w)`` the filled reference (model values); ``area``: the
    fit's ``area.Levels``, where it was learned area to point (its checks on their coarser cells)."""
    if area is not None:
        cands = {c.name: c for c in guided_configured(area_candidates())}
        g1, g2 = (gain({m: float(e[0]) for m, e in step_down(sel, cands, area, REFERENCE_TRANSFER_MIN, seed, b)[0]
                        .items()}, "fit", UPSAMPLERS) for b in (1, 2))
        return {"one_step_down": g1, "octave_coarser": g2, "output_scale": predicted(g1, g2, k)}
    cands = {c.name: c for c in guided_configured(GUIDED_CANDIDATES)}

    def check(x: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid) -> float:
        coarse = grid.coarser(k)
        errors, _ = one_step_down(sel, cands, x, r, *degraded(r, grid, coarse), seen, grid, coarse, k, True, seed,
                                  REFERENCE_TRANSFER_MIN)
        return gain({m: float(e[0]) for m, e in errors.items()}, "fit", UPSAMPLERS)
    g1 = check(x, r[None], seen, grid)
    g2 = check(*coarser(x, r[None], seen, grid, averaged, HALF)) if np.isfinite(g1) else float("nan")
    return {"one_step_down": g1, "octave_coarser": g2, "output_scale": predicted(g1, g2, k)}

