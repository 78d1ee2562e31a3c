"""Super-resolution: the MATLAB-bicubic resizer, on-the-fly LR/HR pairs, the RLFN network,
the bicubic baseline, warm starts across scales, and train → evaluate end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from bandbridge.config import DegradeConfig, load_config
from bandbridge.data.degrade import bicubic_down, degrade
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.data.datasets import RandomCropDataset
from bandbridge.learners.baselines import Upsample
from bandbridge.generators import build_generator
from bandbridge.models import count_parameters
from bandbridge.training.steps import cosine_decay
from conftest import SAMPLE, SHARED, needs_shared

# MATLAB imresize(·, 1/2), bicubic a = −0.5 with antialiasing: the kernel stretched ×2, taps at
# distances 0.5, 1.5, 2.5, 3.5 HR px → cubic(0.25), cubic(0.75), cubic(1.25), cubic(1.75), /2.
HALF_KERNEL = [-0.01171875, -0.03515625, 0.11328125, 0.43359375,
               0.43359375, 0.11328125, -0.03515625, -0.01171875]


def test_bicubic_down_reproduces_matlab_weights_on_an_impulse():
    x = torch.full((1, 16, 32), 0.5)
    x[0, :, 16] = 0.75  # a vertical line on gray: each output row is 0.5 + 0.25 × the kernel
    lr = (bicubic_down(x, 2, levels=None)[0] - 0.5) / 0.25
    assert lr.shape == (8, 16)
    # LR column j is centred on HR 2j + 0.5: column 16 lies 3.5, 1.5, 0.5, 2.5 px from j = 6..9
    want = [0.0, -0.01171875, 0.11328125, 0.43359375, -0.03515625, 0.0]
    assert lr[4, 5:11].tolist() == pytest.approx(want, abs=1e-6)
    assert sum(HALF_KERNEL) == pytest.approx(1.0)
    # ×3 and ×4 keep a constant image constant (the kernel sums to one) and round to 8 bits
    flat = torch.full((3, 24, 24), 100 / 255)
    for s in (3, 4):
        out = bicubic_down(flat, s)
        assert out.shape == (3, 24 // s, 24 // s)
        assert torch.equal(out * 255, torch.full_like(out, 100.0))
    with pytest.raises(ValueError, match="multiple"):
        bicubic_down(torch.zeros(3, 10, 10), 4)


@needs_shared
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_down_matches_the_published_set14_inputs(scale):
    """SelfExSR's LR images were made by MATLAB from these HR images: ours agree far better than
    PIL's bicubic (which differs by design) does."""
    from PIL import Image
    folder = SHARED / "sr_selfexsr" / "Set14" / f"image_SRF_{scale}"
    ours_err, pil_err, equal = [], [], []
    for k in (1, 2, 3, 7):
        hr_img = Image.open(folder / f"img_{k:03d}_SRF_{scale}_HR.png").convert("RGB")
        lr = np.asarray(Image.open(folder / f"img_{k:03d}_SRF_{scale}_LR.png").convert("RGB"), float)
        hr = torch.from_numpy(np.asarray(hr_img, np.float32) / 255).permute(2, 0, 1)
        ours = bicubic_down(hr, scale).permute(1, 2, 0).numpy() * 255
        pil = np.asarray(hr_img.resize((lr.shape[1], lr.shape[0]), Image.BICUBIC), float)
        inner = (slice(2, -2), slice(2, -2))  # SelfExSR's first/last rows differ (its padding)
        ours_err.append(np.abs(ours - lr)[inner].mean())
        pil_err.append(np.abs(pil - lr)[inner].mean())
        equal.append((np.abs(ours - lr)[inner] < 0.5).mean())
    assert np.mean(ours_err) < 0.2 and np.mean(equal) > 0.85
    assert np.mean(ours_err) < 0.75 * np.mean(pil_err)


def _sample_source(**over) -> dict:
    src = {"name": "naip_hr", "layout": "hr", "files": ["nir_naip_opengeos/*.tif"],
           "input": {"bands": ["red", "green", "blue"], "scaling": "uint8", "sensor": "naip"},
           "target": {"bands": ["red", "green", "blue"], "scaling": "uint8", "sensor": "naip"},
           "split": {"val": ["2018"], "test": ["2020"]}}
    src.update(over)
    return src


def _sr_cfg(scale: int, patch: int, **data):
    cfg = load_config(f"sr-x{scale}-cpu", data_root=str(SAMPLE))
    d = cfg.model_dump(mode="json")
    d["data"].update({"sources": [_sample_source()], "patch_size": patch, **data})
    from bandbridge.config import build_config
    return build_config(d)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_hr_layout_pairs_are_exactly_scale_times_the_input(scale):
    cfg = _sr_cfg(scale, 16 * scale * 2, batch_size=2)
    dm = PairedDataModule(cfg)
    dm.setup("fit")
    p = dm.pairs["val"][0]
    assert p.hr_only and p.y.shape[1:] == (p.x.shape[1] * scale, p.x.shape[2] * scale)
    assert p.y.shape[1] % scale == 0 and p.y.shape[1] > 250 - scale  # modcrop of 256 px
    assert torch.equal(p.x, bicubic_down(p.y, scale))  # the whole image's input, 8-bit rounded
    ds = RandomCropDataset(dm.pairs["train"], cfg.data, scale, 4, seed=1)
    a, b = ds[0], ds[0]
    assert a["target"].shape == (3, 32 * scale, 32 * scale) and a["input"].shape == (3, 32, 32)
    assert torch.equal(a["input"], b["input"])  # a pure function of (seed, index)
    # the input is the bicubic of the (flipped, rotated) target crop itself
    assert torch.equal(a["input"], bicubic_down(a["target"], scale))
    tile = dm.val_dataloader().dataset[0]
    assert tile["target"].shape[-1] == tile["input"].shape[-1] * scale


