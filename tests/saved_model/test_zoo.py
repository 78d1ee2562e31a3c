"""The bundled models: listed, small, loadable by name, and `make demo`'s compare on the sample."""

import json

import pytest
import rasterio
import yaml

from bandbridge.spec import resolve_model_folder, zoo_models
from conftest import SAMPLE

EXPECTED = {"rgb2nir-naip", "rgb2nir-s2", "rgb2nir-s2-toa", "rgb2nir-photo", "sar2optical", "rgb2thermal",
            "sr-x2", "sr-x3", "sr-x4"}
NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def test_bundled_models_are_complete_and_small():
    zoo = zoo_models()
    assert EXPECTED <= set(zoo)
    for name, d in zoo.items():
        if name == "rgb2nir":
            continue  # an alias
        files = {p.name for p in d.iterdir()}
        assert {"generator.safetensors", "model.yaml", "MODEL_CARD.md"} <= files
        assert sum(p.stat().st_size for p in d.iterdir()) < 10e6
        card = (d / "MODEL_CARD.md").read_text()
        assert "bandbridge train --preset" in card and "gain vs" in card and "Training time" in card
        meta = yaml.safe_load((d / "model.yaml").read_text())
        assert meta["config"]["name"].endswith("-cpu")


def test_models_command_and_name_resolution(run_cli, tmp_path):
    code, out, err = run_cli("models")
    assert code == 0 and all(n in out for n in EXPECTED)
    assert resolve_model_folder("rgb2nir-s2") == zoo_models()["rgb2nir-s2"]
    assert resolve_model_folder("rgb2nir") == zoo_models()["rgb2nir-naip"]  # the short name
    rule = next(line for line in out.splitlines() if line.startswith("rgb2nir "))
    for route in ("8-bit imagery → rgb2nir-naip", "(a photo) → rgb2nir-photo", "reflectance → rgb2nir-s2"):
        assert route in rule, rule  # the short name routes by the input: all three are said
    assert "(top-of-atmosphere reflectance named so: rgb2nir-s2-toa)" in rule  # and the level's floor
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "n.tif"))
    assert code == 0, err
    with rasterio.open(tmp_path / "n.tif") as f:
        assert f.count == 1 and f.crs.to_epsg() == 26914


def test_compare_on_the_sample_writes_the_demo_files(run_cli, tmp_path):
    code, out, err = run_cli("compare", str(NAIP), "--model", "rgb2nir", "--output", str(tmp_path))
    assert code == 0, err
    stem = NAIP.stem
    with rasterio.open(tmp_path / f"{stem}_with_synthetic.tif") as f:
        assert f.count == 4 and f.descriptions[-1] == "synthetic_nir" and f.crs.to_epsg() == 26914
    with rasterio.open(tmp_path / f"{stem}_with_synthetic_ndvi.tif") as f:
        assert f.dtypes == ("float32",)
    assert (tmp_path / f"{stem}_comparison.png").stat().st_size > 20_000
    assert _gray_colour_bar(tmp_path / f"{stem}_comparison.png")  # the bands' scale is drawn
    assert "ndvi_mae" in out and "mae" in out and "units: DN (8-bit)" in out
    assert "rgb2nir → rgb2nir-naip" in out  # the routed name says which model it took
    assert "linear" in out and "fitted on train split of" in out  # the model beside its baseline


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bundled_sr_restores_a_real_aerial_image_better_than_bicubic_on_its_grid(run_cli, tmp_path, scale):
    """Out of the models' domain (trained on photos): a NAIP crop downscaled ×s by MATLAB bicubic,
    written with its coarser transform, comes back on the original grid and closer to it."""
    import numpy as np
    import torch
    from bicubic_pytorch import imresize
    from rasterio.transform import Affine

    from bandbridge.data.degrade import bicubic_down, modcrop
    from bandbridge.metrics import sr_metrics
    with rasterio.open(NAIP) as f:
        hr = torch.from_numpy(f.read([1, 2, 3]).astype(np.float32) / 255)
        prof, t = f.profile, f.transform
    hr = modcrop(hr, scale)
    lr = bicubic_down(hr, scale)
    prof.update(count=3, height=lr.shape[1], width=lr.shape[2], photometric="RGB",
                transform=t @ Affine.scale(scale))
    src = tmp_path / "lr.tif"
    with rasterio.open(src, "w", **prof) as f:
        f.write((lr * 255).round().byte().numpy())
    code, out, err = run_cli("predict", str(src), "-m", f"sr-x{scale}", "-o", str(tmp_path / "sr.tif"))
    assert code == 0, err
    with rasterio.open(tmp_path / "sr.tif") as f:
        assert (f.height, f.width) == tuple(hr.shape[1:]) and f.crs == prof["crs"]
        assert f.transform.almost_equals(t)  # back on the original grid
        sr = torch.from_numpy(f.read().astype(np.float32) / 255)
    bic = imresize(lr, sizes=tuple(hr.shape[1:])).clamp(0, 1)
    gain = sr_metrics(sr, hr, scale)["psnr_y"] - sr_metrics(bic, hr, scale)["psnr_y"]
    assert gain > 0.2, gain


def _gray_colour_bar(png) -> bool:
    """Whether the image holds a gray colour bar: a row of gray pixels running from near black
    to near white over at least 150 px, never getting darker on the way."""
    import numpy as np
    from PIL import Image
    a = np.asarray(Image.open(png).convert("RGB")).astype(int)
    for row in a:
        gray = (np.ptp(row, axis=1) <= 2)
        v = row[:, 0]
        runs = np.flatnonzero(np.diff(np.r_[0, gray.astype(int), 0]))
        for start, stop in zip(runs[::2], runs[1::2]):
            seg = v[start:stop]
            if stop - start >= 150 and seg.min() < 40 and seg.max() > 215 and (np.diff(seg) >= 0).all():
                return True
    return False
