"""The test at the output's scale from the guides themselves (issue 95): does a relation fitted
between the guide bands on the reference's grid carry down to the guides' own pixels?

Every check of a guided route runs at the reference's scale or coarser, where the context features
measure variation between cells; applied at the guides' scale they measure texture inside one
cell, and a fit that passed every coarse check can lose to plain upsampling there (a drone field at
k = 10: the detail added correlated 0.17 with the truth at 1.4× its spread). Only the guides are
known at the output's scale, so they are the evidence: each guide ``x_j`` is predicted from the
others by the **area-to-point** ridge (:func:`area_to_point`: the fine guides' features averaged
onto the cells, ATPRK's regression part, so the cells check the very function applied at full
scale, and a linear map commutes with the cell mean), made consistent with ``x_j``'s cell means,
and scored against ``x_j``'s best upsampling from those means (:func:`proxy`).

What a band then takes is :func:`share`. Only the guides the others predict on the reference's cells
(:attr:`Evidence.related`; a guide unrelated there holds information of its own, Sentinel-2's B08 beside
its visible bands) can show a relation carrying or breaking below them. Where their ratios at their own
pixels, on the mean, are at or over :data:`~bandbridge.policy.TRANSFER_CARRY`, the band takes no detail
(its upsampled route); else the mean of their least-squares shares of detail (``<d, t − u> / <d, d>``,
``d`` the proxy's detail over the upsampling ``u``, ``t`` the guide's truth), at most 1. Where no guide is
related, the route's own checks decide. It is a necessary signal, not a sufficient one: the route's own
checks at the reference's scale still decide whether it is taken at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, block_mean, upsample_onto
from bandbridge.learners.upsampling import UPSAMPLERS
from bandbridge.learners.scene_fit import features
from bandbridge.policy import (TRANSFER_CARRY, TRANSFER_CELLS_MIN, TRANSFER_FULL, TRANSFER_PIXELS, TRANSFER_RIDGE,
                               WALD_STEP)


@dataclass(frozen=True)
class Evidence:
    """What the guides say at the output's scale: per guide (``names``), its area-to-point fit's MAE over
    its best upsampling's (``ratios``) and the share of that fit's detail least squares takes (``shares``),
    at ``k`` pixels a cell over ``cells`` cells. Empty where too few cells or guides to test."""

    names: tuple[str, ...] = ()
    ratios: tuple[float, ...] = ()
    shares: tuple[float, ...] = ()
    k: int = 0
    cells: int = 0
    coarse: tuple[float, ...] = ()  # the same ratios at the reference's scale (its cells averaged by WALD_STEP)

    @property
    def known(self) -> bool:
        return bool(self.ratios)

    @property
    def related(self) -> tuple[int, ...]:
        """The guides the others predict at the reference's scale: :func:`related`."""
        return related(self.coarse) if self.known else ()

    @property
    def informative(self) -> bool:
        """Whether any guide's relation to the others is seen at the reference's scale (:attr:`related`)."""
        return bool(self.related)

    @property
    def carries(self) -> bool:
        """Whether the related guides' relations carry to their own pixels: :func:`carried`."""
        return self.informative and carried(self.ratios, self.coarse)

    def share(self) -> float:
        """:func:`share` of this evidence."""
        return share(self)

    def words(self) -> str:
        """The test in a phrase (the plan, the route line and the ``bandbridge_output_scale`` tag)."""
        if not self.known:
            return (f"not tested at the output's scale ({self.cells:,} cells of {self.k} px, under "
                    f"{TRANSFER_CELLS_MIN}, or one guide)")
        each = ", ".join(f"{n} {r:.2f}" + ("" if j in self.related else " (unrelated at the reference's scale)")
                         for j, (n, r) in enumerate(zip(self.names, self.ratios)))
        if not self.informative:
            at = ", ".join(f"{r:.2f}" for r in self.coarse) or "too few cells"
            return (f"the guides do not predict one another at the reference's scale ({at}; at their own pixels "
                    f"{each}): no evidence either way, the route's own checks decide")
        w, raw = self.share(), measured(self)
        whole = f" (the test's {raw:.2f}, at or over {TRANSFER_FULL:g}: the whole detail)" if w != raw else ""
        verdict = (f"the related carry: detail taken at share {w:.2f}{whole}" if self.carries else
                   f"the related not under {TRANSFER_CARRY:g} on their mean: no detail taken")
        return (f"each guide from the others at the guides' own pixels, over its best upsampling ({each}): "
                f"{verdict}")


def related(coarse: tuple[float, ...], gate: float = TRANSFER_CARRY) -> tuple[int, ...]:
    """The guides the others predict at the reference's scale (their ``coarse`` ratios under ``gate``): only their
    relations can be seen to carry or break below it. A guide unrelated there (Sentinel-2's B08 beside its visible
    bands) holds information of its own, which says nothing of whether a target's relation carries."""
    return tuple(j for j, r in enumerate(coarse) if r < gate)


