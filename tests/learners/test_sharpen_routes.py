"""The sharpener's line route for few cells (issue 76: the Sentinel-2 60 m bands of a small scene,
49 cells at Wald ×6): a band linear in the guides takes the line and beats cubic upsampling; a
band the guides do not carry keeps an upsampling; the line and its folds by hand."""

from __future__ import annotations

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, upsample_onto
from bandbridge.data.products import block_mean
from bandbridge.learners.sharpen import Headroom, decide
from bandbridge.learners.sharpen_routes import REGRESSION, Lines, block_folds, least_squares, out_of_fold

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
    ref, x = block_mean(truth, K), block_mean(g, K)
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
    out = s.units.to_stored(s.regressed(0, g)[None])[0]
    cubic = upsample_onto(ref, FINE.coarser(K), FINE, "cubic")[0]
    assert rmse(out, truth[0]) < 0.01 * rmse(cubic, truth[0])  # the line is exact: nothing but rounding left


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
    ref, x = block_mean(truth, K), block_mean(g, K)
    ok = np.ones(ref.shape[1:], bool)
    s = decide(Headroom(x, ok).to_model(x), ref, ok, np.ones(ok.shape, np.float32), FINE.coarser(K), K, ["T0"])
    assert s.bands[0].route == "cubic"  # 49 cells: too few to choose an upsampling by


def test_least_squares_recovers_a_line_by_hand():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    y = (2 * x[:, 0] - x[:, 1] + 0.5)[:, None]
    coef = least_squares(x, y)
    assert np.allclose(coef[:, 0], [2.0, -1.0, 0.5])
    assert np.allclose(Lines(coef).apply(np.array([[[3.0]], [[2.0]]])), [[[4.5]]])


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
    assert out_of_fold(x, x[:1], np.ones((3, 3), bool)) is None  # 9 cells for 5 parameters
