"""``metrics.removal_metrics``: cloud removal's four figures (MAE, PSNR, SSIM, SAM) on reflectance
clipped to [0, 1], data range 1, against values worked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from bandbridge.metrics import removal_metrics


def _images() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """12×12, two bands: the target (0.2, 0.4) everywhere; the prediction (0.4, 0.2) on the top
    six rows (the "cloud"), the target elsewhere."""
    target = torch.empty(2, 12, 12)
    target[0], target[1] = 0.2, 0.4
    pred = target.clone()
    pred[0, :6], pred[1, :6] = 0.4, 0.2
    cloud = torch.zeros(12, 12, dtype=torch.bool)
    cloud[:6] = True
    return pred, target, cloud


def test_the_cloud_area_by_hand():
    pred, target, cloud = _images()
    got = removal_metrics(pred, target, cloud)
    # |0.4 − 0.2| = 0.2 in each band; MSE 0.04: PSNR 10·log10(1/0.04) = 13.979 dB
    assert got["mae"] == pytest.approx(0.2)
    assert got["psnr"] == pytest.approx(10 * math.log10(1 / 0.04), abs=1e-4)
    # the angle between (0.2, 0.4) and (0.4, 0.2): cos = 0.16 / 0.2 = 0.8, 36.87°
    assert got["sam_deg"] == pytest.approx(math.degrees(math.acos(0.8)), abs=1e-3)


def test_the_whole_image_by_hand():
    pred, target, cloud = _images()
    got = removal_metrics(pred, target, torch.ones(12, 12, dtype=torch.bool))
    # half the pixels wrong by 0.2: MAE 0.1, MSE 0.02 (16.99 dB), SAM half of 36.87°
    assert got["mae"] == pytest.approx(0.1)
    assert got["psnr"] == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-4)
    assert got["sam_deg"] == pytest.approx(math.degrees(math.acos(0.8)) / 2, abs=1e-3)


def test_ssim_of_constant_images_by_hand():
    # constant images: no variance, so SSIM is its luminance term (2·μx·μy + C1) / (μx² + μy² + C1),
    # C1 = (0.01 · data range 1)²: (0.16 + 1e-4) / (0.2 + 1e-4) = 0.80010 in either band
    pred, target, _ = _images()
    pred[0], pred[1] = 0.4, 0.2
    everywhere = torch.ones(12, 12, dtype=torch.bool)
    assert removal_metrics(pred, target, everywhere)["ssim"] == pytest.approx(0.1601 / 0.2001, abs=1e-5)
    assert removal_metrics(target, target, everywhere)["ssim"] == pytest.approx(1.0, abs=1e-6)


def test_reflectance_is_clipped_to_the_unit_range_and_nan_outside_the_mask_is_ignored():
    # 1.5 against 1.0 is no error once both are clipped (as the field clips DN to 10000);
    # −0.1 against 0 neither; NaN outside the mask enters no figure
    target = torch.full((2, 12, 12), 0.5)
    target[:, :6] = 1.0
    target[:, 6:9] = 0.0
    pred = target.clone()
    pred[:, :6] = 1.5
    pred[:, 6:9] = -0.1
    pred[:, 11] = float("nan")
    inside = torch.ones(12, 12, dtype=torch.bool)
    inside[11] = False
    got = removal_metrics(pred, target, inside)
    assert got["mae"] == 0 and got["psnr"] > 100 and got["ssim"] == pytest.approx(1.0, abs=1e-6)


def test_one_band_has_no_spectral_angle_and_a_small_image_no_ssim():
    got = removal_metrics(torch.zeros(1, 8, 8), torch.full((1, 8, 8), 0.1), torch.ones(8, 8, dtype=torch.bool))
    assert "sam_deg" not in got and math.isnan(got["ssim"]) and got["mae"] == pytest.approx(0.1)
