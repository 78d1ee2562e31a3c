"""Sentinel-2's residual network (issue 96): its shapes, that untrained it returns the upsampled bands
exactly, its work a pixel by hand and by its weights, its reach, and that ``refine`` in tiles is the
whole image's output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bandbridge.models import build_network
from bandbridge.models.s2_residual import S2_COARSE, S2Residual, multiply_adds, reach, refine, stacked


def _trained_like(net: S2Residual, seed: int = 0) -> S2Residual:
    """``net`` with random weights everywhere, its tail too (as if trained: the correction is not zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return net.eval()


def test_shapes_and_the_untrained_network_returns_the_upsampled_bands():
    """Input (B, 20, H, W): 4 guides, 8 upsampled, 8 presence planes; output (B, 8, H, W) = the
    upsampled bands exactly while the tail is zero (as built, by name through the registry)."""
    net = build_network("s2-residual", 20, 8, {}).eval()
    assert isinstance(net, S2Residual)
    x = torch.rand(2, 20, 24, 20)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 8, 24, 20) and torch.equal(y, x[:, 4:12])
    with pytest.raises(ValueError, match="too few"):
        S2Residual(in_channels=10, out_channels=8)


def test_its_work_a_pixel_by_hand_and_by_its_weights():
    """9·24·(20 + 8 + 2·3·24) = 216·172 = 37,152 multiply-adds a pixel, under the budget of 40,000:
    each convolution's weights are the multiply-adds it does a pixel (stride 1, one grid)."""
    assert multiply_adds(20, 8, 24, 3) == 37_152 <= 40_000
    net = S2Residual()
    assert sum(m.weight.numel() for m in net.modules() if isinstance(m, torch.nn.Conv2d)) == 37_152


def test_an_output_pixel_sees_the_input_within_its_reach():
    """2 + 2·3 = 8 pixels: a crop's output equals the whole's 8 pixels in from the crop's edge, not at it."""
    net = _trained_like(S2Residual())
    assert reach(net) == 8
    x = torch.rand(1, 20, 48, 48)
    with torch.no_grad():
        whole, crop = net(x), net(x[..., 8:40, 8:40])
    assert torch.allclose(whole[..., 16:32, 16:32], crop[..., 8:24, 8:24], atol=1e-6)
    assert not torch.allclose(whole[..., 8:40, 8:40], crop, atol=1e-6)


def test_the_input_stack_places_each_band_and_its_presence():
    """B11 and B05 given (in that order): their planes at their places in S2_COARSE's order, presence 1
    there and 0 elsewhere, NaN as 0; a band twice or one the network does not make is refused."""
    guides, up = np.ones((4, 3, 3), np.float32), np.stack([np.full((3, 3), 0.2), np.full((3, 3), np.nan)])
    x = stacked(guides, up.astype(np.float32), ["B11", "B05"])
    i11, i05 = S2_COARSE.index("B11"), S2_COARSE.index("B05")
    assert np.all(x[4 + i11] == np.float32(0.2)) and np.all(x[4 + i05] == 0)
    assert [float(x[12 + i, 0, 0]) for i in range(8)] == [1.0 if i in (i11, i05) else 0.0 for i in range(8)]
    for bad in (["B11", "B11"], ["B11", "B10"]):
        with pytest.raises(ValueError, match="distinct bands"):
            stacked(guides, up.astype(np.float32), bad)


def test_refine_in_tiles_equals_the_whole_image():
    """A 70 × 57 image in tiles of 32 overlapping by 8 (the reach): within 1e-5 of one pass over the whole,
    each band's output the network's for that band; an overlap under the reach is refused."""
    net = _trained_like(S2Residual())
    rng = np.random.default_rng(1)
    guides, up = rng.random((4, 70, 57), np.float32) * 0.3, rng.random((3, 70, 57), np.float32) * 0.3
    names = ["B12", "B06", "B01"]
    tiled = refine(net, guides, up, names, tile=32, overlap=8)
    with torch.no_grad():
        whole = net(torch.from_numpy(stacked(guides, up, names))[None])[0].numpy()
    assert tiled.shape == (3, 70, 57)
    np.testing.assert_allclose(tiled, whole[[S2_COARSE.index(b) for b in names]], atol=1e-5, rtol=0)
    np.testing.assert_allclose(refine(net, guides, up, names), tiled, atol=1e-5, rtol=0)  # one tile: the whole
    with pytest.raises(ValueError, match="reach"):
        refine(net, guides, up, names, tile=32, overlap=4)
