"""``export --qgis``: a Deepness-ready ONNX graph (one static input, documented metadata keys)
that runs a real NAIP tile as Deepness feeds it, and a clear refusal for models it cannot run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from conftest import SAMPLE

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install 'bandbridge[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
DEEPNESS_KEYS = {"model_type", "class_names", "resolution", "tile_size", "tiles_overlap",
                 "reg_output_scaling", "standardization_mean", "standardization_std"}


def test_qgis_export_carries_the_deepness_metadata_and_runs_a_real_tile(run_cli, tmp_path):
    code, out, err = run_cli("export", "-m", "rgb2nir-naip", "--format", "onnx", "--qgis", "-o", str(tmp_path / "e"))
    assert code == 0, err
    path = tmp_path / "e" / "rgb2nir-naip-deepness.onnx"
    assert f"QGIS Deepness model: {path}" in " ".join(out.split())
    model = onnx.load(str(path))
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert DEEPNESS_KEYS <= meta.keys()
    assert meta["model_type"] == "Regressor" and meta["class_names"] == {"0": "synthetic_nir"}
    assert meta["tile_size"] == 512 and meta["tiles_overlap"] == 12  # 64 px of 512 (its halo + margin)
    assert meta["reg_output_scaling"] == 255.0 and meta["resolution"] == 500.0  # NAIP sample: 5 m
    assert meta["standardization_mean"] == [0.0] * 3 and meta["standardization_std"] == [1.0] * 3
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = sess.get_inputs(), sess.get_outputs()
    assert inp.shape == [1, 3, 512, 512] and outp.shape == [1, 1, 512, 512]  # Deepness: batch 1, square
    # As Deepness feeds it: an 8-bit RGB tile / 255, NCHW; against the torch generator on that tile.
    with rasterio.open(NAIP) as src:  # the bundled sample is 256²: mirrored to a 512² tile
        rgb = src.read([1, 2, 3])
    tile = np.pad(rgb, ((0, 0), (0, 512 - rgb.shape[1]), (0, 512 - rgb.shape[2])), mode="symmetric")
    x = (tile.astype(np.float32) / 255)[None]
    got = sess.run(None, {inp.name: x})[0]
    import torch

    from bandbridge.bundle import load_model
    g = load_model("rgb2nir-naip").generator.eval()
    with torch.inference_mode():
        ref = g(torch.from_numpy(x), None).clamp(0, 1).numpy()
    # the graph sums the context windows by convolutions, torch by shifted additions: they round
    # apart by ~1e-7, which the square root of a flat window's near-zero variance (the lake)
    # amplifies; measured 2026-11-25: mean |Δ| 5.8e-6, max 1.6e-3, 0.15 % of pixels one DN apart
    d = np.abs(got - ref)
    changed = np.round(got * 255) != np.round(ref * 255)
    assert d.mean() < 1e-5 and d.max() < 2 / 255 and changed.mean() < 5e-3
    assert 0.05 < float(got.mean()) < 0.95


def test_qgis_export_of_a_reflectance_model_is_refused_in_one_line(run_cli, tmp_path):
    code, _, err = run_cli("export", "-m", "rgb2nir-s2", "--format", "onnx", "--qgis", "-o", str(tmp_path / "e"))
    assert code == 2 and "--qgis" in err and "8-bit" in err and "Traceback" not in err
    assert not (tmp_path / "e").exists() or not any((tmp_path / "e").iterdir())


@pytest.mark.parametrize("name", ["rgb2nir-photo", "rgb2thermal"])
def test_every_8bit_translation_bundle_exports_for_qgis(run_cli, tmp_path, name):
    """Issue 46: `export --qgis` works for every bundle Deepness can feed (8-bit RGB in, a
    same-size band out): the U-Nets too, their graph running a tile in onnxruntime."""
    code, _, err = run_cli("export", "-m", name, "--format", "onnx", "--qgis", "-o", str(tmp_path / "e"))
    assert code == 0, err
    sess = ort.InferenceSession(str(tmp_path / "e" / f"{name}-deepness.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(0).random(inp.shape, dtype=np.float32)
    y = sess.run(None, {inp.name: x})[0]
    assert y.shape[-2:] == x.shape[-2:] and np.isfinite(y).all() and 0 <= y.min() and y.max() <= 1
