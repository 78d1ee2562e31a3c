"""The Sentinel-2 band prior (issue 84): its loss on hand-computed values, its network's reach (what a
tile's overlap must cover), and a short training saved as a bundle that loads without unpickling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bandbridge.models.band_prior import BandPrior
from bandbridge.training.band_prior import detail, prior_loss


def test_the_loss_by_hand():
    """p = 0. y = [[1, 2], [3, NaN]]: three known pixels, mean |error| 2, and no cell of four known
    pixels, so no detail term. y = [[1, 2], [3, 6]]: level 3; its detail about the cell mean 3 is
    [[−2, −1], [0, 3]], mean |·| 1.5; with λ = 2 the loss is 3 + 2 · 1.5 = 6."""
    p = torch.zeros(1, 1, 2, 2)
    assert prior_loss(p, torch.tensor([[[[1.0, 2.0], [3.0, math.nan]]]]), 2.0).item() == pytest.approx(2.0)
    y = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])
    assert torch.equal(detail(y), torch.tensor([[[[-2.0, -1.0], [0.0, 3.0]]]]))
    assert prior_loss(p, y, 2.0).item() == pytest.approx(6.0) and prior_loss(p, y, 0.0).item() == pytest.approx(3.0)


def test_the_network_starts_linear_and_reaches_ten_pixels():
    """With its last convolution at zero the prior is its 1×1 map; trained or not, an output pixel
    depends on the input within 2 + 2 · n_blocks = 10 pixels, so a crop's output equals the whole's
    there (the bundle's tile overlap, 16, covers it)."""
    torch.manual_seed(0)
    net = BandPrior(4, 8, nf=8, n_blocks=4).eval()
    x = torch.rand(1, 4, 48, 48)
    with torch.no_grad():
        whole, crop = net(x), net(x[..., 8:40, 8:40])
        assert torch.allclose(whole[..., 18:30, 18:30], crop[..., 10:22, 10:22], atol=1e-6)
        assert not torch.allclose(whole[..., 8:40, 8:40], crop, atol=1e-6)  # the crop's edge is not the whole's
        net.tail.weight.zero_(), net.tail.bias.zero_()
        assert torch.allclose(net(x), net.skip(x), atol=1e-7)


def test_its_work_a_pixel_by_hand_and_by_its_weights():
    """4·8 + 9·32·(4 + 8 + 2·4·32) = 32 + 288·268 = 77,216 multiply-adds a pixel: each convolution's
    weights are the multiply-adds it does a pixel (stride 1, one grid), so the count is theirs."""
    from bandbridge.models.band_prior import multiply_adds
    assert multiply_adds(4, 8, 32, 4) == 77_216
    net = BandPrior(4, 8, nf=32, n_blocks=4)
    assert sum(m.weight.numel() for m in net.modules() if isinstance(m, torch.nn.Conv2d)) == 77_216


def test_a_short_training_saved_as_a_bundle(tmp_path):
    """Two steps on a pair of random fields: the bundle reads back as the four 10 m bands in
    reflectance to the eight coarse bands, and the engine's module gives the network's output."""
    from bandbridge.bundle import load_model
    from bandbridge.workflows.s2_prior import OUTPUTS, PriorConfig, save_prior, train_prior
    rng = np.random.default_rng(0)
    y = rng.random((8, 24, 24)).astype(np.float32)
    y[:2] = np.nan  # a source that lacks two bands
    cfg = PriorConfig(nf=8, n_blocks=1, steps=2, batch=2, crop=16)
    net = train_prior([(rng.random((4, 24, 24)).astype(np.float32), y)], cfg)
    spec = save_prior(net, tmp_path / "prior", cfg, ["a"])
    assert spec.input_names == ["B02", "B03", "B04", "B08"] and spec.target_names == OUTPUTS
    x = torch.rand(1, 4, 20, 20)
    with torch.no_grad():
        assert torch.allclose(load_model(tmp_path / "prior").generator(x), net(x), atol=1e-6)
