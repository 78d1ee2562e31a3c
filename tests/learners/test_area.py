"""Area-to-point fitting (``learners/area.py``, issue 95): the features the fit learns on are the fine pixels'
averaged over each cell, a linear fit's cell check scores exactly the cell means of what it makes at full
scale, and the checks one step down and an octave coarser run on the same window's coarser cells."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from scipy import ndimage

from bandbridge.data.grids import Grid, block_mean
from bandbridge.inference.place.output_scale import span, window
from bandbridge.learners.area import LINEAR, Fine, cell_features, step_down
from bandbridge.learners.guided import HALF, predict_all
from bandbridge.learners.upsampling import padded_up
from bandbridge.learners.scene_fit import configured, features
from bandbridge.learners.select import choose
from bandbridge.learners.folds import spatial_folds
from bandbridge.learners.scene_fit import BUFFER


def _guides(n: int = 240, seed: int = 0) -> np.ndarray:
    """Three smooth random fields in model values (0.25–0.75), ``(3, n, n)``."""
    rng = np.random.default_rng(seed)
    g = np.stack([ndimage.gaussian_filter(rng.normal(size=(n, n)), s) for s in (1.5, 2.5, 4.0)])
    g = (g - g.min((1, 2), keepdims=True)) / np.ptp(g, axis=(1, 2), keepdims=True)
    return (0.25 + 0.5 * g).astype(np.float32)


def test_cell_features_are_the_fine_features_averaged_whatever_the_strips():
    x = _guides(96)
    whole = block_mean(features(x), 4)[0]
    for strip in (96 * 4, 96 * 12, 1 << 17):  # one cell row a strip, three, all at once
        np.testing.assert_allclose(cell_features(x, 4, True, strip), whole, rtol=1e-5, atol=1e-6)


def test_a_linear_fit_checked_on_the_cells_is_the_function_applied_at_full_scale():
    """The Wald target's fit on the cells' mean fine features: a linear learner's prediction for a cell is the mean of
    what it makes over that cell's pixels (``Level.predict`` against ``predict_all`` on the fine channels)."""
    k, x = 4, _guides(160)
    truth = (0.3 * x[0] + 0.5 * x[1] * x[2] + 0.1)[None]
    r = block_mean(truth, k)[0]
    lv = Fine(x, k, (0, 0)).levels(r, np.ones(r.shape[1:], bool), lambda u, g: np.concatenate([u, g]))
    assert lv.on == (slice(0, 40), slice(0, 40))
    level = lv.at(1)
    px, _, _ = level.pixels(10_000, 0)
    f = configured(("ridge-context λ=0.0001",))[0].fit(px.X, px.Y, px.bands)
    fine = Grid(None, Affine.identity(), 160, 160)
    cells, coarse = fine.coarser(k), fine.coarser(k * k)
    up = padded_up(padded_up(block_mean(r, k)[0], coarse, cells), cells, fine).astype(np.float32)
    made = predict_all(f, np.concatenate([up, x]), True) + up - HALF
    np.testing.assert_allclose(block_mean(made, k)[0], level.predict(f), atol=2e-6)


def test_the_check_one_step_down_finds_a_relation_at_every_scale_and_none_in_noise():
    """A band that is a product of the guides at their own pixels: the fit refitted on the cells of ``k`` cells beats
    every upsampling on the reference's cells; a band of noise the guides know nothing of: it does not."""
    k, x = 2, _guides(256, 1)
    seen = np.ones((128, 128), bool)
    rng = np.random.default_rng(3)
    for truth, wins in (((0.2 + x[0] * x[1])[None], True),
                        ((0.5 + 0.2 * ndimage.gaussian_filter(rng.normal(size=(256, 256)), 2.0))[None], False)):
        r = block_mean(truth.astype(np.float32), k)[0]
        lv = Fine(x, k, (0, 0)).levels(r, seen, lambda u, g: np.concatenate([u, g]))
        px, _, _ = lv.at(1).pixels(20_000, 0)
        cands = configured(LINEAR)
        sel = choose(px, cands, folds=spatial_folds(px, buffer=BUFFER), served=False)
        errors, n2 = step_down(sel, {c.name: c for c in cands}, lv, 400, 0)
        assert n2 == 64 * 64
        best_up = min(float(e[0]) for m, e in errors.items() if not m.startswith("fit"))
        assert bool(min(errors["fit"][0], errors["fit+correction"][0]) < 0.8 * best_up) is wins, (sel.chosen, errors)


