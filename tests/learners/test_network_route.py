"""The network's route beside the sharpener's own (issue 96, ``learners/sharpen_network.py``), by hand:
a network that knows the band's relation to the guides at every scale is taken over the fit and every
upsampling; one that adds noise to the upsampled band, or one that is right at the reference's scale
but not one Wald step down, is not; the rule's cases by hand on error dicts."""

from __future__ import annotations

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, block_mean
from bandbridge.learners.sharpen import BandRoute, Headroom, decide
from bandbridge.learners.sharpen_network import NETWORK, is_network, prefer

K = 2
SIDE = 192
FINE = Grid(None, Affine.identity(), SIDE, SIDE)


def guides(seed: int = 0) -> np.ndarray:
    """``(4, SIDE, SIDE)`` guides with detail at every scale (smooth fields, noise, blocks)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIDE, :SIDE] / SIDE
    return np.stack([0.2 + 0.3 * np.sin(9 * xx) * np.cos(7 * yy) + 0.05 * rng.random((SIDE, SIDE)),
                     0.1 + 0.4 * rng.random((SIDE, SIDE)),
                     0.3 + 0.2 * (((yy * 23).astype(int) + (xx * 29).astype(int)) % 2),
                     0.2 + 0.1 * xx + 0.1 * rng.random((SIDE, SIDE))]).astype(np.float32)


def relation(x: np.ndarray) -> np.ndarray:
    """A band the guides make at every scale, not linearly (a product and a ratio): ``(1, h, w)``."""
    return (0.1 + x[0] * x[1] + 0.05 * x[2] / (0.2 + x[3]))[None].astype(np.float32)


def decided(network):
    """``decide`` at the reference's scale (the guides and ``relation``'s truth averaged by ``K``)."""
    g = guides()
    ref, x = block_mean(relation(g), K)[0], block_mean(g, K)[0]
    ok = np.ones(ref.shape[1:], bool)
    gunits = Headroom(x, ok)
    return decide(gunits.to_model(x), ref, ok, np.ones(ok.shape, np.float32), FINE.coarser(K), K, ["T"],
                  guide_units=gunits, network=network)


def test_a_network_that_knows_the_relation_is_taken_over_the_fit_and_every_upsampling():
    s = decided(lambda xs, ups, grid: relation(xs))  # stored values in and out, as place/sharpen_network.Network
    b = s.bands[0]
    assert is_network(b.route), (b.route, b.why, b.network)
    others = min(e for m, e in b.heldout.items() if not m.startswith(NETWORK))  # the fit's among them
    assert b.heldout[b.route] < 0.99 * others, (b.heldout, s.chosen)
    assert NETWORK in b.transfer and "one Wald step down" in b.why


def test_a_network_that_adds_noise_keeps_the_bands_own_route():
    rng = np.random.default_rng(1)
    s = decided(lambda xs, ups, grid: ups + 0.05 * rng.standard_normal(ups.shape).astype(np.float32))
    b = s.bands[0]
    assert not is_network(b.route) and "its route kept" in b.network, b.network
    assert NETWORK in b.heldout  # its errors are recorded beside the band's routes


def test_without_a_network_nothing_changes():
    plain, none = decided(None).bands[0], decided(lambda xs, ups, grid: ups).bands[0]
    assert plain.route == none.route and plain.network == ""
    assert not is_network(none.route)  # the upsampled input itself never beats cubic by the margin


def band(route: str = "bspline", own: float = 1.0) -> BandRoute:
    return BandRoute("T", route, {route: own, "cubic": 1.1}, {"cubic": 1.0}, "why")


def test_the_rule_by_hand():
    b = band()  # wins at both scales: taken, with the correction where that held out better
    assert prefer(b, {NETWORK: 0.5, NETWORK + "+correction": 0.4, "cubic": 1.0}, {NETWORK: 0.5, "cubic": 1.0})
    assert b.route == NETWORK + "+correction" and b.unguided == "bspline"
    b = band()  # wins at the reference's scale, not one step down: kept
    assert not prefer(b, {NETWORK: 0.5, "cubic": 1.0}, {NETWORK: 0.995, "cubic": 1.0}) and b.route == "bspline"
    b = band()  # wins one step down, within the margin at the reference's scale: kept
    assert not prefer(b, {NETWORK: 0.995, "cubic": 1.0}, {NETWORK: 0.5, "cubic": 1.0})
    b = band()  # no check one step down: never taken
    assert not prefer(b, {NETWORK: 0.1, "cubic": 1.0}, {}) and "too few cells" in b.network


def fitted(transfer_gain: float) -> BandRoute:
    """A band on the fit: 0.05× the best upsampling held out where it was fitted, ``transfer_gain``× fitted one
    step down and applied at the reference's scale."""
    return BandRoute("T", "fit", {"fit": 0.05, "cubic": 1.0}, {"fit": transfer_gain, "cubic": 1.0}, "why")


def test_the_fit_is_weighed_as_it_is_applied_beyond_its_scale():
    """The network (never fitted on the scene) beside the fit as the fit is applied one scale beyond what it saw,
    allowed ``NETWORK_ALLOWANCE`` (the scene's checks overrate it): the fit's error at its own scale is not the
    comparison (0.05× here), its 0.1× one step down is, times the allowance, at most the best upsampling's."""
    from bandbridge.policy import NETWORK_ALLOWANCE, SHARPEN_MARGIN
    bar = (1 - SHARPEN_MARGIN) * min(1.0, NETWORK_ALLOWANCE * 0.1)
    b = fitted(0.1)
    assert prefer(b, {NETWORK: 0.9 * bar, "cubic": 1.0}, {NETWORK: 0.4, "cubic": 1.0}) and b.route == NETWORK
    assert b.checks["network_own_gain"] == 0.1  # the fit's own, before the allowance
    b = fitted(0.1)
    assert not prefer(b, {NETWORK: 1.1 * bar, "cubic": 1.0}, {NETWORK: 0.4, "cubic": 1.0}) and b.route == "fit"
