"""Baseline-anchored generators and per-image radiometry: the untrained model is the linear
baseline, statistics are per image, augmentation moves the statistics with the image."""

import numpy as np
import pytest
import torch

from bandbridge.config import AugmentConfig, load_config
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.data.reader import read_decimated, read_raster
from bandbridge.bands import get_scaling
from bandbridge.learners.baselines import LinearBaseline, init_anchor, sample_pixels
from bandbridge.errors import BandbridgeError
from bandbridge.generators import build_generator
from bandbridge.models.anchor import InputNorm, normalize_bands
from bandbridge.radiometry import augment_radiometry, image_stats
from conftest import SAMPLE, SHARED, needs_shared

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def _sample_pairs():
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE))
    dm = PairedDataModule(cfg)
    return dm.load_split("train"), dm.load_split("test")


def _context(pair) -> torch.Tensor:
    return torch.tensor([[float("nan")] * 3 + [-1.0] + pair.stats.tolist()])


@pytest.mark.parametrize("name,args", [
    ("unet", {"ngf": 8, "depth": 5, "norm": "batch", "input_norm": "robust"}),
    ("resnet", {"ngf": 8, "n_blocks": 2, "norm": "instance", "input_norm": "dark_object"}),
    ("unet", {"ngf": 8, "depth": 4, "norm": "none"})])
def test_untrained_anchored_generator_is_the_linear_baseline(name, args):
    train, test = _sample_pairs()
    g = build_generator(name, 3, 1, {**args, "anchor": True})
    init_anchor(g, train)
    linear = LinearBaseline().fit(*sample_pixels(train))  # as `fit_baselines` fits "linear"
    g.eval()
    for p in test:  # a date the fit never saw, whole image
        with torch.no_grad():
            out = g(p.x[None], _context(p))[0]
        assert out.shape == p.y.shape
        assert float((out - linear(p.x)).abs().max()) < 1e-5


def test_residual_learns_from_zero():
    train, _ = _sample_pairs()
    g = build_generator("unet", 3, 1, {"ngf": 8, "depth": 4, "norm": "none", "anchor": True,
                                         "input_norm": "robust"})
    init_anchor(g, train)
    p = train[0]
    x, y = p.x[None, :, :64, :64], p.y[None, :, :64, :64]
    ctx = _context(p)
    before = g.eval()(x, ctx).detach()
    w0 = g.learner.head.weight.clone()
    g.train()
    opt = torch.optim.Adam(g.parameters(), 1e-3)
    for _ in range(5):
        loss = (g(x, ctx) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = g.eval()(x, ctx).detach()
    assert float((after - before).abs().max()) > 1e-4  # the zero-initialised residual moved
    assert float((after - y).abs().mean()) < float((before - y).abs().mean())
    assert torch.equal(g.learner.head.weight, w0)  # the closed-form fit stays fixed


def test_generators_refuse_unknown_input_norm():
    with pytest.raises(BandbridgeError, match="input_norm"):
        build_generator("unet", 3, 1, {"input_norm": "zscore"})


def test_image_stats_are_percentiles_of_valid_pixels():
    data = np.stack([np.arange(100, dtype=np.float32).reshape(10, 10),
                     np.full((10, 10), 0.5, np.float32)])
    mask = np.ones((10, 10), bool)
    mask[0] = False  # values 0..9 excluded
    s = image_stats(data, mask)
    # percentiles of 10..99 (linear interpolation): 1st = 10 + 0.01·89, 99th = 10 + 0.99·89
    assert np.allclose(s, [10.89, 0.5, 98.11, 0.5], atol=1e-4)
    assert np.allclose(image_stats(data, np.zeros((10, 10), bool)), [0, 0, 1, 1])
    big = np.random.default_rng(0).random((1, 3000, 10), dtype=np.float32)
    s = image_stats(big, np.ones((3000, 10), bool))  # decimated: every 3rd row and column
    assert np.allclose(s, np.percentile(big[:, ::3, ::3], (1, 99), axis=(1, 2)).ravel(), atol=1e-6)


def test_decimated_read_gives_the_statistics_of_the_whole_image():
    s = get_scaling("uint8")
    whole = read_raster(NAIP, s, ["red", "green", "blue"], sensor="naip")
    view = read_decimated(NAIP, s, ["red", "green", "blue"], max_side=256, sensor="naip")
    assert max(view.data.shape[1:]) <= 256
    a, b = image_stats(whole.data, whole.mask), image_stats(view.data, view.mask)
    assert np.abs(a - b).max() < 0.02  # a decimated look is enough for percentiles


def test_input_norm_uses_the_context_statistics_not_the_tile():
    x = torch.rand(2, 3, 16, 16)
    stats = torch.tensor([[0.1, 0.2, 0.3, 0.6, 0.7, 0.8]] * 2)
    ctx = torch.cat([torch.full((2, 3), float("nan")), -torch.ones(2, 1), stats], 1)
    for mode, extra in (("dark_object", 3), ("robust", 6)):
        n = InputNorm(3, mode)
        xn, maps = n(x, ctx)
        assert torch.allclose(xn, normalize_bands(x, stats[:, :3], stats[:, 3:], mode))
        assert maps.shape == (2, extra, 16, 16) and torch.allclose(maps[:, 0], torch.full((2, 16, 16), 0.1))
    assert torch.allclose(normalize_bands(x, stats[:, :3], stats[:, 3:], "robust")[0, 0],
                          (x[0, 0] - 0.1) / 0.5)


def test_augmentation_moves_the_statistics_with_the_image():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 64, 64) * 0.4
    y = torch.rand(1, 64, 64) * 0.5
    m = torch.ones(1, 64, 64, dtype=torch.bool)
    stats = torch.from_numpy(image_stats(x.numpy(), m[0].numpy()))
    aug = AugmentConfig(gain=0.1, haze=(0.02, 0.05), gamma=0.2)
    xa, ya, sa = augment_radiometry(x, y, m, stats, ["B04", "B03", "B02"], ["B08"], aug, g)
    assert torch.allclose(sa, torch.from_numpy(image_stats(xa.numpy(), m[0].numpy())), atol=1e-5)
    # haze alone: blue shifted most, NIR least, target shifted too
    aug = AugmentConfig(haze=(0.04, 0.0401))
    xa, ya, _ = augment_radiometry(x, y, m, stats, ["red", "green", "blue"], ["nir"], aug, g)
    shift = (xa - x).mean((1, 2))
    assert shift[2] > shift[1] > shift[0] > float((ya - y).mean()) > 0
    assert abs(float(shift[2]) - 0.04) < 1e-3
    aug = AugmentConfig(quantize=1.0, noise=0.01)
    xa, _, sa = augment_radiometry(x, y, m, stats, ["red", "green", "blue"], ["nir"], aug, g)
    assert torch.allclose(xa * 255, (xa * 255).round(), atol=1e-3)


