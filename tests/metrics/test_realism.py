"""The realism measures (bandbridge/realism.py) against hand-computed values and the orderings
they exist for: a flat image, the real image shifted, noise added, other real frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bandbridge.realism import (contrast_ratio, laplacian_pyramid, pearson_r, pyramid_levels,
                                realism, sliced_wasserstein, swd_1level)
from tests.conftest import SHARED, needs_shared


def test_swd_of_one_dimension_is_the_mean_gap_between_sorted_values():
    # in one dimension every unit direction is ±1: SWD = mean |sort(a) − sort(b)|
    a = torch.tensor([[2.0], [0.0], [1.0]])
    b = torch.tensor([[3.0], [1.0], [2.0]])
    assert swd_1level(a, b) == pytest.approx(1.0)
    assert swd_1level(a, a) == 0.0
    # sets of different sizes are compared by quantiles: {0, 2} against {0, 1, 2} → |1 − 1| at the
    # middle quantile, 0 at the ends
    assert swd_1level(torch.tensor([[0.0], [2.0]]), torch.tensor([[0.0], [1.0], [2.0]])) == pytest.approx(0.0)


def test_contrast_and_pearson_by_hand():
    real = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    assert contrast_ratio(2 * real + 5, real) == pytest.approx(2.0)
    assert contrast_ratio(torch.full_like(real, 0.4), real) == 0.0
    assert pearson_r(2 * real + 5, real) == pytest.approx(1.0)
    assert pearson_r(-real, real) == pytest.approx(-1.0)
    assert math.isnan(pearson_r(torch.full_like(real, 0.4), real))  # a flat image: no correlation
    # the mask keeps the first row only: real (0, 1), output (1, 0)
    mask = torch.tensor([[True, True], [False, False]])
    assert pearson_r(torch.tensor([[[1.0, 0.0], [9.0, 9.0]]]), real, mask) == pytest.approx(-1.0)


def test_pyramid_sums_back_and_stops_at_16_pixels():
    assert pyramid_levels(16, 40) == 1 and pyramid_levels(32, 40) == 2 and pyramid_levels(480, 640) == 5
    img = torch.rand(1, 64, 48, generator=torch.Generator().manual_seed(0))
    bands = laplacian_pyramid(img, 3)
    assert [tuple(b.shape[-2:]) for b in bands] == [(64, 48), (32, 24), (16, 12)]
    # a flat image has no detail: every band but the coarsest is zero
    flat = laplacian_pyramid(torch.full((1, 64, 48), 0.3), 3)
    assert all(float(b.abs().max()) < 1e-6 for b in flat[:-1])


def _texture(seed: int, n: int = 6) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 24, 32, generator=g)
    return list(torch.nn.functional.interpolate(base, size=(96, 128), mode="bilinear"))


def test_orderings_on_synthetic_images():
    reals = _texture(0)
    flat = [torch.full_like(r, float(r.mean())) for r in reals]
    g = torch.Generator().manual_seed(3)
    noisy = [[r + s * torch.randn(r.shape, generator=g) for r in reals] for s in (0.01, 0.05, 0.2)]
    assert sliced_wasserstein(reals, reals)["swd"] == 0.0
    swd = [sliced_wasserstein(n, reals)["swd"] for n in noisy]
    assert swd[0] < swd[1] < swd[2]
    other = sliced_wasserstein(_texture(1), reals)["swd"]  # other images of the same kind
    assert other < sliced_wasserstein(flat, reals)["swd"]
    r = realism(flat, reals)
    assert r["contrast"] == 0.0 and math.isnan(r["r"])


@needs_shared
def test_real_thermal_frames_flat_frames_and_shifted_frames():
    from PIL import Image
    files = sorted((SHARED / "thermal_roadscene" / "cropinfrared").glob("*.jpg"))
    load = lambda f: torch.from_numpy(np.asarray(Image.open(f).convert("L"), np.float32) / 255)[None]
    reals = [load(f) for f in files[:12]]
    others = [load(f) for f in files[100:112]]
    flat = sliced_wasserstein([torch.full_like(r, float(r.mean())) for r in reals], reals)["swd"]
    shifted = realism([torch.roll(r, (2, 2), (1, 2)) for r in reals], reals)
    other = sliced_wasserstein(others, reals)["swd"]
    # a shift by two pixels keeps the look; other real frames look alike; a flat frame does not
    assert shifted["swd"] < other < flat / 3
    assert shifted["contrast"] == pytest.approx(1.0, abs=0.02) and shifted["r"] > 0.8


def test_which_targets_are_judged_by_realism():
    from bandbridge.bands import judged_by_realism
    assert judged_by_realism(["red", "green", "blue"], ["gray"])          # thermal display brightness
    assert judged_by_realism(["VV", "VH"], ["B04", "B03", "B02"])        # optical from SAR
    assert not judged_by_realism(["red", "green", "blue"], ["nir"])      # a physical band: error
    assert not judged_by_realism(["B04", "B03", "B02"], ["VV"])          # SAR from optical: error
    assert not judged_by_realism([0, 0, 0], [0])                          # positions have no role


@needs_shared
def test_evaluate_prints_realism_beside_error_for_thermal():
    from bandbridge.evaluation.evaluate import FLAT, evaluate
    res = evaluate("rgb2thermal", data_root=str(SHARED), split="test", recipes=["roadscene"],
                   with_baselines=False)
    ms = res.summary["methods"]
    assert {"swd", "contrast", "pearson_r", "mae"} <= set(ms["model"])
    # a flat image has no contrast and looks less real than the floor the bundle ships
    assert ms[FLAT]["contrast"] == 0.0 and ms[FLAT]["swd"] > ms["model"]["swd"] > 0
    assert "| swd |" in res.table and "| contrast |" in res.table
    assert "image-like target" in res.summary["protocol"]["realism"]


def test_sorted_quantiles_sort_each_column():
    """Each column sorted (by rows of the transpose, for speed) and resampled to ``n`` quantiles."""
    from bandbridge.realism import _sorted_quantiles
    v = torch.tensor([[3.0, -1.0], [1.0, 5.0], [2.0, 0.0]], dtype=torch.float64)
    assert torch.equal(_sorted_quantiles(v, 3), torch.tensor([[1.0, -1.0], [2.0, 0.0], [3.0, 5.0]], dtype=torch.float64))
    assert torch.allclose(_sorted_quantiles(v, 5)[:, 0], torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0], dtype=torch.float64))