def carried(ratios: tuple[float, ...], coarse: tuple[float, ...], gate: float = TRANSFER_CARRY) -> bool:
    """Whether the related guides' ratios at their own pixels, on their mean, stay under ``gate`` (False where
    none is related)."""
    on = related(coarse, gate)
    return bool(on) and float(np.mean([ratios[j] for j in on])) < gate


def share(ev: Evidence) -> float:
    """The share of a guided route's detail a band takes: 1 where nothing was tested or no guide's relation is seen
    at the reference's scale (the route's own checks decide), 0 where a related guide's relation does not carry to
    its own pixels (on their mean), else the test's share (:func:`measured`), or 1 where that is at or over
    :data:`~bandbridge.policy.TRANSFER_FULL`: a least-squares share of a proxy's detail is shrunk by the proxy's
    own errors (regression dilution), so a share near 1 is read as the whole detail."""
    if not ev.informative:
        return 1.0
    if not ev.carries:
        return 0.0
    w = measured(ev)
    return 1.0 if w >= TRANSFER_FULL else w


def measured(ev: Evidence) -> float:
    """The test's own share: the mean of the related guides' least-squares shares of their proxies' detail, in
    [0, 1] (1 where no guide is related)."""
    on = ev.related
    return float(np.clip(np.mean([ev.shares[j] for j in on]), 0.0, 1.0)) if on else 1.0


def area_to_point(f_fine: np.ndarray, y_c: np.ndarray, k: int, ok: np.ndarray) -> np.ndarray:
    """The ridge ``β (F + 1,)`` (weights then intercept) with ``mean_k(φ) β ≈ y_c`` over the cells ``ok``:
    ``f_fine (F, H, W)`` the fine features, ``y_c (h, w)`` the target's cell means (``H = h·k``). The
    features are standardised on the cells and shrunk by :data:`TRANSFER_RIDGE` times the cells' count."""
    f_c = block_mean(f_fine, k)[0][:, ok].T.astype(np.float64)  # (n, F)
    mu, sd = f_c.mean(0), f_c.std(0) + 1e-9
    z = np.c_[(f_c - mu) / sd, np.ones(len(f_c))]
    reg = TRANSFER_RIDGE * len(z) * np.eye(z.shape[1])
    reg[-1, -1] = 0.0  # the intercept is not shrunk
    w = np.linalg.solve(z.T @ z + reg, z.T @ y_c[ok].astype(np.float64))
    return np.r_[w[:-1] / sd, w[-1] - (w[:-1] / sd) @ mu]


def consistent(pred: np.ndarray, y_c: np.ndarray, k: int) -> np.ndarray:
    """``pred (H, W)`` made to average back to ``y_c (h, w)`` in every cell: the residual interpolated
    bilinearly, and what its own cell means miss added flat per cell (``sharpen_finish.Rows``' way)."""
    fine, coarse = pixel_grids(pred.shape, k)
    res = (y_c - block_mean(pred[None], k)[0][0]).astype(np.float32)
    smooth = upsample_onto(res[None], coarse, fine, "bilinear")[0]
    rest = res - block_mean(smooth[None], k)[0][0]
    return pred + smooth + np.kron(rest, np.ones((k, k), np.float32))


def pixel_grids(shape: tuple[int, int], k: int) -> tuple[Grid, Grid]:
    """The fine pixel grid of ``shape`` and its grid of ``k × k`` cells."""
    fine = Grid(None, Affine.identity(), *shape)
    return fine, fine.coarser(k)


def proxy(x: np.ndarray, j: int, k: int, whole: np.ndarray) -> tuple[float, float]:
    """``(ratio, share)`` of guide ``j`` of ``x (G, H, W)`` (model values, whole cells of ``k``) predicted
    from the others by :func:`area_to_point` and :func:`consistent`, on the cells ``whole (h, w)`` (every
    pixel known): its MAE over its best upsampling's from the cell means, and the least-squares share of
    its detail over that upsampling."""
    t = x[j]
    f = features(np.ascontiguousarray(np.delete(x, j, 0), np.float32))
    y_c = block_mean(t[None], k)[0][0]
    beta = area_to_point(f, y_c, k, whole)
    made = consistent((np.tensordot(beta[:-1], f, 1) + beta[-1]).astype(np.float32), y_c, k)
    fine, coarse = pixel_grids(t.shape, k)
    on = np.kron(whole, np.ones((k, k), bool))
    tt = t[on]
    ups = [upsample_onto(y_c[None], coarse, fine, m)[0][on] for m in UPSAMPLERS]
    u = min(ups, key=lambda v: float(np.abs(v - tt).mean()))
    base = float(np.abs(u - tt).mean())
    d = (made[on] - u).astype(np.float64)
    dd = float((d * d).sum())
    w = float((d * (tt - u)).sum() / dd) if dd > 0 else 0.0
    return (float(np.abs(made[on] - tt).mean()) / base if base > 0 else float("nan")), w