def test_exposure_darkens_the_input_alone_with_one_factor_for_all_bands():
    g = torch.Generator().manual_seed(5)
    x, y = torch.rand(3, 32, 32) * 0.8 + 0.1, torch.rand(1, 32, 32)
    m = torch.ones(1, 32, 32, dtype=torch.bool)
    stats = torch.from_numpy(image_stats(x.numpy(), m[0].numpy()))
    aug = AugmentConfig(exposure=(0.1, 0.2))  # night: a tenth to a fifth of the light
    assert aug.active and not AugmentConfig().active
    xa, ya, sa = augment_radiometry(x, y, m, stats, ["gray", "gray", "gray"], ["thermal"], aug, g)
    ratio = xa / x
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), atol=1e-5)  # one factor
    assert 0.1 - 1e-6 <= float(ratio.flatten()[0]) <= 0.2 + 1e-6
    assert torch.equal(ya, y)  # thermal does not depend on the light
    assert torch.allclose(sa, stats * ratio.flatten()[0], atol=1e-6)
    bright = augment_radiometry(x, y, m, stats, ["r", "g", "b"], ["t"], AugmentConfig(exposure=(4, 5)), g)[0]
    assert float(bright.max()) == 1.0  # over-exposure clips, as a camera does


def test_crops_carry_image_statistics_and_augmentation_in_training_batches():
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE),
                      overrides=["data.batch_size=2", "data.augment.haze=[0.0,0.05]"])
    dm = PairedDataModule(cfg)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["stats"].shape == (2, 6)
    from bandbridge.data.datasets import batch_context
    ctx = batch_context(batch, [])
    assert ctx.shape == (2, 10) and torch.equal(ctx[:, 4:], batch["stats"])


@needs_shared
def test_sensor_band_folders_read_by_role():
    s = get_scaling("landsat_l1_toa")
    r = read_raster(SHARED / "multisensor_riotilerpds" / "landsat8_l1tp_016037_20170813", s,
                    ["red", "green", "blue", "nir"], sensor="landsat8")
    assert r.bands == ["RED", "GREEN", "BLUE", "NIR"] and r.crs is not None
    v = r.data[:, r.mask]
    assert 0.0 < v.mean() < 0.5 and (v <= 1).all()
    m = read_raster(SHARED / "multisensor_riotilerpds" / "modis_mcd43a4_h21v11_2017006",
                    get_scaling("reflectance_10000"), ["nir"], sensor="modis")
    assert 0.05 < m.mask.mean() < 0.5  # 32767 fill is masked
    sr = read_raster(SHARED / "multisensor_riotilerpds" / "landsat8_c2l2_001062_20201031",
                     get_scaling("landsat_c2"), ["red", "nir"], sensor="landsat8")
    # QA_PIXEL by bands.clear, the one Landsat rule: 99.9 % cloud, and the 62 pixels its "clear" bit 6
    # keeps carry the cloud-shadow bit (23888 = bits 4 and 6): none stays valid (bit 6 alone kept them)
    assert sr.mask.sum() == 0
    c = read_raster(SHARED / "multisensor_riotilerpds" / "CBERS_4A_MUX_20200808_201_137_L4",
                    get_scaling("uint8"), ["nir", "red"], sensor="cbers_mux")
    assert c.bands == ["NIR", "RED"] and 0.5 < c.mask.mean() < 0.8  # BAND8, BAND7; 0 = nodata