@pytest.mark.parametrize("n, side, k, off", [(160, 1024, 2, 1), (160, 1024, 2, 0), (5000, 1024, 10, 3),
                                             (7, 1024, 2, 1), (100, 40, 6, 5)])
def test_the_window_holds_whole_cells_whatever_the_offset(n, side, k, off):
    """The window's first pixel begins a cell and it holds whole cells (a half-cell offset near the edge had let it
    start mid-cell: a grid moved by half a pixel then fitted every cell against its neighbour's pixels)."""
    a, b = span(n, side, k, off)
    assert (a + off) % k == 0 and (b - a) % k == 0 and 0 <= a <= b <= n and b - a <= side
    assert b - a == min(side // k, (n - (-off) % k) // k) * k  # as many whole cells as fit


@pytest.mark.parametrize("off", [0, 1])
def test_the_fine_window_lies_on_the_cells_it_names(off):
    """``output_scale.window``'s ``Fine``: its pixels averaged by ``k`` are the grid's cells at ``at``, on a grid
    whose cells begin at the fine grid's first pixel and on one moved by half a cell (a registration's move)."""
    k, x = 2, _guides(64, 2)
    fine = Grid(None, Affine.scale(1, -1), 64, 64)
    grid = Grid(None, Affine.translation(-off, off) @ Affine.scale(k, -k), 33, 33)  # the fine corner `off` px in
    xc, _ = block_mean(np.pad(x, ((0, 0), (off, 2 * k - off), (off, 2 * k - off)), mode="edge"), k)
    got, kk, f = window(lambda a, b: (x[:, a:b], np.ones((b - a, 64), bool)), fine, grid, k)
    assert kk == k and f is not None and got.shape[1] % k == 0
    h, w = f.cells
    np.testing.assert_allclose(block_mean(f.x, k)[0], xc[:, f.at[0]:f.at[0] + h, f.at[1]:f.at[1] + w], atol=1e-6)


def test_the_sharpeners_decision_learns_on_the_window_when_given_it(monkeypatch):
    """``sharpen.decide`` given a fine window (``policy.AREA_FIT``'s route): the fit is learned on the window's levels
    (the reference's cells, then a step of k and an octave coarser for its checks), chosen among the learners a cell
    mean commutes with, and a band that is the guides' product takes it."""
    from bandbridge.learners import area
    from bandbridge.learners.sharpen import Headroom, decide
    made, at = [], area.Levels.at
    monkeypatch.setattr(area.Levels, "at", lambda self, b: made.append(b) or at(self, b))
    k, x = 2, _guides(256, 4)
    truth = (0.2 + x[0] * x[1])[None].astype(np.float32) * 1000  # stored units
    ref = block_mean(truth, k)[0]
    grid = Grid(None, Affine.identity(), 128, 128).coarser(1)
    xc = block_mean(x, k)[0]
    units = Headroom(xc, np.ones((128, 128), bool))
    fine = Fine(units.to_model(x[:, 64:192, 64:192]), k, (32, 32))
    s = decide(units.to_model(xc), ref, np.ones((128, 128), bool), np.ones((128, 128), np.float32), grid, k,
               ["B"], seed=0, fine=fine)
    assert set(made) == {1, 2, 4} and s.chosen in LINEAR and s.bands[0].route.startswith("fit"), (made, s.bands[0].why)
    assert s.bands[0].stored("fit") < 0.5 * s.bands[0].stored("cubic")


def test_the_area_fit_takes_no_ridge_weaker_than_its_rule(monkeypatch):
    """``area.candidates``: the constant and the linear map always, a context ridge only at or above
    ``policy.AREA_RIDGE_MIN`` (read at the call), and ``Levels.candidates`` the same for the kinds that hold one."""
    from bandbridge import policy
    from bandbridge.learners import area
    monkeypatch.setattr(policy, "AREA_RIDGE_MIN", 1e-2)
    assert area.candidates() == ("constant", "linear", "ridge-context λ=0.01")
    monkeypatch.setattr(policy, "AREA_RIDGE_MIN", 1e-3)
    assert area.candidates() == ("constant", "linear", "ridge-context λ=0.001", "ridge-context λ=0.01")
    monkeypatch.setattr(policy, "AREA_RIDGE_MIN", 1.0)
    assert area.candidates() == ("constant", "linear")
    assert set(area.candidates()) <= set(LINEAR)
