"""The test at the output's scale from the guides (issue 95), on hand-made guides with a known answer: a
relation that holds at every scale carries (detail taken), one that holds only between cells does not."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bandbridge.data.grids import block_mean
from bandbridge.learners import transfer
from bandbridge.policy import TRANSFER_CARRY


def multiscale(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A field with detail at every scale (sums of smoothed noise, 1 to 32 px)."""
    rng = np.random.default_rng(seed)
    return sum(ndimage.gaussian_filter(rng.standard_normal(shape), s) * s ** 0.5 for s in (1, 2, 4, 8, 16, 32))


def to_model(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, (0.1, 99.9), axis=(1, 2), keepdims=True)
    return (0.25 + 0.5 * (x - lo) / (hi - lo)).astype(np.float32)


def test_a_relation_at_every_scale_carries() -> None:
    f = multiscale((320, 320), 0)
    g = to_model(np.stack([f, 2 * f + 0.3, np.tanh(f)]))  # each guide a function of one field, at every scale
    ev = transfer.evidence(g, 8, ["a", "b", "c"])
    assert ev.known and ev.carries, ev
    assert max(ev.ratios) < 0.5, ev.ratios
    assert ev.share() > 0.8
    assert "the related carry" in ev.words()


def test_a_relation_only_between_cells_does_not_carry() -> None:
    rng = np.random.default_rng(1)
    k = 8
    common = np.kron(rng.standard_normal((40, 40)), np.ones((k, k)))  # what the cells share: one value a cell
    common = ndimage.gaussian_filter(common, k)  # smooth across cells, no detail inside one
    g = to_model(np.stack([common + 0.3 * ndimage.gaussian_filter(rng.standard_normal(common.shape), 1)
                           for _ in range(3)]))  # each guide's own detail below the cell: unrelated to the others'
    ev = transfer.evidence(g, k, ["a", "b", "c"])
    assert ev.known and ev.informative and not ev.carries, ev  # related between cells, not inside them
    assert min(ev.ratios) >= TRANSFER_CARRY
    assert ev.share() == 0.0
    assert "no detail taken" in ev.words()


def test_too_few_cells_or_one_guide_is_not_tested() -> None:
    g = to_model(np.stack([multiscale((40, 40), 2), multiscale((40, 40), 3)]))
    assert not transfer.evidence(g, 10).known  # 16 cells
    assert not transfer.evidence(g[:1], 2).known  # one guide
    assert transfer.share(transfer.evidence(g, 10)) == 1.0  # untested: the route's own checks decide


def test_area_to_point_recovers_a_linear_relation_and_consistency_is_exact() -> None:
    k = 4
    f = multiscale((96, 96), 4).astype(np.float32)[None]
    y_c = block_mean(3 * f - 1, k)[0][0]
    feats = np.concatenate([f, f ** 2])
    beta = transfer.area_to_point(feats, y_c, k, np.ones(y_c.shape, bool))
    pred = np.tensordot(beta[:-1], feats, 1) + beta[-1]
    assert np.abs(pred - (3 * f[0] - 1)).max() < 0.05 * np.ptp(f)
    made = transfer.consistent(np.zeros((96, 96), np.float32), y_c, k)
    np.testing.assert_allclose(block_mean(made[None], k)[0][0], y_c, atol=1e-4)


def test_take_gives_a_band_its_upsampled_route_where_nothing_carries() -> None:
    from bandbridge.learners.sharpen import BandRoute
    b = BandRoute("B05", "fit+correction", {"fit+correction": 0.1, "cubic": 0.2}, {}, "the fit won")
    no = transfer.Evidence(("a", "b"), (0.95, 1.1), (0.4, 0.1), 10, 400, (0.3, 0.4))
    transfer.take([b], no)
    assert b.route == "cubic" and "no detail taken" in b.why
    b2 = BandRoute("B05", "fit", {"fit": 0.1, "cubic": 0.2}, {}, "the fit won")
    yes = transfer.Evidence(("a", "b"), (0.4, 0.6), (0.9, 0.7), 10, 400, (0.3, 0.4))
    transfer.take([b2], yes)
    assert b2.route == "fit" and abs(b2.share - 0.8) < 1e-9 and "share 0.80" in b2.scale  # the mean of the related
    b4 = BandRoute("B05", "fit", {"fit": 0.1, "cubic": 0.2}, {}, "the fit won")
    own = transfer.Evidence(("red", "nir"), (0.5, 1.3), (0.8, 0.1), 10, 400, (0.4, 1.2))
    transfer.take([b4], own)  # a guide with information of its own (unpredictable at both scales) breaks nothing
    assert b4.route == "fit" and b4.share == 0.8 and "unrelated at the reference's scale" in b4.scale
    b3 = BandRoute("B05", "fit", {"fit": 0.1, "cubic": 0.2}, {}, "the fit won")
    unrelated = transfer.Evidence(("a", "b"), (1.0, 1.1), (0.1, 0.0), 10, 400, (0.98, 1.02))
    transfer.take([b3], unrelated)  # guides unrelated at every scale say nothing: the route's own checks decide
    assert b3.route == "fit" and b3.share == 1.0 and "no evidence either way" in b3.scale


