"""The zero-shot floor's candidates against hand-made answers, and the rule that chooses among
them (issue 49, learners/floor.py)."""

import numpy as np
import pytest

from bandbridge.learners.floor import FLOORS, choose_floor, fit_floor, source_mae, weighted_lad


def _source(gain: float, bias: float, n: int, seed: int, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 0.5, (n, 2))
    Y = (gain * X[:, :1] + 0.1 * X[:, 1:] + bias + noise * rng.standard_normal((n, 1))).clip(0, 1)
    return X, Y, n


def test_pooled_weighs_pixels_and_balanced_weighs_sources():
    big, small = _source(1.0, 0.1, 4000, 0), _source(0.2, 0.1, 400, 1)
    per = {"big": big, "small": small}
    A = np.c_[np.r_[big[0], small[0]], np.ones(4400)]
    plain = np.linalg.lstsq(A, np.r_[big[1], small[1]], rcond=None)[0]
    assert np.allclose(fit_floor("pooled", per), plain, atol=1e-9)  # every pixel one vote
    # every source one vote: the small source repeated ten times, pooled
    A10 = np.c_[np.r_[big[0], np.tile(small[0], (10, 1))], np.ones(8000)]
    ten = np.linalg.lstsq(A10, np.r_[big[1], np.tile(small[1], (10, 1))], rcond=None)[0]
    assert np.allclose(fit_floor("balanced", per), ten, atol=1e-9)
    assert abs(fit_floor("balanced", per)[0, 0] - 0.6) < 0.05  # halfway between the gains


def test_lad_ignores_the_outliers_least_squares_follows():
    X, Y, n = _source(0.8, 0.05, 3000, 2)
    Y = Y.copy()
    Y[:300] = 1.0  # 10 % clouds in the target
    W = weighted_lad(np.c_[X, np.ones(n)], Y, np.ones(n))
    assert np.allclose(W[:, 0], [0.8, 0.1, 0.05], atol=0.01), W
    ls = fit_floor("balanced", {"a": (X, Y, n)})
    assert abs(ls[-1, 0] - 0.05) > 0.05  # the squared error is pulled up by them


def test_median_and_constant_by_hand():
    per = {f"s{i}": _source(g, 0.05, 500, i) for i, g in enumerate((0.5, 1.0, 1.5))}
    assert abs(fit_floor("median", per)[0, 0] - 1.0) < 1e-6
    c = fit_floor("constant", per)
    assert np.all(c[:-1] == 0) and np.isclose(c[-1, 0], np.mean([np.median(Y) for _, Y, _ in per.values()]))


def test_minimax_lowers_the_worst_source():
    per = {"a": _source(0.5, 0.05, 800, 3), "b": _source(0.55, 0.05, 800, 4),
           "c": _source(1.4, 0.0, 800, 5)}
    worst = {k: max(source_mae(fit_floor(k, per), X, Y) for X, Y, _ in per.values()) for k in ("lad", "minimax")}
    assert worst["minimax"] < 0.9 * worst["lad"], worst


def test_the_floor_is_chosen_by_its_worst_held_out_source_and_records_every_fold():
    per = {f"s{i}": _source(g, 0.05, 600, i, noise=0.02) for i, g in enumerate((0.7, 0.8, 0.9, 1.0))}
    floor = choose_floor(per)
    assert floor.kind in FLOORS and floor.W.shape == (3, 1)
    assert set(floor.scores) == set(FLOORS) and all(set(d) == set(per) for d in floor.scores.values())
    assert floor.worst[floor.kind] == min(floor.worst.values())
    assert min(floor.worst.values()) >= 1.0
    rec = floor.record()
    assert rec["kind"] == floor.kind and "leave-one-source-out over 4 sources" in rec["rule"]
    assert floor.kind != "constant"  # the bands explain these targets
    one = choose_floor({"only": per["s0"]})
    assert one.kind == "balanced" and "one source" in one.rule


def test_an_unknown_floor_is_named():
    with pytest.raises(ValueError, match="unknown floor 'mean'"):
        fit_floor("mean", {"a": _source(1, 0, 10, 0)})
