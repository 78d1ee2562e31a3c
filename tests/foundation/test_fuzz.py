"""A small seeded fuzz of real inputs: truncated and byte-flipped GeoTIFFs and model bundles
through ``predict``. Whatever the damage, the run ends with exit 0 (the damage missed anything
that matters) or one ``error:`` line and exit 2, never a traceback, and a refused run leaves
nothing under the output name. Damaged weights are always refused (their hash)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio

from bandbridge.spec import zoo_models
from conftest import SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
FIXED = ["--backend", "torch", "--precision", "fp32"]
RNG_SEED = 19
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # rasterio's Affine `*`


def _chip(path):
    """A tiled, compressed 96² crop of the real NAIP scene (4 bands, its georeference)."""
    with rasterio.open(NAIP) as src:
        win = rasterio.windows.Window(100, 100, 96, 96)
        prof = src.profile | {"width": 96, "height": 96, "transform": src.window_transform(win),
                              "tiled": True, "blockxsize": 32, "blockysize": 32, "compress": "deflate"}
        data = src.read(window=win)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data)
    return path


def _damage(path, rng, kind):
    b = bytearray(path.read_bytes())
    if kind == "cut":
        del b[int(rng.integers(1, len(b))):]
    else:  # 8 random bytes anywhere
        for at in rng.integers(0, len(b), 8):
            b[at] = int(rng.integers(0, 256))
    path.write_bytes(bytes(b))


CASES = [(target, kind, i) for target in ("raster", "weights", "yaml") for kind in ("cut", "flip")
         for i in range(4)]


@pytest.mark.parametrize("target,kind,i", CASES, ids=[f"{t}-{k}-{i}" for t, k, i in CASES])
def test_damaged_inputs_never_give_a_traceback_or_leave_output(run_cli, tmp_path, target, kind, i):
    rng = np.random.default_rng([RNG_SEED, CASES.index((target, kind, i))])
    raster = _chip(tmp_path / "chip.tif")
    model = tmp_path / "bundle"
    shutil.copytree(zoo_models()["rgb2nir-naip"], model)
    victim = {"raster": raster, "weights": model / "generator.safetensors", "yaml": model / "model.yaml"}[target]
    _damage(victim, rng, kind)
    out = tmp_path / "out"
    code, stdout, err = run_cli("predict", str(raster), "-m", str(model), "-o", str(out / "x.tif"), *FIXED)
    assert "Traceback" not in stdout + err
    assert code in (0, 2), (code, err)
    if target == "weights":
        assert code == 2, "damaged weights must never run"
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), err
        assert not out.exists() or not list(out.iterdir())
    else:
        assert (out / "x.tif").exists()


# Mutations a user (or a file from elsewhere) can make to a bundle's model.yaml: names that are
# paths, edited numbers and blocks. Each must run (exit 0) or be one line (exit 2), and nothing
# may be written outside the output folder.
NAMES = ["../../escaped", "/tmp/bandbridge-fuzz-abs", "a/b", "..", ".hidden", "x" * 300, "ok name", "", "ok_name"]
META = [("in_channels", 5), ("out_channels", 0), ("confidence", {"coef": [1.0], "knots": [0], "values": [1]}),
        ("confidence", {"coef": ["a"] * 7, "knots": [0, 1], "values": [0, 1]}),
        ("confidence", {"coef": [0.0] * 7, "knots": [1, 0], "values": [0, float("nan")]}),
        ("weights_sha256", "Z" * 64), ("baseline", {"linear": [[1.0]]}), ("baseline", "text")]


def _mutated_bundle(tmp_path, key, value, config: bool):
    import yaml
    model = tmp_path / "bundle"
    shutil.copytree(zoo_models()["rgb2nir-naip"], model)
    meta = yaml.safe_load((model / "model.yaml").read_text())
    (meta["config"] if config else meta)[key] = value
    (model / "model.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return model


MUTATIONS = [("name", n, True) for n in NAMES] + [(k, v, False) for k, v in META]


@pytest.mark.parametrize("key,value,config", MUTATIONS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(MUTATIONS)])
def test_mutated_bundle_metadata_is_refused_in_one_line_or_runs_inside_the_output(run_cli, tmp_path, key, value, config):
    model = _mutated_bundle(tmp_path, key, value, config)
    raster = _chip(tmp_path / "chip.tif")
    out = tmp_path / "out" / "deep"
    out.mkdir(parents=True)
    code, stdout, err = run_cli("predict", str(raster), str(raster), "-m", str(model), "-o", str(out),
                                "--confidence", *FIXED)
    assert "Traceback" not in stdout + err and code in (0, 2), (code, err)
    if key in ("confidence", "weights_sha256", "in_channels", "out_channels") or (config and value != "ok_name"):
        assert code == 2, (key, value, stdout)  # malformed: never a silent NaN map or a path
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), err
        assert not list(out.iterdir())
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != tmp_path
               and model not in p.parents and out not in p.parents]  # the bundle's floor/ is the bundle's
    assert not written, written  # nothing outside -o (besides the inputs and the bundle)
    assert not (tmp_path / "escaped.tif").exists() and not list(tmp_path.parent.glob("escaped*"))


def test_an_upper_case_weights_hash_is_the_same_hash(run_cli, tmp_path):
    import yaml
    meta = yaml.safe_load((zoo_models()["rgb2nir-naip"] / "model.yaml").read_text())
    model = _mutated_bundle(tmp_path, "weights_sha256", meta["weights_sha256"].upper(), False)
    code, _, err = run_cli("predict", str(_chip(tmp_path / "chip.tif")), "-m", str(model), "-o",
                           str(tmp_path / "o.tif"), *FIXED)
    assert code == 0, err


@pytest.mark.parametrize("name", NAMES[:4])
def test_a_training_config_whose_name_is_a_path_is_refused_before_any_work(run_cli, tmp_path, name):
    runs = tmp_path / "runs" / "deep"
    code, _, err = run_cli("train", "-p", "rgb2nir-wgangp-cpu", "--data", str(SAMPLE), "--runs", str(runs),
                           "--set", f"name={name}", "--set", "train.max_epochs=1")
    assert code == 2 and err.strip().startswith("error:") and "name" in err, err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "escaped").exists()