def test_crop_larger_than_image_is_padded_and_masked():
    cfg = _sr_cfg(4, 16 * 4 * 8)  # 512 px crops of 256 px images
    dm = PairedDataModule(cfg)
    dm.setup("fit")
    s = RandomCropDataset(dm.pairs["train"], cfg.data, 4, 2, seed=0)[0]
    assert s["target"].shape == (3, 512, 512) and s["input"].shape == (3, 128, 128)
    assert 0.2 < s["mask"].float().mean() < 0.3  # 256² of 512² valid


def test_degradations_are_seeded_and_change_the_input():
    hr = torch.rand(3, 96, 96)
    cfg = DegradeConfig(blur=(0.5, 2.0), noise=(0.01, 0.05), jpeg=(30, 60), p=1.0)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = degrade(hr, 4, cfg, g1), degrade(hr, 4, cfg, g2)
    assert a.shape == (3, 24, 24) and torch.equal(a, b)
    plain = degrade(hr, 4, DegradeConfig(), torch.Generator().manual_seed(3))
    assert torch.equal(plain, bicubic_down(hr, 4))
    assert (a - plain).abs().mean() > 0.01


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rlfn_shapes_size_and_start_as_bicubic(scale):
    g = build_generator("rlfn", 3, 3, {"nf": 48, "n_blocks": 6}, scale).eval()
    assert 0.3e6 < count_parameters(g) < 0.6e6
    x = torch.rand(2, 3, 20, 17)
    with torch.no_grad():
        y = g(x)
    assert y.shape == (2, 3, 20 * scale, 17 * scale)
    ref = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
    assert torch.allclose(y, ref, atol=1e-6)  # the zeroed last convolution: pure bicubic
    g.train()
    (g(x) - torch.rand_like(g(x))).abs().mean().backward()
    assert g.up[0].weight.grad.abs().sum() > 0


def test_bicubic_baseline_is_matlab_imresize():
    from bicubic_pytorch import imresize
    x = torch.rand(3, 10, 12)
    up = Upsample("bicubic", 3)(x)
    assert up.shape == (3, 30, 36)
    assert torch.allclose(up, imresize(x, sizes=(30, 36)).clamp(0, 1))
    # not PyTorch's a = −0.75 bicubic
    torch_bic = F.interpolate(x[None], scale_factor=3, mode="bicubic", align_corners=False)[0]
    assert (up - torch_bic.clamp(0, 1)).abs().max() > 1e-3


def test_cosine_schedule():
    f = cosine_decay(10)
    assert f(0) == 1.0 and f(5) == pytest.approx(0.5) and f(10) == pytest.approx(0.0)
    assert f(12) == pytest.approx(0.0)


def _tiny_sr_yaml(tmp_path: Path, scale: int) -> Path:
    cfg = {"base": f"sr-x{scale}-cpu",
           "data": {"root": str(SAMPLE), "sources": [_sample_source()], "patch_size": 32 * scale,
                    "batch_size": 4, "samples_per_epoch": 8, "max_eval_tiles": 2},
           "model": {"generator": {"args": {"nf": 8, "n_blocks": 1, "esa_channels": 4}},
                     "critic": {"args": {"ndf": 8}}},
           "train": {"max_epochs": 1, "threads": 1, "log_every_n_steps": 1}}
    p = tmp_path / f"sr{scale}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_train_then_evaluate_sr_end_to_end(run_cli, tmp_path):
    code, out, err = run_cli("train", "--config", str(_tiny_sr_yaml(tmp_path, 2)), "--runs",
                             str(tmp_path / "runs"))
    assert code == 0, err
    run = next((tmp_path / "runs").glob("*/*"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["global_step"] == 2  # no critic: one generator step per batch
    code, out, err = run_cli("evaluate", "-m", str(run / "model" / "best"), "-o",
                             str(tmp_path / "ev"))
    assert code == 0, err
    s = json.loads((tmp_path / "ev" / "summary.json").read_text())
    ms = s["methods"]
    assert set(ms) == {"model", "bicubic", "nearest"} and s["protocol"]["scale"] == 2
    assert ms["bicubic"]["psnr_y"] > ms["nearest"]["psnr_y"]
    # one epoch from a bicubic start: still within a fraction of a dB of bicubic
    assert abs(ms["model"]["psnr_y"] - ms["bicubic"]["psnr_y"]) < 1.0
    rows = list(csv.DictReader(open(tmp_path / "ev" / "per_image.csv")))
    assert {r["method"] for r in rows} == {"model", "bicubic", "nearest"}
    assert all(r["id"].endswith("20200831.tif") for r in rows)
    # ×4 fine-tuned from the ×2 model: everything but the upsampler is carried over
    code, out, err = run_cli("train", "--config", str(_tiny_sr_yaml(tmp_path, 4)), "--runs",
                             str(tmp_path / "runs4"), "--init-from", str(run / "model" / "best"))
    assert code == 0, err
    assert "start fresh (G.up.0.bias, G.up.0.weight)" in out


def test_init_from_a_different_network_is_refused(run_cli, tmp_path):
    code, out, err = run_cli("train", "--config", str(_tiny_sr_yaml(tmp_path, 2)), "--runs",
                             str(tmp_path / "runs"), "--init-from",
                             str(Path(__file__).parents[2] / "src/bandbridge/zoo/rgb2nir-naip"))
    assert code == 2 and "does not fit this model" in err
