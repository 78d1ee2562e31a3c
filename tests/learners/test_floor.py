"""The zero-shot floor's candidates against hand-made answers, and the rule that chooses among
them (issue 49, learners/floor.py)."""

import numpy as np
import pytest

from bandbridge.learners.floor import FLOORS, choose_floor, fit_floor, source_mae, weighted_lad


def _source(gain: float, bias: float, n: int, seed: int, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 0.5, (n, 2))
    Y = (gain * X[:, :1] + 0.1 * X[:, 1:] + bias + noise * rng.standard_normal((n, 1))).clip(0, 1)
    return X, Y


def test_pooled_gives_every_pixel_a_vote_and_balanced_every_source():
    big, small = _source(1.0, 0.1, 4000, 0), _source(0.2, 0.1, 400, 1)
    per = {"big": big[:2], "small": small[:2]}
    A = np.c_[np.r_[big[0], small[0]], np.ones(4400)]
    plain = np.linalg.lstsq(A, np.r_[big[1], small[1]], rcond=None)[0]
    assert np.allclose(fit_floor("pooled", per), plain, atol=1e-9)  # the plain linear map
    # every source one vote: the small source repeated ten times, pooled
    A10 = np.c_[np.r_[big[0], np.tile(small[0], (10, 1))], np.ones(8000)]
    ten = np.linalg.lstsq(A10, np.r_[big[1], np.tile(small[1], (10, 1))], rcond=None)[0]
    assert np.allclose(fit_floor("balanced", per), ten, atol=1e-9)
    assert abs(fit_floor("balanced", per)[0, 0] - 0.6) < 0.05  # halfway between the gains
    assert fit_floor("pooled", per)[0, 0] > 0.9  # the big source decides


def test_lad_ignores_the_outliers_least_squares_follows():
    X, Y = _source(0.8, 0.05, 3000, 2)
    n = len(X)
    Y = Y.copy()
    Y[:300] = 1.0  # 10 % clouds in the target
    W = weighted_lad(np.c_[X, np.ones(n)], Y, np.ones(n))
    assert np.allclose(W[:, 0], [0.8, 0.1, 0.05], atol=0.01), W
    ls = fit_floor("balanced", {"a": (X, Y)})
    assert abs(ls[-1, 0] - 0.05) > 0.05  # the squared error is pulled up by them


def test_median_and_constant_by_hand():
    per = {f"s{i}": _source(g, 0.05, 500, i) for i, g in enumerate((0.5, 1.0, 1.5))}
    assert abs(fit_floor("median", per)[0, 0] - 1.0) < 1e-6
    c = fit_floor("constant", per)
    assert np.all(c[:-1] == 0) and np.isclose(c[-1, 0], np.mean([np.median(Y) for _, Y in per.values()]))


def test_minimax_lowers_the_worst_source():
    per = {"a": _source(0.5, 0.05, 800, 3), "b": _source(0.55, 0.05, 800, 4),
           "c": _source(1.4, 0.0, 800, 5)}
    worst = {k: max(source_mae(fit_floor(k, per), X, Y) for X, Y in per.values()) for k in ("lad", "minimax")}
    assert worst["minimax"] < 0.9 * worst["lad"], worst


