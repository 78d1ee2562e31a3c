"""Metrics against values computed by hand on small arrays (masked pixels included)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from bandbridge.bands import evi, ndvi, ndwi
from bandbridge.metrics import image_metrics, index_metrics, masked_ssim, rgb_to_y, sr_metrics

PRED = torch.tensor([[[0.2, 0.4], [0.6, 0.9]]])
TRUE = torch.tensor([[[0.1, 0.4], [0.9, 0.0]]])
MASK = torch.tensor([[True, True], [True, False]])  # the last pixel (error 0.9) is nodata


def test_pixel_metrics_by_hand_with_a_masked_pixel():
    m = image_metrics(PRED * 100, TRUE * 100, MASK, data_range=100.0)  # physical units ×100
    err = np.array([10.0, 0.0, -30.0])  # valid pixels only
    assert m["mae"] == pytest.approx(np.abs(err).mean())
    rmse = math.sqrt((err**2).mean())
    assert m["rmse"] == pytest.approx(rmse, rel=1e-6)
    assert m["psnr"] == pytest.approx(10 * math.log10(100**2 / rmse**2), rel=1e-6)
    t = np.array([10.0, 40.0, 90.0])
    assert m["r2"] == pytest.approx(1 - (err**2).sum() / ((t - t.mean()) ** 2).sum(), rel=1e-6)
    p = np.array([20.0, 40.0, 60.0])
    r = ((p - p.mean()) * (t - t.mean())).sum() / np.sqrt(((p - p.mean())**2).sum() * ((t - t.mean())**2).sum())
    assert m["pearson_r"] == pytest.approx(r, rel=1e-6)
    assert math.isnan(image_metrics(torch.full((1, 2, 2), 0.5), TRUE, MASK, 1.0)["pearson_r"])


def test_sam_by_hand():
    pred = torch.zeros(2, 1, 2)
    true = torch.zeros(2, 1, 2)
    pred[:, 0, 0] = torch.tensor([1.0, 0.0])
    true[:, 0, 0] = torch.tensor([1.0, 1.0])  # 45°
    pred[:, 0, 1] = torch.tensor([0.0, 2.0])
    true[:, 0, 1] = torch.tensor([0.0, 1.0])  # 0° (same direction)
    m = image_metrics(pred, true, torch.ones(1, 2, dtype=torch.bool), 1.0)
    assert m["sam_deg"] == pytest.approx(22.5, abs=1e-3)
    m = image_metrics(pred, true, torch.tensor([[True, False]]), 1.0)
    assert m["sam_deg"] == pytest.approx(45.0, abs=1e-3)  # the masked pixel does not count


def test_ssim_identity_and_mask():
    a = torch.rand(1, 32, 32)
    assert float(masked_ssim(a, a, torch.ones(32, 32, dtype=torch.bool))) == pytest.approx(1.0, abs=1e-5)
    b = a.clone()
    b[:, :8] = 1 - b[:, :8]  # damage the top rows only ...
    mask = torch.ones(32, 32, dtype=torch.bool)
    mask[:8] = False  # ... and mask them: SSIM near the valid area stays high
    assert float(masked_ssim(b, a, mask)) > float(masked_ssim(b, a, torch.ones_like(mask))) + 0.2


def test_index_metrics_by_hand():
    red, green, blue = torch.full((2, 2), 0.1), torch.full((2, 2), 0.2), torch.full((2, 2), 0.05)
    x = torch.stack([red, green, blue])
    nir_true = torch.tensor([[0.5, 0.3], [0.4, 0.2]])
    nir_pred = torch.tensor([[0.4, 0.3], [0.4, 0.9]])
    mask = torch.tensor([[True, True], [True, False]])
    m = index_metrics(x, ["B04", "B03", "B02"], nir_true, nir_pred, mask)
    nd_t = (nir_true - 0.1) / (nir_true + 0.1)
    nd_p = (nir_pred - 0.1) / (nir_pred + 0.1)
    d = (nd_p - nd_t)[mask]
    assert m["ndvi_mae"] == pytest.approx(float(d.abs().mean()), rel=1e-5)
    assert m["ndvi_rmse"] == pytest.approx(float(d.pow(2).mean().sqrt()), rel=1e-5)
    assert m["ndvi_r"] == pytest.approx(float(np.corrcoef(nd_p[mask], nd_t[mask])[0, 1]), rel=1e-5)
    e_t = 2.5 * (0.5 - 0.1) / (0.5 + 0.6 - 0.375 + 1)
    assert float(evi(blue, red, nir_true)[0, 0]) == pytest.approx(e_t, rel=1e-4)
    assert float(ndwi(green, nir_true)[0, 0]) == pytest.approx((0.2 - 0.5) / 0.7, rel=1e-4)
    assert {"ndwi_mae", "evi_mae"} <= set(m)
    assert float(ndvi(torch.tensor(0.0), torch.tensor(0.0))) == 0.0  # safe denominator


def test_y_channel_protocol_on_a_known_pair():
    white, black = torch.ones(3, 1, 1), torch.zeros(3, 1, 1)
    assert float(rgb_to_y(white)) == pytest.approx(235.0, abs=1e-3)
    assert float(rgb_to_y(black)) == pytest.approx(16.0)
    hr = torch.full((3, 12, 12), 100 / 255)
    sr = hr.clone()
    sr[:, 0, :] = 0.0  # an error confined to the border ...
    sr[:, 5, 5] = 125.3 / 255  # ... and one inside: +25 DN on R, G and B once rounded to 8 bits
    m = sr_metrics(sr, hr, scale=2)  # 2-px border cropped: 8×8 = 64 pixels remain
    d = 25 / 255
    dy = d * (65.481 + 128.553 + 24.966)
    assert m["psnr_y"] == pytest.approx(10 * math.log10(255**2 / (dy**2 / 64)), rel=1e-5)
    assert m["psnr_rgb"] == pytest.approx(10 * math.log10(1 / (d**2 / 64)), rel=1e-5)


def test_frechet_distance_matches_closed_form_on_gaussians():
    from bandbridge.evaluation.fid import fid_kid

    class Flatten(nn.Module):  # "features" = the mean of each of 3 channels → 3-D Gaussians
        num_features = 3

        def forward(self, x):
            x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
            return x.mean((2, 3)).double()

    g = torch.Generator().manual_seed(0)
    n = 4000
    mu1, sd1 = torch.tensor([0.3, 0.5, 0.4]), torch.tensor([0.05, 0.08, 0.03])
    mu2, sd2 = torch.tensor([0.35, 0.45, 0.4]), torch.tensor([0.02, 0.08, 0.06])
    real = [(mu1 + sd1 * torch.randn(3, generator=g))[:, None, None].expand(3, 2, 2) for _ in range(n)]
    fake = [(mu2 + sd2 * torch.randn(3, generator=g))[:, None, None].expand(3, 2, 2) for _ in range(n)]
    got = fid_kid(real, fake, weights="unused", feature=Flatten())
    # Diagonal covariances: d² = ‖μ1 − μ2‖² + Σ (σ1 − σ2)²
    closed = float(((mu1 - mu2) ** 2).sum() + ((sd1 - sd2) ** 2).sum())
    assert got["fid"] == pytest.approx(closed, rel=0.06)
    assert got["kid"] > 0


def test_fid_needs_a_local_weights_file(tmp_path):
    from bandbridge.errors import BandbridgeError
    from bandbridge.fid_inception import FIDInceptionV3, load_fid_inception
    with pytest.raises(BandbridgeError, match="--fid-weights"):
        load_fid_inception(None)
    with pytest.raises(BandbridgeError, match="not found"):
        load_fid_inception(tmp_path / "missing.pth")
    # A state dict in pytorch-fid's key layout loads (here random, saved from the module itself).
    p = tmp_path / "pt_inception.pth"
    torch.save(FIDInceptionV3().state_dict(), p)
    net = load_fid_inception(p)
    assert net(torch.rand(1, 3, 64, 64)).shape == (1, 2048)
