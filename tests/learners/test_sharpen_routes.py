"""The sharpener's line route (issue 76: the Sentinel-2 60 m bands of a small scene, 49 cells at
Wald ×6; the line over a fit whose coarse checks overrate it): a band linear in the guides takes the
line and beats cubic upsampling; a band the guides do not carry keeps an upsampling; the line's
ridge on the detail, its low-pass, its folds and its rule against the fit by hand."""

from __future__ import annotations

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, block_mean, upsample_onto
from bandbridge.learners.upsampling import padded_up
from bandbridge.policy import FALLBACK_UPSAMPLING
from bandbridge.learners.sharpen import Headroom, decide, reference_low
from bandbridge.learners.sharpen_routes import (REGRESSION, Lines, Moments, block_folds, detail_ridge, line_route,
                                               out_of_fold)

K = 6
FINE = Grid(None, Affine.identity(), 42, 42)  # a 7 × 7 reference at k = 6: 49 cells, a 60 m band's small scene


def guides(seed: int = 0) -> np.ndarray:
    """``(3, 42, 42)``: three guide bands with detail at every scale (a ramp, noise, blocks)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:42, :42] / 42.0
    return np.stack([0.2 + 0.3 * xx + 0.05 * rng.random((42, 42)),
                     0.1 + 0.4 * rng.random((42, 42)),
                     0.3 + 0.2 * (((yy * 5).astype(int) + (xx * 7).astype(int)) % 2) + 0.02 * rng.random((42, 42))]
                    ).astype(np.float32)


def routes_of(truth: np.ndarray, g: np.ndarray):
    """``decide`` on the guides and ``truth (Ct, 42, 42)`` averaged onto the 7 × 7 reference."""
    ref, x = block_mean(truth, K)[0], block_mean(g, K)[0]
    ok = np.ones(ref.shape[1:], bool)
    gunits = Headroom(x, ok)
    s = decide(gunits.to_model(x), ref, ok, np.ones(ok.shape, np.float32), FINE.coarser(K), K,
               [f"T{i}" for i in range(len(truth))], guide_units=gunits)
    return s, ref


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_a_band_linear_in_the_guides_on_49_cells_takes_the_line_and_beats_cubic():
    g = guides()
    truth = (0.05 + 0.6 * g[0] - 0.3 * g[1] + 0.2 * g[2])[None]  # exactly a line of the guides
    s, ref = routes_of(truth, g)
    assert s.cells == 49 and s.learner is None  # too few cells for the fit: before the line, cubic was kept
    assert s.bands[0].base == REGRESSION, s.bands[0].why
    low = padded_up(s.low[:1], FINE.coarser(K), FINE, "cubic")[0]  # the engine's line band before the correction
    out = s.units.to_stored((s.lines.apply(s.guide_units.to_model(g))[0] + low)[None])[0]
    cubic = upsample_onto(ref, FINE.coarser(K), FINE, "cubic")[0]
    assert rmse(out, truth[0]) < 0.05 * rmse(cubic, truth[0])  # an exact line is not shrunk (1 − R² = 0)


def test_a_line_refused_later_gives_back_the_upsampling_it_displaced():
    g = guides()
    s, _ = routes_of((0.05 + 0.6 * g[0] - 0.3 * g[1] + 0.2 * g[2])[None], g)
    band = s.bands[0]
    # 49 cells: the rule's upsampling (too few averaged by k or by 2 to choose one by), not one chosen on them
    assert band.base == REGRESSION and band.unguided == FALLBACK_UPSAMPLING
    band.upsampled("a shift")  # what the run does where the guides look shifted
    assert band.route == FALLBACK_UPSAMPLING and band.why == "a shift"


def test_a_band_the_guides_do_not_carry_keeps_an_upsampling():
    g = guides()
    yy, xx = np.mgrid[:42, :42] / 42.0
    smooth = 0.3 + 0.2 * np.sin(4 * yy) * np.cos(3 * xx) + 0.1 * np.random.default_rng(7).random((42, 42))
    s, _ = routes_of(smooth[None].astype(np.float32), g)
    assert not s.bands[0].guided, s.bands[0].why
    assert "not within" in s.bands[0].why  # the line was checked and refused, and the band says so
    assert s.lines is None


def test_without_the_guides_units_no_line_is_offered():
    g = guides()
    truth = (0.05 + 0.6 * g[0])[None]
    ref, x = block_mean(truth, K)[0], block_mean(g, K)[0]
    ok = np.ones(ref.shape[1:], bool)
    s = decide(Headroom(x, ok).to_model(x), ref, ok, np.ones(ok.shape, np.float32), FINE.coarser(K), K, ["T0"])
    assert s.bands[0].route == FALLBACK_UPSAMPLING  # 49 cells: too few to choose an upsampling by


def ridge(x: np.ndarray, y: np.ndarray, dx: np.ndarray, dy: np.ndarray, strength: float) -> np.ndarray:
    """:func:`detail_ridge` on the rows given (``Moments`` of ``[dx, dy, x, y]``)."""
    return detail_ridge(Moments.of(np.hstack([dx, dy, x, y])), x.shape[1], strength)


def test_the_ridge_fits_the_detail_and_shrinks_its_weights_towards_none():
    rng = np.random.default_rng(0)
    dx = rng.normal(size=(400, 2))
    dy = (2 * dx[:, 0] - dx[:, 1])[:, None]
    x = dx + np.array([1.0, 3.0])  # the levels: the detail plus each guide's mean
    y = dy + 0.5
    exact = ridge(x, y, dx, dy, 0.0)
    assert np.allclose(exact[:2, 0], [2.0, -1.0]) and np.isclose(exact[2, 0], 0.5 - 2.0 + 3.0)  # the mean kept
    assert np.allclose(ridge(x, y, dx, dy, 16.0), exact)  # exact: 1 − R² = 0, nothing shrunk
    assert np.allclose(Lines(exact).apply(np.array([[[3.0]], [[2.0]]])), [[[2 * 3.0 - 2.0 + 1.5]]])
    dy = dy + rng.normal(size=dy.shape)  # a sixth of the detail's variance the guides do not explain
    y = dy + 0.5
    exact = ridge(x, y, dx, dy, 0.0)
    shrunk = ridge(x, y, dx, dy, 2.0)
    assert 0 < shrunk[0, 0] < exact[0, 0] and exact[1, 0] < shrunk[1, 0] < 0  # towards none, not past it
    assert np.isclose(Lines(shrunk).apply(x.mean(0)[:, None, None])[0, 0, 0], y.mean())  # the mean still given


def test_a_fold_s_training_sums_are_every_cell_s_less_the_fold_s():
    z = np.random.default_rng(1).random((50, 4))
    train = Moments.of(z) - Moments.of(z[:20])
    direct = Moments.of(z[20:])
    assert train.n == 30 and np.allclose(train.s1, direct.s1) and np.allclose(train.s2, direct.s2)


def test_the_low_pass_gives_back_the_reference_with_the_lines_averaged():
    g = guides()
    x_c = block_mean(g, K)[0]
    r = (0.1 + 0.5 * x_c[0] + 0.2 * x_c[1] ** 2)[None]  # not a line: the low-pass keeps the rest
    lines = Lines(np.array([[0.4], [0.1], [0.0], [0.05]]))
    low = reference_low(lines, x_c, r, rows=3)  # rows at a time, as a large grid's
    assert np.allclose(low + lines.apply(x_c), r, atol=1e-6)
    x_c[1, 2, 3] = np.nan  # a guide unknown: the nearest known cell's
    assert np.isfinite(reference_low(lines, x_c, r)).all()


def test_the_line_must_beat_the_best_upsampling_at_its_check():
    check = {"nearest": 1.0, "cubic": 0.9, "cubic+correction": 0.8, REGRESSION: 0.7, REGRESSION + "+correction": 0.6}
    route, why = line_route(check, 2.0, "cubic+correction", "too few cells")
    assert route == REGRESSION + "+correction" and "the line is taken" in why
    worse = check | {REGRESSION: 0.85, REGRESSION + "+correction": 0.795}
    route, why = line_route(worse, 2.0, "cubic+correction", "too few cells")
    assert route == "cubic+correction" and "not within" in why  # 0.795 of 0.8: not better by the margin


def test_folds_hold_out_whole_blocks_and_every_clear_cell():
    seen = np.ones((8, 8), bool)
    seen[0, 0] = False
    fold = block_folds(seen, folds=5, block=4)
    assert fold[0, 0] == -1 and (fold[seen] >= 0).all()
    for r in (0, 4):
        for c in (0, 4):
            block = fold[r:r + 4, c:c + 4][seen[r:r + 4, c:c + 4]]
            assert len(set(block.tolist())) == 1  # a block's cells are held out together
    assert len(set(fold[seen].tolist())) == 4  # four blocks: four folds, not five


def test_too_few_cells_for_a_line_give_none():
    x = np.random.default_rng(0).random((4, 3, 3)).astype(np.float32)
    assert out_of_fold(x, x[:1], np.ones((3, 3), bool), 2.0, Grid(None, Affine.identity(), 3, 3)) is None  # 9 cells
    # for 5 parameters


def test_headroom_in_place_is_the_same_operations_bit_for_bit():
    """The output's and the work file's strips convert in place (no strip-sized temporaries): the same float32
    values as the expressions, and the strip itself is what comes back."""
    g = np.random.default_rng(4)
    v = (g.random((3, 40, 50)) * 3000).astype(np.float32)
    units = Headroom(v, np.ones((40, 50), bool))
    m = units.to_model(v)
    s = units.to_stored(m)
    a, b = v.copy(), m.copy()
    assert units.to_model(a, inplace=True) is a and np.array_equal(a, m)
    assert units.to_stored(b, inplace=True) is b and np.array_equal(b, s)
