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
