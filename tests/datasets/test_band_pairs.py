"""The Sentinel-2 band prior's data (issue 84): the MTF-matched degradation (``grids.mtf_mean``) on a
cosine at the coarse grid's Nyquist frequency, the crops of pairs that lack bands
(``data/band_crops.py``), and a Wald case's pairs (``workflows/s2_prior.case_pairs``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from affine import Affine

from bandbridge.data.band_crops import BandCrops
from bandbridge.data.grids import Grid, block_mean, mtf_mean, mtf_sigma
from bandbridge.evaluation.sharpen_cases import Case
from bandbridge.workflows.s2_prior import OUTPUTS, case_pairs


def test_mtf_sigma_by_hand():
    """k = 2: the block's response at ν = 1/4 is 1/(2 sin(π/4)) = 0.70711, so the Gaussian's must be
    0.3/0.70711 = 0.42426: σ = 2 √(−2 ln 0.42426)/π = 2 · 1.30951/π = 0.83366. A response the block
    alone gives (0.8 > 0.707) needs no Gaussian."""
    assert mtf_sigma(2, 0.3) == pytest.approx(0.83366, abs=1e-5)
    assert mtf_sigma(6, 0.3) == pytest.approx(6 * np.sqrt(-2 * np.log(0.3 * 6 * np.sin(np.pi / 12))) / np.pi)
    assert mtf_sigma(2, 0.8) == 0.0


@pytest.mark.parametrize("k", [2, 6])
def test_a_cosine_at_the_coarse_nyquist_keeps_the_mtf_of_its_amplitude(k):
    """cos(2π(i − (k−1)/2)/(2k)) peaks at every other cell's centre: its cells are ±mtf after
    :func:`mtf_mean` (±0.707 or ±0.644 after the block mean alone)."""
    i = np.arange(24 * k, dtype=np.float64)
    img = np.tile(np.cos(2 * np.pi * (i - (k - 1) / 2) / (2 * k)), (24 * k, 1))[None]
    inner = mtf_mean(img, k, 0.3)[0][12, 6:18]  # far from the mirrored edges
    assert np.allclose(np.abs(inner), 0.3, atol=2e-3) and inner[0] * inner[1] < 0
    assert np.allclose(np.abs(block_mean(img, k)[0][0][12, 6:18]), 1 / (k * np.sin(np.pi / (2 * k))), atol=1e-4)


def test_crops_are_reproducible_and_keep_what_is_unknown():
    """A draw is a pure function of (seed, i); a pair smaller than the crop is padded unknown; a pixel
    whose guide is unknown has unknown targets and a zero guide; a band the pair lacks stays unknown."""
    x = np.random.default_rng(0).random((4, 6, 5)).astype(np.float32)
    x[1, 2, 3] = np.nan
    y = np.full((8, 6, 5), np.nan, np.float32)
    y[6:] = 0.5
    d = BandCrops([(x, y)], size=8, length=10, seed=3)
    a, b = d[4], d[4]
    assert torch.equal(a["input"], b["input"]) and a["input"].shape == (4, 8, 8) and a["target"].shape == (8, 8, 8)
    t = a["target"]
    assert torch.isnan(t[:6]).all() and torch.isfinite(t[6:]).sum() == 2 * (6 * 5 - 1)
    assert not torch.isnan(a["input"]).any()


def test_a_cases_pairs():
    """A case on its own grids (step 2) gives its pair and the one an octave coarser; the targets sit
    in :data:`OUTPUTS`' order, the bands it lacks NaN. A case of one grid gives the coarser pair only."""
    g = np.random.default_rng(1).random((4, 16, 16)).astype(np.float32)
    t = np.random.default_rng(2).random((2, 16, 16)).astype(np.float32)
    grid = Grid(None, Affine.identity(), 16, 16)
    case = Case("c", "src/x", "s2", 2, g, ["B02", "B03", "B04", "B08"], block_mean(t, 2)[0], t, ["B11", "B12"],
                "reflectance", grid, step=2)
    pairs = case_pairs(case, None)
    assert [p[0].shape for p in pairs] == [(4, 16, 16), (4, 8, 8)] and pairs[0][1].shape == (len(OUTPUTS), 16, 16)
    y = pairs[0][1]
    assert np.array_equal(y[OUTPUTS.index("B11")], t[0]) and np.isnan(y[OUTPUTS.index("B05")]).all()
    assert np.allclose(pairs[1][0], block_mean(g, 2)[0]) and np.allclose(pairs[1][1][OUTPUTS.index("B12")],
                                                                          block_mean(t, 2)[0][1])
    case.step = 1
    assert len(case_pairs(case, 0.3)) == 1 and np.allclose(case_pairs(case, 0.3)[0][0], mtf_mean(g, 2, 0.3))
