"""ERGAS, SAM and the per-band errors of a sharpened image, on values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from bandbridge.metrics import sharpen_metrics

PRED = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]])
TRUTH = torch.tensor([[[1.0, 2.0], [3.0, 6.0]], [[1.0, 1.0], [1.0, 2.0]]])


def test_per_band_errors_ergas_and_sam_by_hand():
    m = sharpen_metrics(PRED, TRUTH, torch.ones(2, 2, dtype=torch.bool), ratio=2)
    assert m["rmse"] == pytest.approx([1.0, 0.5])  # sqrt(4/4), sqrt(1/4)
    assert m["mae"] == pytest.approx([0.5, 0.25])
    # truth means 3 and 1.25: 100 · 1/2 · sqrt(((1/3)² + (0.5/1.25)²) / 2)
    assert m["ergas"] == pytest.approx(50 * math.sqrt(((1 / 3) ** 2 + 0.4**2) / 2))
    # one pixel off: (4, 1) against (6, 2), the other three at angle 0
    angle = math.degrees(math.acos(26 / math.sqrt(17 * 40)))
    assert m["sam_deg"] == pytest.approx(angle / 4, rel=1e-4)


def test_masked_pixels_enter_no_figure():
    mask = torch.tensor([[True, True], [True, False]])
    m = sharpen_metrics(PRED, TRUTH, mask, ratio=4)
    assert m["rmse"] == [0.0, 0.0] and m["ergas"] == 0.0 and m["sam_deg"] == pytest.approx(0.0, abs=1e-3)


def test_one_band_has_no_spectral_angle_and_ergas_scales_with_the_ratio():
    one = sharpen_metrics(PRED[:1], TRUTH[:1], torch.ones(2, 2, dtype=torch.bool), ratio=3)
    assert "sam_deg" not in one and one["ergas"] == pytest.approx(100 / 3 * (1 / 3))