def test_independent_guides_are_no_evidence() -> None:
    """Guides that do not predict one another at the reference's scale cannot tell whether a target's relation
    to them carries: the test stands aside (tests/inference/test_sharpen.py's fit through independent guides)."""
    g = to_model(np.stack([multiscale((256, 256), s) for s in (5, 6, 7)]))
    ev = transfer.evidence(g, 4)
    assert ev.known and not ev.informative and ev.share() == 1.0, ev


def test_a_share_at_or_over_the_rules_floor_is_the_whole_detail(monkeypatch) -> None:
    """A least-squares share of a proxy's detail is shrunk by the proxy's errors: at or over TRANSFER_FULL the band
    takes all of its route's detail, and the words keep the test's own share (the floor records it)."""
    ev = transfer.Evidence(("a", "b"), (0.4, 0.6), (0.9, 0.8), 10, 400, (0.3, 0.4))  # the test's share 0.85
    monkeypatch.setattr(transfer, "TRANSFER_FULL", 0.84)
    assert ev.share() == 1.0 and abs(transfer.measured(ev) - 0.85) < 1e-12
    assert "share 1.00 (the test's 0.85, at or over 0.84: the whole detail)" in ev.words()
    monkeypatch.setattr(transfer, "TRANSFER_FULL", 0.9)
    assert abs(ev.share() - 0.85) < 1e-12 and "the test's" not in ev.words()
    broken = transfer.Evidence(("a", "b"), (0.95, 1.1), (0.9, 0.9), 10, 400, (0.3, 0.4))
    monkeypatch.setattr(transfer, "TRANSFER_FULL", 0.0)
    assert broken.share() == 0.0  # a relation that does not carry still takes none


def test_the_plan_says_what_the_test_will_do() -> None:
    assert "each guide from the others at its own pixels" in transfer.planned(3)
    assert transfer.planned(1).startswith("not tested at the output's scale (one guide")
    assert "the share given, 0.5" in transfer.planned(3, 0.5)


def test_a_fits_own_check_gives_the_share_its_held_out_cells_support() -> None:
    """``guided.check_share``: the least-squares share of the fit's detail over the upsampling, on hand-made cells."""
    from bandbridge.learners.guided import check_share
    rng = np.random.default_rng(0)
    u = rng.random(500)
    t = rng.standard_normal(500) * 0.1
    assert abs(check_share(u + t, u, u + t) - 1.0) < 1e-12  # the detail right: all of it
    assert abs(check_share(u + 2 * t, u, u + t) - 0.5) < 1e-12  # twice the true detail: half of it
    assert check_share(u - t, u, u + t) == 0.0  # the detail's sign wrong: none
    assert check_share(u, u, u + t) == 1.0  # no detail to share


def test_the_reference_fit_takes_at_most_its_checks_share_where_the_rule_says(monkeypatch) -> None:
    """CHECK_SHARE caps predict --reference's fit at its own check's share, and says so; off, the test's share;
    a share of the check's over the test's takes the test's."""
    from types import SimpleNamespace as Fit

    from bandbridge import policy
    carry = transfer.Evidence(("a", "b"), (0.4, 0.6), (0.9, 0.7), 10, 400, (0.3, 0.4))  # the test: 0.8
    monkeypatch.setattr(policy, "CHECK_SHARE", ())
    g = Fit(route="fit", held_share=0.3, chosen="ridge")
    transfer.take_route(g, carry)
    assert g.share == 0.8 and "held-out" not in g.scale
    monkeypatch.setattr(policy, "CHECK_SHARE", ("reference",))
    g = Fit(route="fit", held_share=0.3, chosen="ridge")
    transfer.take_route(g, carry)
    assert g.share == 0.3 and g.scale.endswith("at most its own held-out check's share, 0.30")
    g = Fit(route="fit", held_share=0.95, chosen="ridge")
    transfer.take_route(g, carry)
    assert g.share == 0.8 and "held-out" not in g.scale
    g = Fit(route="consistent", held_share=0.3, chosen="zero-shot made consistent")
    transfer.take_route(g, carry)  # the consistent route has no fit of its own to check
    assert g.share == 0.8
