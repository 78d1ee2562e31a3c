"""A reference that holds one value over the input (issue 69's trial: an "empty" reference, written out
as that value; issue 77: a constant says nothing of the band): refused in one line before any work,
naming the value, nothing written."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import Affine

from conftest import SAMPLE

SCENE = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def test_a_flat_reference_is_refused_in_one_line(run_cli, tmp_path):
    with rasterio.open(SCENE) as s:
        prof, rgb, t, crs = s.profile, s.read([1, 2, 3]), s.transform, s.crs
    prof.update(count=3)
    with rasterio.open(tmp_path / "rgb.tif", "w", **prof) as o:
        o.write(rgb)
    with rasterio.open(tmp_path / "flat.tif", "w", driver="GTiff", height=64, width=64, count=1, dtype="float32",
                       crs=crs, transform=t @ Affine.scale(4)) as o:
        o.write(np.full((1, 64, 64), 37.0, np.float32))
        o.set_band_description(1, "nir")
    out = tmp_path / "out.tif"
    code, stdout, stderr = run_cli("predict", str(tmp_path / "rgb.tif"), "-m", "rgb2nir", "--reference",
                                   str(tmp_path / "flat.tif"), "-o", str(out))
    assert code == 2 and stderr.strip().count("\n") == 0, stderr
    assert "its nir is one value (37) on all 4,096 clear cells over the input" in " ".join(stderr.split())
    assert not out.exists() and "Traceback" not in stderr
