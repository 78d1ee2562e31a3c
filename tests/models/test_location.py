"""Location priors: positions from real georeferences, a zero-initialised injection that leaves
the generator unchanged, gradients, and the prior through training, prediction and ONNX."""

import numpy as np
import pytest
import torch

from bandbridge.config import load_config
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.models import ResNetGenerator, UNet
from conftest import SAMPLE, TINY


def test_crop_centre_latlon_matches_the_naip_quarter_quad():
    # m_4709963_se: 1° cell 47–48°N, 99–100°W; 7.5' quad 63 (row 8, column 7 of 8×8 from the NW
    # corner) spans 47.0–47.125°N, 99.25–99.125°W; its SE quarter 47.0–47.0625°N, 99.1875–99.125°W.
    cfg = load_config("rgb2nir-wgangp-cpu", data_root=str(SAMPLE))
    dm = PairedDataModule(cfg)
    dm.setup("validate")
    for i in range(len(dm.val_dataloader().dataset)):
        m = dm.val_dataloader().dataset[i]["meta"]
        assert 47.0 - 0.003 < m["lat"] < 47.0625 + 0.003
        assert -99.1875 - 0.004 < m["lon"] < -99.125 + 0.004


@pytest.mark.parametrize("cls,kw", [(UNet, {"ngf": 8, "depth": 5}), (ResNetGenerator, {"ngf": 8, "n_blocks": 2})])
def test_prior_starts_as_a_no_op_and_learns(cls, kw):
    torch.manual_seed(0)
    plain = cls(**kw).eval()
    torch.manual_seed(0)
    prior = cls(**kw, location={"dim": 16})
    missing, unexpected = prior.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("prior.") for k in missing)
    prior.eval()
    x = torch.rand(2, 3, 64, 64)
    ll = torch.tensor([[47.0, -99.1], [-33.9, 151.2]])
    assert torch.equal(plain(x), prior(x, ll))  # scale 0: exactly the model without a prior
    prior.train()
    prior(x, ll).mean().backward()
    assert prior.prior.scale.grad is not None and float(prior.prior.scale.grad.abs()) > 0
    with torch.no_grad():
        prior.prior.scale.fill_(1.0)
    prior.eval()
    a, b = prior(x, ll), prior(x, ll.flip(0))
    assert not torch.equal(a, b)  # different places, different outputs
    nan = torch.full((2, 2), float("nan"))
    unknown = prior(x, nan)
    with torch.no_grad():
        prior.prior.scale.fill_(0.0)
    assert torch.equal(unknown, prior(x, ll))  # unknown location: as if there were no prior


def test_sidecar_locations_for_plain_images(tmp_path):
    from PIL import Image
    from bandbridge.config import build_config
    for d in ("A", "B"):
        (tmp_path / d).mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8) + 80).save(tmp_path / "A" / "p1.png")
    Image.fromarray(np.zeros((32, 32), np.uint8) + 90).save(tmp_path / "B" / "p1.png")
    (tmp_path / "loc.csv").write_text("id,lat,lon\np1,51.5,-0.12\n")
    cfg = build_config({"name": "t", "data": {"root": str(tmp_path), "patch_size": 32, "sources": [{
        "layout": "paired", "input_dir": "A", "target_dir": "B", "locations": "loc.csv",
        "input": {"bands": ["red", "green", "blue"], "scaling": "uint8"},
        "target": {"bands": [0], "scaling": "uint8"}, "split": {"default": "train"}}]}})
    dm = PairedDataModule(cfg)
    assert dm.load_split("train")[0].latlon == (51.5, -0.12)
    s = dm.train_dataloader().dataset[0]["meta"]
    assert (s["lat"], s["lon"]) == (51.5, -0.12)
    from bandbridge.data.datamodule import read_locations
    (tmp_path / "loc.json").write_text('{"p1": [51.5, -0.12], "p2": {"lat": 1, "lon": 2}}')
    assert read_locations(tmp_path / "loc.json") == {"p1": (51.5, -0.12), "p2": (1.0, 2.0)}


