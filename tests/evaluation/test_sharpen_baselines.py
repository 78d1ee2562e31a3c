"""The sharpening baselines on hand-computable cases: shapes, TsHARP recovering an exact linear
map, the residual correction's block means, component substitution's closed form, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from bandbridge.data.grids import block_mean as block_means
from bandbridge.errors import BandbridgeError
from bandbridge.evaluation.sharpen_baselines import (BASELINES, PANSHARPENING, brovey, consistent, cubic, dms, gsa,
                                                     homogeneous_cells, tsharp)


def block_mean(x: np.ndarray, ratio: int) -> np.ndarray:
    """``grids.block_mean``'s means alone."""
    return block_means(x, ratio)[0]


RATIO = 3


def _guides(g: int = 3, side: int = 48, seed: int = 0) -> np.ndarray:
    """Fine guides with detail inside every cell: a smooth field plus pixel noise, positive."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    smooth = [np.sin(3 * xx + k) * np.cos(2 * yy - k) for k in range(g)]
    return (1.5 + np.stack(smooth) + 0.3 * rng.standard_normal((g, side, side))).astype(np.float32)


@pytest.mark.parametrize("name", sorted(PANSHARPENING))
def test_every_baseline_gives_one_fine_band_per_target(name):
    guides = _guides()
    reference = block_mean(_guides(2, seed=1), RATIO)
    out = PANSHARPENING[name](guides, reference, RATIO)
    assert out.shape == (2, 48, 48) and out.dtype == np.float32 and np.isfinite(out).all()


def test_tsharp_recovers_a_target_that_is_a_linear_map_of_the_guides():
    guides = _guides()
    truth = (2 * guides[0] - guides[1] + 0.5 * guides[2] + 3)[None]
    out = tsharp(guides, block_mean(truth, RATIO), RATIO)
    np.testing.assert_allclose(out, truth, atol=1e-4)
    assert np.abs(cubic(guides, block_mean(truth, RATIO), RATIO) - truth).mean() > 0.1  # cubic cannot


@pytest.mark.parametrize("sharpen", [tsharp, dms])
def test_the_residual_correction_makes_the_block_means_the_reference(sharpen):
    guides = _guides()
    truth = np.stack([np.exp(guides[0]) - guides[1] ** 2, guides[2] * 40 + 280])  # not linear; a kelvin scale
    reference = block_mean(truth, RATIO)
    np.testing.assert_allclose(block_mean(sharpen(guides, reference, RATIO), RATIO), reference, rtol=1e-5, atol=1e-3)


def test_consistent_leaves_a_consistent_image_and_adds_a_uniform_residual_everywhere():
    fine = _guides(2)
    np.testing.assert_allclose(consistent(fine, block_mean(fine, RATIO), RATIO), fine, atol=1e-5)
    np.testing.assert_allclose(consistent(fine, block_mean(fine, RATIO) + 2.5, RATIO), fine + 2.5, atol=1e-4)


def test_dms_learns_a_curve_of_the_guides_the_linear_map_and_cubic_miss():
    guides = _guides(2, side=96)
    truth = (10 * (guides[:1] - 1.5) ** 2).astype(np.float32)  # a parabola: no linear map holds it
    reference = block_mean(truth, RATIO)
    err = {f.__name__: np.abs(f(guides, reference, RATIO) - truth).mean() for f in (dms, tsharp, cubic)}
    assert err["dms"] < 0.5 * err["tsharp"] and err["tsharp"] < err["cubic"], err  # measured 0.53, 1.61, 1.94


def test_homogeneous_cells_keep_the_share_that_varies_least():
    guides = np.ones((1, 4, 8), np.float32)
    guides[0, :2, 6:] = [[1, 3], [3, 1]]  # one busy cell of eight
    keep = homogeneous_cells(guides, 2, share=0.875)
    assert keep.sum() == 7 and not keep[0, 3]


def test_one_band_component_substitution_is_the_equalised_pan():
    pan = _guides(1)
    reference = block_mean(pan, RATIO)
    up = cubic(pan, reference, RATIO)[0].astype(np.float64)
    p = pan[0].astype(np.float64)
    expected = (p - p.mean()) * up.std() / p.std() + up.mean()
    np.testing.assert_allclose(brovey(pan, reference, RATIO)[0], expected, rtol=1e-5)
    np.testing.assert_allclose(gsa(pan, reference, RATIO)[0], expected, rtol=1e-4)


def test_cubic_keeps_a_flat_reference_flat():
    out = cubic(_guides(), np.full((1, 16, 16), 7.0, np.float32), RATIO)
    np.testing.assert_allclose(out, 7.0, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_guides_not_ratio_times_the_reference_are_refused(name):
    with pytest.raises(BandbridgeError, match="whole cells"):
        BASELINES[name](_guides(side=47), np.zeros((1, 16, 16), np.float32), RATIO)
