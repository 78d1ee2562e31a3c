"""A network's route beside the sharpener's own (issue 96): a network trained across scenes of one
sensor (Sentinel-2's residual network, ``models/s2_residual.py``) that maps the guides and the
reference upsampled onto their grid to the bands, checked here as any route is.

The network never saw the scene, so its prediction at the reference's scale from the guides averaged
there (``x↓``) and the reference degraded once more and upsampled (``r↓↑``, the same cubic its work
file holds at full scale) *is* held out: no folds are needed. It is checked there, with and without the
consistency correction (``sharpen_routes.route_errors``), and one Wald step down (everything averaged by
``k`` once more). A band takes it only where, over the best upsampling, it errs less than the route the band
has without it, each as it is applied beyond what it was fitted on (the network at the reference's scale, the
scene's fit fitted one Wald step down and applied there), and beats the best upsampling one step down too,
each by :data:`SHARPEN_MARGIN`: the per-band choice between the run with the network and without it. (A fit's
error held out at the reference's scale is its error at the scale it was fitted at: beside the network's,
which was never fitted there, it overrates the fit.) Units: model values in, model values out;
``net`` takes and gives the stored values (the caller knows how those map to what the network reads).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from bandbridge.data.grids import Grid
from bandbridge.learners.guided import HALF
from bandbridge.learners.octaves import coarser_seen
from bandbridge.learners.sharpen_routes import (CORRECTED, UPSAMPLERS, Stored, averaged, degraded, route_errors, up_all,
                                               upsamplings)
from bandbridge.policy import NETWORK_ALLOWANCE, REFERENCE_UPSAMPLING, SHARPEN_MARGIN, SHARPEN_TRANSFER_MIN

NETWORK = "network"
# (guides (G, h, w), upsampled (Ct, h, w), the grid both lie on) stored → (Ct, h, w); the grid tells a network that
# reads bands beside the guides how far to average them (the 60 m run's 20 m bands: place/sharpen_network.py)
Net = Callable[[np.ndarray, np.ndarray, Grid], np.ndarray]


def in_model(net: Net, gunits, units) -> Callable[[np.ndarray, np.ndarray, Grid], np.ndarray]:
    """``net`` on model values: the guides (``gunits``) and the targets (``units``) mapped to their stored values
    and its output back (``fill_fit.Units``)."""
    return lambda x, up, grid: units.to_model(net(gunits.to_stored(x), units.to_stored(up), grid))


def errors(f, x: np.ndarray, r: np.ndarray, seen: np.ndarray, grid: Grid, k: float
           ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(held out at the reference's scale, one Wald step down)``: every route's per-band MAE ``(Ct,)``, the
    network's (``f`` on model values) with the upsamplings' beside it; the second ``{}`` where one step down
    holds under ``SHARPEN_TRANSFER_MIN`` clear cells. ``x (G, h, w)`` the guides averaged onto ``grid`` (the
    reference's), ``r (Ct, h, w)`` the reference, both model values, ``seen`` its clear cells."""
    coarse = grid.coarser(k)
    r2, frac = degraded(r, grid, coarse)
    at_ref = _errors(f, x, r, r2, frac, seen, grid, coarse)
    seen2, down = coarser_seen(seen, grid, averaged, k)
    if int(seen2.sum()) < SHARPEN_TRANSFER_MIN:
        return at_ref, {}
    x2, rs = (np.nan_to_num(averaged(a, np.ones(seen.shape, bool), grid, down)[0], nan=HALF) for a in (x, r))
    below = down.coarser(k)
    r3, frac3 = degraded(rs, down, below)
    return at_ref, _errors(f, x2, rs, r3, frac3, seen2, down, below)


def _errors(f, x, r, r2, frac, seen, grid, coarse) -> dict[str, np.ndarray]:
    """The network's and every upsampling's per-band MAE predicting ``r`` from ``x`` and ``r2`` on ``seen``."""
    up = up_all(r2, coarse, grid, REFERENCE_UPSAMPLING)
    routes = upsamplings(r2, coarse, grid, up)
    routes[NETWORK] = lambda: f(x, up, grid)
    return route_errors(routes, seen, r, r2, frac, grid, coarse)


def prefer(band, heldout: dict[str, float], transfer: dict[str, float], su: Stored = Stored()) -> bool:
    """Give ``band`` (``learners/sharpen.BandRoute``) the network's route (with the correction where that held
    out better) where, over the best upsampling, it errs less by ``SHARPEN_MARGIN`` than the band's own route
    allowed ``NETWORK_ALLOWANCE`` (at most 1: the best upsampling), each applied at a scale it was not fitted at:
    the network at the reference's scale; the fit fitted one Wald step down and applied there (its ``transfer``),
    the line out of fold one step down (its check), an upsampling itself (1); and it beats the best upsampling one
    Wald step down too. Its errors join the band's. Whether it took it."""
    nets = {m: e for m, e in heldout.items() if m.startswith(NETWORK)}
    band.heldout.update(nets)
    if transfer:
        band.transfer.update({m: e for m, e in transfer.items() if m.startswith(NETWORK)})
    best = min(nets, key=nets.get)
    gain = nets[best] / _best_up(heldout)
    raw = _own_gain(band)
    own = min(1.0, NETWORK_ALLOWANCE * raw)  # the scene's checks overrate its own route (see policy)
    if not transfer:
        band.network = "the Sentinel-2 network: one Wald step down holds too few cells to check it"
        return False
    t_up = min((m for m in transfer if m.startswith(UPSAMPLERS)), key=transfer.get)
    t_net = min(transfer[m] for m in transfer if m.startswith(NETWORK))
    band.checks = {"network_gain": gain, "network_own_gain": raw, "network_step_down": t_net / transfer[t_up]}
    said = (f"the Sentinel-2 network erred {gain:.3g}× the best upsampling held out at the reference's scale "
            f"({su(nets[best])}), against {own:.3g}× allowed by {band.route} applied beyond its fit, and "
            f"{su(t_net)} against {su(transfer[t_up])} for {t_up} one Wald step down")
    if not (gain < (1 - SHARPEN_MARGIN) * own and t_net < (1 - SHARPEN_MARGIN) * transfer[t_up]):
        band.network = said + f": not under {1 - SHARPEN_MARGIN:.3g}× both, its route kept"
        return False
    if not band.guided:
        band.unguided = band.route  # the upsampling a share of the network's detail is measured from
    band.route, band.why, band.network = best, said, said
    return True


def _best_up(errors: dict[str, float]) -> float:
    """The best upsampling's error among ``errors``."""
    return min(e for m, e in errors.items() if m.startswith(UPSAMPLERS))


def _own_gain(band) -> float:
    """The band's route's error over the best upsampling's where the route was applied beyond what it was fitted
    on: the fit's one Wald step down (``transfer``; where it has none, held out), the line's at its check, an
    upsampling 1."""
    base = band.route.removesuffix(CORRECTED)
    if base == "fit" and band.route in band.transfer:
        return band.transfer[band.route] / _best_up(band.transfer)
    if band.route in band.checked and any(m.startswith(UPSAMPLERS) for m in band.checked):
        return band.checked[band.route] / _best_up(band.checked)
    if base in UPSAMPLERS:
        return 1.0
    return band.heldout[band.route] / _best_up(band.heldout)


def is_network(route: str) -> bool:
    """Whether a route is the network's (with or without the correction)."""
    return route.removesuffix(CORRECTED) == NETWORK
