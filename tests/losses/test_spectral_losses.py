"""Spectral losses: the histogram EMD is the 1-D Wasserstein distance; index losses by hand."""

import pytest
import torch

from bandbridge.losses import histogram_emd, index_l1
from conftest import SAMPLE, TINY


def test_emd_equals_wasserstein_of_shifted_distributions():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 64, 64, generator=g) * 0.4 + 0.1  # U[0.1, 0.5]
    b = a + 0.3  # the same shape shifted: W₁ = 0.3
    assert float(histogram_emd(b, a)) == pytest.approx(0.3, abs=0.01)
    # Point masses at 0.25 and 0.75: W₁ = 0.5
    assert float(histogram_emd(torch.full((1, 1, 8, 8), 0.75), torch.full((1, 1, 8, 8), 0.25))) == \
        pytest.approx(0.5, abs=0.01)
    # Half the mass moved by 0.4: W₁ = 0.2
    c = torch.full((1, 1, 8, 8), 0.3)
    d = c.clone()
    d[..., :4, :] = 0.7
    assert float(histogram_emd(d, c)) == pytest.approx(0.2, abs=0.01)
    assert float(histogram_emd(a, a)) == pytest.approx(0.0, abs=1e-6)


def test_emd_ignores_masked_pixels_and_has_gradients():
    t = torch.full((1, 1, 8, 8), 0.5)
    p = t.clone()
    p[..., 0, :] = 1.0  # wrong only on a masked row
    m = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    m[..., 0, :] = False
    assert float(histogram_emd(p, t, m)) == pytest.approx(0.0, abs=1e-6)
    q = torch.full((1, 1, 8, 8), 0.4, requires_grad=True)
    histogram_emd(q, t).backward()
    assert float(q.grad.abs().sum()) > 0


def test_index_l1_zero_for_identical_and_by_hand():
    x = torch.stack([torch.full((2, 2), v) for v in (0.1, 0.2, 0.05)])[None]  # red, green, blue
    pos = {"red": 0, "green": 1, "blue": 2}
    nir = torch.full((1, 1, 2, 2), 0.5)
    assert float(index_l1(x, pos, nir, nir)) == 0.0
    pred = torch.full((1, 1, 2, 2), 0.3)
    ndvi = abs((0.3 - 0.1) / 0.4 - (0.5 - 0.1) / 0.6)
    assert float(index_l1(x, pos, pred, nir, indices=("ndvi",))) == pytest.approx(ndvi, rel=1e-4)
    ndwi = abs((0.2 - 0.3) / 0.5 - (0.2 - 0.5) / 0.7)
    assert float(index_l1(x, pos, pred, nir, indices=("ndwi",))) == pytest.approx(ndwi, rel=1e-4)


def test_training_with_spectral_losses(run_cli, tmp_path):
    sets = [*TINY, "train.max_epochs=1", "loss.lambda_emd=1", "loss.lambda_index=1",
            "loss.adversarial=lsgan"]
    code, _, err = run_cli("train", "-p", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs",
                           str(tmp_path), *sum((["--set", s] for s in sets), []))
    assert code == 0, err
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run = next(tmp_path.glob("*/*"))
    tags = set(EventAccumulator(str(run / "tensorboard")).Reload().Tags()["scalars"])
    assert {"train/emd", "train/index_l1"} <= tags


def test_index_loss_needs_nir_target_and_visible_roles():
    from bandbridge.config import load_config
    from bandbridge.errors import BandbridgeError
    from bandbridge.training.paired import index_band_positions
    with pytest.raises(BandbridgeError, match="needs a single NIR target band"):
        index_band_positions(load_config("sr-x4-cpu", overrides=["loss.lambda_index=1"]))
    cfg = load_config("rgb2nir-wgangp-cpu", overrides=["data.sources.0.input.bands=[0,1,2]",
                                                      "loss.lambda_index=1"])
    with pytest.raises(BandbridgeError, match=r"have no \['blue', 'green', 'red'\] band"):
        index_band_positions(cfg)
    ok = load_config("rgb2nir-wgangp-cpu", overrides=["loss.lambda_index=1"])
    assert index_band_positions(ok) == {"red": 0, "green": 1, "blue": 2}