def _guarded_unet(guard: dict):
    torch.manual_seed(0)
    g = build_generator("unet", 3, 1, {"ngf": 8, "depth": 4, "norm": "none", "dropout": False,
                                       "anchor": True, "input_norm": "robust", "guard": guard})
    for p in g.network.residual_tail().parameters():  # a residual that is not zero
        torch.nn.init.normal_(p, std=0.05)
    g.learner.head.weight.data.fill_(1 / 3)  # the anchor: the bands' mean, inside (0, 1)
    g.learner.head.bias.data.zero_()
    return g.eval()


def test_guard_fades_the_residual_outside_the_training_range_and_agrees_with_predict():
    from bandbridge.radiometry import GUARD_DEFAULTS, guard_note, guard_weight
    guard = {"low": [0.1] * 3 + [0.6] * 3, "high": [0.2] * 3 + [0.9] * 3, **GUARD_DEFAULTS}
    g = _guarded_unet(guard)
    x = torch.rand(1, 3, 32, 32)
    anchor = g.learner(x)
    ctx = lambda s: torch.tensor([[float("nan")] * 3 + [-1.0] + s])  # noqa: E731
    inside = [0.15] * 3 + [0.8] * 3
    far = [0.15] * 3 + [0.8, 0.8, 0.1]  # blue's 99th percentile far below training's (a night image)
    edge = [0.15] * 3 + [0.8, 0.8, 0.6 - 0.3 * 0.625]  # 0.625 widths out: half way to the end
    with torch.no_grad():
        y_in, y_far, y_edge = (g(x, ctx(s)) for s in (inside, far, edge))
        g.guard = None
        y_free, y_free_edge = g(x, ctx(inside)), g(x, ctx(edge))
    assert torch.equal(y_in, y_free) and not torch.allclose(y_in, anchor)  # inside: untouched
    assert torch.allclose(y_far, anchor, atol=1e-6)  # outside: the anchor alone
    for s, want in ((inside, 1.0), (far, 0.0), (edge, 0.5)):
        assert guard_weight(np.array(s), guard) == pytest.approx(want, abs=1e-6)
    # half way: half the residual, the same weight predict reports
    free = (y_free_edge > 0) & (y_free_edge < 1)  # no clamp at work
    assert free.float().mean() > 0.5
    assert torch.allclose(y_edge[free], (anchor + 0.5 * (y_free_edge - anchor))[free], atol=1e-5)
    assert guard_note(np.array(inside), guard, ["red", "green", "blue"]) is None
    note = guard_note(np.array(far), guard, ["red", "green", "blue"])
    assert "blue 99th percentile 0.1" in note and "training 0.6–0.9" in note and "dropped" in note
    with torch.no_grad():  # training mode never fades: augmented crops must still teach the residual
        g2 = _guarded_unet(guard).train()
        assert not torch.allclose(g2(x, ctx(far)).clamp(0, 1), anchor)


def test_domain_guard_covers_training_images_and_their_augmented_copies():
    from bandbridge.data.domain import domain_guard
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE))
    dm = PairedDataModule(cfg)
    dm.setup("fit")
    pairs = dm.pairs["train"]
    from bandbridge.data.domain import block_stats
    plain = domain_guard(pairs, AugmentConfig())
    stats = np.stack([p.stats.numpy() for p in pairs] + sum([block_stats(p) for p in pairs], []))
    assert np.allclose(plain["low"], stats.min(0), atol=1e-5) and np.allclose(plain["high"], stats.max(0), atol=1e-5)
    assert plain["images"] == len(pairs)
    # one image: its blocks still give the range a width (issue 32: "training 0.1953–0.1953")
    one = domain_guard(pairs[:1], AugmentConfig())
    assert all(h - lo > 1e-3 for lo, h in zip(one["low"], one["high"]))
    dark = domain_guard(pairs, AugmentConfig(exposure=(0.1, 1.0)))
    assert all(d <= p * 0.2 + 1e-4 for d, p in zip(dark["low"], plain["low"]))  # night copies seen
    assert all(d >= p - 1e-5 for d, p in zip(dark["high"], plain["high"]))