def evidence(x: np.ndarray, k: float, names: list[str] | None = None) -> Evidence:
    """The test at the output's scale on ``x (G, H, W)``: the guides in model values over a window of the
    output (NaN where unknown), the reference ``k`` of their pixels a side (rounded to whole pixels, at least
    2). Cut to whole cells; with fewer than :data:`TRANSFER_CELLS_MIN` complete cells or one guide, unknown."""
    kk = max(2, int(round(k)))
    g, h, w = x.shape
    h, w = h // kk * kk, w // kk * kk
    cells = (h // kk) * (w // kk)
    if g < 2 or cells < TRANSFER_CELLS_MIN:
        return Evidence(k=kk, cells=cells)
    x = x[:, :h, :w].astype(np.float32)
    known = np.isfinite(x).all(0)
    whole = block_mean(known[None].astype(np.float32), kk)[0][0] == 1
    if int(whole.sum()) < TRANSFER_CELLS_MIN:
        return Evidence(k=kk, cells=int(whole.sum()))
    x = np.where(known, x, np.nanmean(x, axis=(1, 2), keepdims=True)).astype(np.float32)
    got = [proxy(x, j, kk, whole) for j in range(g)]
    names = list(names or [f"guide {j + 1}" for j in range(g)])
    return Evidence(tuple(names), tuple(r for r, _ in got), tuple(s for _, s in got), kk, int(whole.sum()),
                    at_reference(x, kk, whole))


def at_reference(x: np.ndarray, k: int, whole: np.ndarray) -> tuple[float, ...]:
    """Each guide's :func:`proxy` ratio one scale up: ``x`` averaged onto the reference's cells of ``k``, its
    cells averaged by ``WALD_STEP`` (empty with fewer than :data:`TRANSFER_CELLS_MIN` of them)."""
    step = int(WALD_STEP)
    xc = block_mean(x, k)[0]
    h, w = xc.shape[1] // step * step, xc.shape[2] // step * step
    ok = block_mean(whole[None, :h, :w].astype(np.float32), step)[0][0] == 1
    if int(ok.sum()) < TRANSFER_CELLS_MIN:
        return ()
    return tuple(proxy(xc[:, :h, :w], j, step, ok)[0] for j in range(len(x)))


def planned(guides: int, detail: float | None = None) -> str:
    """What the test at the output's scale will do, in the plan's words (before any fit: what it finds, the route
    line and the ``bandbridge_output_scale`` tag say): ``guides`` the input's bands, ``detail`` a share given."""
    if detail is not None:
        return (f"a guided route's detail taken at the share given, {float(detail):g} (the test at the output's "
                "scale said beside)")
    if guides < 2:
        return "not tested at the output's scale (one guide: no guide to predict from the others)"
    return (f"then the test at the output's scale: each guide from the others at its own pixels (a window of at most "
            f"{TRANSFER_PIXELS:,} pixels, {TRANSFER_CELLS_MIN} whole cells at least); a guided route takes its detail "
            "at the share the guides' relations carry, none where they break below the reference's cells")


def given_words(ev: Evidence, detail: float | None) -> str:
    """The test in words (:meth:`Evidence.words`), or, where a share was given, that share with the test's beside it
    (what the share rule is set from: ``benchmarks/share_rule.py``)."""
    if detail is None:
        return ev.words()
    return f"detail taken at the share given, {float(detail):g} (the test: {ev.words()})"


def take(bands: list, ev: Evidence, detail: float | None = None) -> None:
    """Each guided band of ``bands`` (``learners/sharpen.BandRoute``) takes its route's detail at the share the
    evidence ``ev`` supports (``detail``: this share instead, a benchmark's or a user's), and its upsampled route
    where that share is 0."""
    w = ev.share() if detail is None else float(detail)
    for b in bands:
        if not b.guided:
            continue
        b.share, b.scale = w, given_words(ev, detail)
        if w <= 0:
            b.upsampled(f"{b.why}; but at the output's scale {ev.words()}")


def take_route(g, ev: Evidence, detail: float | None = None) -> None:
    """``predict --reference``'s decision ``g`` (``learners/guided.GuidedFit``) takes its guided route's detail
    (the fit's or the consistent route's) at the share ``ev`` supports (``detail``: this share instead), and the
    reference upsampled (``g.upsampling``, the best held out) where that share is 0."""
    if g.route == "upsampled":
        return
    from bandbridge import policy
    w = ev.share() if detail is None else float(detail)
    capped = detail is None and g.route == "fit" and "reference" in policy.CHECK_SHARE and g.held_share < w
    w = g.held_share if capped else w  # its own held-out check's share, at most (the rule CHECK_SHARE)
    cap = f"; at most its own held-out check's share, {w:.2f}" if capped else ""
    g.share, g.scale = w, given_words(ev, detail) + cap
    if w <= 0:
        from bandbridge.learners.constant import Constant
        g.tried = g.tried or g.chosen
        g.route, g.chosen, g.correct, g.why = "upsampled", "upsampled", False, "not applied: the reference itself, upsampled"
        g.learner = Constant().fit(np.zeros((1, 1), np.float32), np.full((1, 1), 0.5, np.float32), 1)