def test_the_plain_map_is_the_floor_unless_a_candidate_wins_every_held_out_source():
    per = {f"s{i}": _source(g, 0.05, 600, i, noise=0.02) for i, g in enumerate((0.7, 0.8, 0.9, 1.0))}
    floor = choose_floor(per)
    assert floor.W.shape == (3, 1)
    assert set(floor.scores) == set(FLOORS) and all(set(d) == set(per) for d in floor.scores.values())
    assert floor.worst["pooled"] == 1.0
    if floor.kind != "pooled":  # chosen only by winning on some source and losing on none
        assert floor.worst[floor.kind] <= 1.0
        assert any(floor.scores[floor.kind][s] < floor.scores["pooled"][s] for s in per)
    rec = floor.record()
    assert rec["kind"] == floor.kind and "leave-one-source-out over 4 sources" in rec["rule"]
    # a source of clouds (targets at 1 for a tenth of its pixels): least absolute deviations
    # carries to every held-out source better than least squares pulled by them
    cloudy = {f"s{i}": _source(0.8, 0.05, 800, i, noise=0.01) for i in range(4)}
    for X, Y in cloudy.values():
        Y[: len(Y) // 10] = 1.0
    lad = choose_floor(cloudy)
    assert lad.kind in ("lad", "minimax", "median") and lad.worst[lad.kind] <= 1.0, lad.worst
    assert np.allclose(lad.W[:, 0], [0.8, 0.1, 0.05], atol=0.02), lad.W
    one = choose_floor({"only": per["s0"]})
    assert one.kind == "balanced" and "one source" in one.rule


def test_an_unknown_floor_is_named():
    with pytest.raises(ValueError, match="unknown floor 'mean'"):
        fit_floor("mean", {"a": _source(1, 0, 10, 0)[:2]})


def test_a_learner_that_loses_on_one_held_out_source_does_not_replace_the_floor():
    """versus_floor: a learner that fits the sources it saw (here: a constant per source seen)
    and carries badly to the one held out is named by that source; a learner as good as the
    floor everywhere is kept."""
    from bandbridge.learners.floor import versus_floor
    from bandbridge.learners.linear import Linear
    from bandbridge.learners.constant import Constant
    parts = [_source(g, 0.05, 500, i, noise=0.01) for i, g in enumerate((0.8, 0.9, 1.0))]
    X = np.concatenate([p[0] for p in parts])
    Y = np.concatenate([p[1] for p in parts])
    source = np.repeat(["a", "b", "c"], 500)
    fit = lambda cls: (lambda rows: cls().fit(X[rows], Y[rows], 2))  # noqa: E731
    lost = versus_floor(fit(Constant), X, Y, source, 2, "balanced")
    assert not lost["kept"] and set(lost["broke"]) == {"a", "b", "c"}, lost
    assert all(r["ratio"] > 1.01 for r in lost["by_source"].values())
    same = versus_floor(fit(Linear), X, Y, source, 2, "balanced")
    assert same["kept"] and same["broke"] == [], same
    assert all(abs(r["ratio"] - 1) < 0.01 for r in same["by_source"].values()), same


def _pixels(parts):
    from bandbridge.learners.folds import Pixels
    X = np.concatenate([p[0] for p in parts]).astype(np.float32)
    Y = np.concatenate([p[1] for p in parts]).astype(np.float32)
    image = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
    return Pixels(X, Y, image, image.copy(), np.zeros(len(X), int), np.ones(len(parts), int), 2, len(X))


@pytest.mark.parametrize("allowed, kept", [(("constant",), "floor"), (("linear",), "linear")])
def test_the_cores_choice_serves_the_floor_unless_it_carries_to_every_source(allowed, kept):
    """select.against_floor (train's rule with two or more sources): a choice worse than the
    floor on a held-out source is replaced by it, in the Selection the run serves; one that
    carries as well stays."""
    from bandbridge.learners.select import FLOOR, against_floor, choose
    # one map under every source (and noise): the linear learner carries as well as any floor;
    # the constant does not
    parts = [_source(0.9, 0.05, 400, i, noise=0.01) for i in range(3)]
    px = _pixels(parts)
    sel = choose(px, allowed=allowed)
    rec = against_floor(sel, px, np.repeat(["a", "b", "c"], 400))
    assert rec["kept"] == kept and sel.chosen == kept, rec
    assert set(rec["versus"]["by_source"]) == {"a", "b", "c"}
    if kept == FLOOR:
        assert rec["versus"]["broke"] and np.allclose(sel.fitted.coef_, rec["linear"])
        assert sel.oof[FLOOR] > 0 and sel.fitted.args()["kind"] == "linear"
        y = sel.fitted.predict(px.X, 2)
        assert abs(np.abs(y - px.Y).mean() - 0.01 * np.sqrt(2 / np.pi)) < 0.005  # the floor fits


def test_the_floor_served_in_the_cores_place_is_scored_as_its_candidates_are():
    """A card lists the floor that replaced the core's choice beside the candidates' out-of-fold
    MAE: it is measured on the core's own folds (here blocks of one group), not as the held-out
    sources' mean the rule judged by (which is kept apart, in the record's ``versus``)."""
    from bandbridge.learners.folds import Pixels, spatial_folds
    from bandbridge.learners.floor import out_of_fold
    from bandbridge.learners.select import FLOOR, against_floor, choose
    parts = [_source(g, 0.05, 400, i, noise=0.01) for i, g in enumerate((0.6, 0.9, 1.2))]
    X = np.concatenate([p[0] for p in parts]).astype(np.float32)
    Y = np.concatenate([p[1] for p in parts]).astype(np.float32)
    image = np.repeat(np.arange(3), 400)
    px = Pixels(X, Y, image, np.zeros(len(X), int), np.tile(np.arange(400), 3), np.full(3, 400), 2, len(X))
    source = np.repeat(["a", "b", "c"], 400)
    sel = choose(px, allowed=("constant",))
    rec = against_floor(sel, px, source)
    assert rec["kept"] == FLOOR, rec
    folds = spatial_folds(px)
    assert sel.folds == [f.what for f in folds] and "block" in folds[0].what  # the core's folds
    assert sel.oof[FLOOR] == pytest.approx(out_of_fold(rec["kind"], X, Y, source, 2, folds))
    held_out = np.mean([r["floor"] for r in rec["versus"]["by_source"].values()])
    # a block of sources seen is easier than a source never seen: the two measures differ
    assert sel.oof[FLOOR] < 0.8 * held_out and sel.oof[FLOOR] < sel.oof["constant"], (sel.oof, held_out)


def test_train_chooses_the_floor_on_the_pixels_evaluation_fits_it_on():
    """Given evaluation's pixels by source, against_floor's floor is evaluate's ``floor``
    baseline (the same choice and map), whatever sample the core's choice was made on."""
    from bandbridge.learners.select import against_floor, choose
    parts = [_source(g, 0.05, 400, i, noise=0.01) for i, g in enumerate((0.8, 0.9, 1.0))]
    px = _pixels(parts)
    per = {n: _source(g, 0.05, 900, 10 + i, noise=0.01) for i, (n, g) in enumerate(zip("abc", (0.8, 0.9, 1.0)))}
    rec = against_floor(choose(px, allowed=("constant",)), px, np.repeat(["a", "b", "c"], 400), per)
    want = choose_floor(per)
    assert rec["kind"] == want.kind and np.allclose(rec["linear"], want.W)


def test_a_level_floor_is_used_only_where_its_sources_agree_held_out():
    """Top of atmosphere: three sources of one map; surface: three of different maps. Held out on
    the training sources alone, the TOA level's floor beats every source's and is kept; the
    surface level's loses on one and is not (learners/floor.level_carries)."""
    from bandbridge.learners.floor import level_carries
    toa = {f"t{i}": _source(1.2, 0.2, 1500, 10 + i) for i in range(3)}
    surface = {"s0": _source(0.5, 0.0, 1500, 20), "s1": _source(0.6, 0.02, 1500, 21),
               "s2": _source(1.1, 0.15, 1500, 22)}  # the odd one, nearer TOA
    per = {**toa, **surface}
    level_of = {**dict.fromkeys(toa, "toa"), **dict.fromkeys(surface, "surface")}
    kept = level_carries(per, level_of, "toa")
    assert kept["kept"] and set(kept["held_out_mae"]) == set(toa)
    assert all(v["level"] < v["all"] for v in kept["held_out_mae"].values())
    not_kept = level_carries(per, level_of, "surface")
    assert not not_kept["kept"]
    worse = [s for s, v in not_kept["held_out_mae"].items() if v["level"] > v["all"]]
    assert worse == ["s2"], not_kept  # held out, s2 is better served by every source's map
    assert not level_carries({"a": per["t0"]}, {"a": "toa"}, "toa")["kept"]  # one source: nothing to judge