def test_prior_through_training_prediction_and_onnx(run_cli, tmp_path):
    sets = [*TINY, "train.max_epochs=1", "model.generator.args.location={dim: 16}",
            "inference.tile=128", "inference.overlap=64"]
    code, _, err = run_cli("train", "-p", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs",
                           str(tmp_path / "runs"), *sum((["--set", s] for s in sets), []))
    assert code == 0, err
    run = next((tmp_path / "runs").glob("*/*"))
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert float(state["G.network.prior.scale"]) != 0.0  # it trained (the residual's network)
    img = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
    assert run_cli("predict", str(img), "-m", str(run), "-o", str(tmp_path / "t.tif"),
                   "--precision", "fp32", "--dtype", "float32")[0] == 0
    assert run_cli("export", "-m", str(run), "-o", str(tmp_path / "onnx"))[0] == 0
    assert run_cli("predict", str(img), "-m", str(tmp_path / "onnx"), "-o", str(tmp_path / "o.tif"),
                   "--backend", "onnx", "--dtype", "float32")[0] == 0
    import rasterio
    with rasterio.open(tmp_path / "t.tif") as a, rasterio.open(tmp_path / "o.tif") as b:
        assert np.abs(a.read() - b.read()).max() < 1e-4


def test_geoclip_encoder_frozen_and_local():
    import importlib.util
    if importlib.util.find_spec("geoclip") is None:
        pytest.skip("GeoCLIP weights not installed (pip install --no-deps geoclip)")
    from bandbridge.models.geoclip import GeoCLIPLocationEncoder
    enc = GeoCLIPLocationEncoder()
    ll = torch.tensor([[47.0, -99.1], [47.01, -99.11], [-33.9, 151.2]])
    z = enc(ll)
    assert z.shape == (3, 512) and torch.equal(z, enc(ll))  # deterministic
    cos = torch.nn.functional.cosine_similarity
    assert float(cos(z[0:1], z[1:2])) > 0.9 > float(cos(z[0:1], z[2:3]))  # near ≈, far ≠
    assert not any(p.requires_grad for p in enc.parameters())
    g = UNet(ngf=8, depth=5, location={"encoder": "geoclip"}).eval()
    assert g.prior.scale.requires_grad and g(torch.rand(1, 3, 64, 64), ll[:1]).shape == (1, 1, 64, 64)
    g.train()
    assert not enc.training and not g.prior.encoder.training  # stays frozen in train mode


def test_sensor_gsd_conditioning_starts_as_no_op_and_reaches_prediction(run_cli, tmp_path):
    from bandbridge.data.datasets import batch_context
    ctx = batch_context({"meta": {"lat": [47.0, 1.0], "lon": [-99.0, 2.0], "gsd": [5.0, 0.0],
                                  "sensor": ["NAIP", "other"]}}, ["Sentinel-2 L2A", "NAIP"])
    assert ctx[0].tolist() == [47.0, -99.0, 5.0, 1.0]
    assert np.isnan(ctx[1, 2].item()) and ctx[1, 3].item() == -1.0
    torch.manual_seed(0)
    plain = ResNetGenerator(ngf=8, n_blocks=2).eval()
    cond = ResNetGenerator(ngf=8, n_blocks=2, conditioning={"sensors": ["Sentinel-2 L2A", "NAIP"]})
    cond.load_state_dict(plain.state_dict(), strict=False)
    cond.eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(plain(x), cond(x, ctx))  # scale 0
    cond.train()
    cond(x, ctx).mean().backward()
    assert float(cond.condition.scale.grad.abs()) > 0
    sets = [*TINY, "train.max_epochs=1", "inference.tile=128", "inference.overlap=64",
            "model.generator.args.location={dim: 8}", "model.generator.args.conditioning={sensors: [NAIP]}"]
    code, _, err = run_cli("train", "-p", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs",
                           str(tmp_path / "runs"), *sum((["--set", s] for s in sets), []))
    assert code == 0, err
    run = next((tmp_path / "runs").glob("*/*"))
    img = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
    assert run_cli("predict", str(img), "-m", str(run), "-o", str(tmp_path / "t.tif"), "--sensor", "NAIP",
                   "--precision", "fp32", "--dtype", "float32")[0] == 0
    assert run_cli("export", "-m", str(run), "-o", str(tmp_path / "onnx"))[0] == 0
    assert run_cli("predict", str(img), "-m", str(tmp_path / "onnx"), "-o", str(tmp_path / "o.tif"),
                   "--sensor", "NAIP", "--backend", "onnx", "--dtype", "float32")[0] == 0
    import rasterio
    with rasterio.open(tmp_path / "t.tif") as a, rasterio.open(tmp_path / "o.tif") as b:
        assert np.abs(a.read() - b.read()).max() < 1e-4
