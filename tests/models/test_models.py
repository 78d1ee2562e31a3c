import pytest
import torch

from bandbridge.generators import build_generator
from bandbridge.models import CRITICS, GENERATORS, build_critic, count_parameters


@pytest.mark.parametrize("name,args,params", [
    ("unet", {}, 54_409_857),  # pix2pix unet_256 (3→1): 54.4 M
    ("resnet", {}, 11_382_401),  # pix2pix resnet_9blocks (3→1): 11.4 M
    ("unet", {"ngf": 16, "depth": 7}, None),
    ("resnet", {"ngf": 16, "n_blocks": 6}, None),
])
def test_generator_shapes_and_parameters(name, args, params):
    g = build_generator(name, 3, 1, args).eval()
    if params is not None:
        assert count_parameters(g) == params
    for h, w in [(128, 128), (100, 77)]:  # odd sizes are padded and cropped back
        y = g(torch.rand(1, 3, h, w))
        assert y.shape == (1, 1, h, w)
        assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sr_generator_upsamples(scale):
    g = build_generator("sr", 3, 3, {"nf": 16, "n_blocks": 2}, scale=scale).eval()
    y = g(torch.rand(2, 3, 24, 20))
    assert y.shape == (2, 3, 24 * scale, 20 * scale)
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0


@pytest.mark.parametrize("norm", ["none", "instance", "batch", "spectral"])
def test_patchgan_is_70px_and_conditional(norm):
    d = build_critic("patchgan", 4, {"norm": norm})
    assert count_parameters(d) == (2_766_657 if norm == "batch" else count_parameters(d))
    s = d(torch.rand(2, 3, 256, 256), torch.rand(2, 1, 256, 256))
    assert s.shape == (2, 1, 30, 30)  # 70×70 receptive field, stride 8


def test_patchgan_receptive_field_is_70px():
    # Without normalisation (instance norm mixes the whole image), one changed pixel reaches
    # exactly the scores whose 70×70 windows cover it: ceil(70 / 8) = 9 per axis.
    d = build_critic("patchgan", 4, {"norm": "none"}).eval()
    x, y = torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256)
    y2 = y.clone()
    y2[..., 100, 100] = 1.0
    hit = ((d(x, y2) - d(x, y)).abs()[0, 0] > 0).nonzero()
    assert int(hit[:, 0].max() - hit[:, 0].min()) + 1 == 9
    assert int(hit[:, 1].max() - hit[:, 1].min()) + 1 == 9


def test_dicts_name_every_model():
    from bandbridge.generators import LEARNERS
    # "reference": the upsampled reference as a weightless residual (a reference fit's bundle)
    # "fill-base": the per-band map of a fill's base as the residual (a fill's bundle)
    # "band-prior": a band's prior from the guides alone (the bundled s2-prior, a guide of sharpen -m)
    # "s2-residual": Sentinel-2's residual network (the bundled networks/s2-residual, sharpen --network)
    # "s2-residual-mapped": that network on a run's own channels (sharpen's per-run bundle of it)
    assert set(GENERATORS) == {"unet", "resnet", "sr", "rlfn", "reference", "fill-base", "band-prior", "s2-residual",
                               "s2-residual-mapped"}
    assert set(CRITICS) == {"patchgan"}
    assert LEARNERS == ("learner", "blend")  # built by generators.py from the learner registry


def test_the_reference_band_is_the_last_band_less_a_half():
    """``Anchored(learner, ReferenceBand)``: a constant learner of ½ gives the reference band itself."""
    import torch

    from bandbridge.learners.constant import Constant
    from bandbridge.models.anchored import Anchored
    from bandbridge.models.reference_band import ReferenceBand
    import numpy as np
    half = Constant().fit(np.zeros((1, 1), np.float32), np.full((1, 1), 0.5, np.float32), 4)
    m = Anchored(half.module(4, 1), ReferenceBand(4, 1), None, True, 4).eval()
    x = torch.rand(2, 4, 8, 8)
    assert torch.allclose(m(x), x[:, -1:], atol=1e-6)
    assert sum(p.numel() for p in ReferenceBand(4).parameters()) == 0
    with pytest.raises(ValueError, match="one band"):
        ReferenceBand(4, 2)
