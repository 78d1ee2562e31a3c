"""`predict -o out.png|.jpg`: an 8-bit photo model's output as a plain picture for CV users'
training sets — no georeference, no sidecar — and the refusals of what a picture cannot hold."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SAMPLE

NAIP = sorted((SAMPLE / "nir_naip_opengeos").glob("*.tif"))[0]


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".JPEG", "JPEG")])
def test_a_photo_model_writes_a_picture(run_cli, tmp_path, suffix, fmt):
    import rasterio
    out = tmp_path / f"nir{suffix}"
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(out))
    assert code == 0, err
    img = Image.open(out)
    with rasterio.open(NAIP) as src:
        assert img.format == fmt and img.mode == "L" and img.size == (src.width, src.height)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no .aux.xml, no temporary left
    assert np.asarray(img).std() > 1  # a real band, not a blank


def test_the_picture_holds_what_the_geotiff_holds(run_cli, tmp_path):
    import rasterio
    assert run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "a.tif"))[0] == 0
    assert run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "a.png"))[0] == 0
    with rasterio.open(tmp_path / "a.tif") as f:
        tif = f.read(1)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), tif)  # PNG is lossless


@pytest.mark.parametrize("flags,said", [
    (["--append"], "one (grey) or three (RGB) bands, not 4"),
    (["--index", "ndvi"], "--index make GeoTIFFs"),
    (["--dtype", "float32"], "not the --dtype float32 this model then writes"),
    (["--cog"], "--cog make GeoTIFFs"),
])
def test_what_a_picture_cannot_hold_is_refused_before_any_work(run_cli, tmp_path, flags, said):
    out = tmp_path / "nir.png"
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(out), *flags)
    assert code == 2 and said in err and "name the output nir.tif" in err
    assert not any(tmp_path.iterdir())


def test_a_picture_takes_one_input(run_cli, tmp_path):
    code, _, err = run_cli("predict", str(SAMPLE / "nir_naip_opengeos"), "-m", "rgb2nir-naip",
                           "-o", str(tmp_path / "x.png"))
    assert code == 2 and "a picture output takes one input" in err
