"""Landsat 8/9 folders read as they are: reflectance and kelvin from the MTL, checked on the dev
scene (B10's brightness temperature by hand from its MTL) and refused on tiny folders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from bandbridge.data.landsat import landsat_bands, read_landsat, read_mtl
from bandbridge.errors import BandbridgeError
from conftest import SHARED, needs_shared

SCENE = SHARED / "multisensor_riotilerpds" / "landsat8_l1tp_016037_20170813"
MTL = """GROUP = L1_METADATA_FILE
  GROUP = RADIOMETRIC_RESCALING
    RADIANCE_MULT_BAND_10 = 3.3420E-04
    RADIANCE_ADD_BAND_10 = 0.10000
    REFLECTANCE_MULT_BAND_4 = 2.0000E-05
    REFLECTANCE_ADD_BAND_4 = -0.100000
  END_GROUP = RADIOMETRIC_RESCALING
  GROUP = TIRS_THERMAL_CONSTANTS
    K1_CONSTANT_BAND_10 = 774.8853
    K2_CONSTANT_BAND_10 = 1321.0789
  END_GROUP = TIRS_THERMAL_CONSTANTS
END_GROUP = L1_METADATA_FILE
END
"""


def _band(path, values, dtype="uint16", px=30.0, scale=None):
    values = np.asarray(values, dtype)
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1,
                       dtype=dtype, crs="EPSG:32617", transform=from_origin(500000, 4000000, px, px)) as dst:
        dst.write(values, 1)
        if scale:
            dst.scales, dst.offsets = (scale[0],), (scale[1],)


def _folder(tmp_path, mtl=MTL):
    _band(tmp_path / "LC08_X_B4.TIF", [[10000, 0], [20000, 30000]])
    _band(tmp_path / "LC08_X_B10.TIF", [[20000, 0], [25000, 30000]])
    if mtl is not None:
        (tmp_path / "LC08_X_MTL.txt").write_text(mtl)
    return tmp_path


def test_brightness_temperature_and_reflectance_from_the_mtl_by_hand(tmp_path):
    p = read_landsat(_folder(tmp_path))
    assert p.names == ["B4", "B10"] and p.units == ["TOA reflectance", "brightness temperature (K)"]
    assert p.valid.tolist() == [[True, False], [True, True]]  # DN 0 is fill
    radiance = 20000 * 3.342e-4 + 0.1
    assert p.data[1, 0, 0] == pytest.approx(1321.0789 / math.log(774.8853 / radiance + 1), abs=1e-3)
    assert p.data[0, 1, 0] == pytest.approx(20000 * 2e-5 - 0.1)
    np.testing.assert_allclose(p.to_stored[1](p.data[1][p.valid]), [20000, 25000, 30000], atol=0.05)


def test_collection2_surface_temperature_by_the_files_scale(tmp_path):
    _band(tmp_path / "LC09_X_ST_B10.TIF", [[44000, 50000]], scale=(0.00341802, 149.0))
    (tmp_path / "LC09_X_MTL.txt").write_text("GROUP = X\nEND_GROUP = X\n")
    b = landsat_bands(tmp_path)["ST_B10"]
    assert b.units == "surface temperature (K)"
    assert b.physical(np.array([44000.0]))[0] == pytest.approx(44000 * 0.00341802 + 149.0, abs=1e-3)


def test_mtl_parser_flattens_groups_and_drops_quotes(tmp_path):
    (tmp_path / "m.txt").write_text('GROUP = A\n  FILE_NAME_BAND_10 = "x_B10.TIF"\n  K1 = 1.5\nEND_GROUP = A\n')
    assert read_mtl(tmp_path / "m.txt") == {"FILE_NAME_BAND_10": "x_B10.TIF", "K1": "1.5"}


@pytest.mark.parametrize("case, match", [
    ("no mtl", "no \\*_MTL.txt"),
    ("no k1", "the MTL has no K1_CONSTANT_BAND_10"),
    ("missing band", "no band B11"),
    ("other grid", "band B10 is 1×1 on another grid"),
])
def test_refusals_name_the_file_and_the_fix(tmp_path, case, match):
    folder = _folder(tmp_path, None)
    if case == "other grid":  # before the MTL: GDAL deletes a TIFF's *_MTL.txt sibling when it replaces it
        _band(tmp_path / "LC08_X_B10.TIF", [[20000]], px=60.0)
    mtl = {"no mtl": None, "no k1": MTL.replace("K1_CONSTANT", "X")}.get(case, MTL)
    if mtl is not None:
        (folder / "LC08_X_MTL.txt").write_text(mtl)
    with pytest.raises(BandbridgeError, match=match):
        read_landsat(folder, ["B4", "B11"] if case == "missing band" else None)


@needs_shared
def test_the_dev_scene_reads_as_reflectance_and_kelvin():
    p = read_landsat(SCENE)
    assert p.names == ["B2", "B3", "B4", "B5", "B6", "B7", "B10", "B11"] and p.data.shape == (8, 259, 255)
    assert 0.5 < p.valid.mean() < 0.9  # the rest is the scene's fill
    with rasterio.open(next(SCENE.glob("*_B10.TIF"))) as src:
        dn = src.read(1)[p.valid].astype(np.float64)
    by_hand = 1321.0789 / np.log(774.8853 / (dn * 3.342e-4 + 0.1) + 1)
    np.testing.assert_allclose(p.data[6][p.valid], by_hand, rtol=1e-6)
    assert 280 < np.median(p.data[6][p.valid]) < 310 and 0 < np.median(p.data[3][p.valid]) < 0.6


def test_product_bands_say_each_band_kind_and_read_tirs_on_the_30m_grid_3x3(tmp_path):
    """As ``sharpen`` reads a folder: B4 reflectance by the MTL's linear map, B10 a temperature in K by
    Planck's law (no linear map), averaged 3 × 3 where it lies on the 30 m OLI grid, not on another."""
    from bandbridge.data.landsat import is_landsat, product_bands
    bands = {b.name: b for b in product_bands(_folder(tmp_path))}
    assert is_landsat(tmp_path) and not is_landsat(tmp_path / "LC08_X_B4.TIF")
    assert (bands["B4"].kind, bands["B4"].units, bands["B4"].linear) == ("reflectance", "reflectance", (2e-5, -0.1))
    assert (bands["B10"].kind, bands["B10"].units, bands["B10"].linear) == ("temperature", "K", None)
    assert bands["B10"].cell == 3 and bands["B4"].cell == 1
    assert bands["B10"].physical(np.array([20000.0]))[0] == pytest.approx(
        1321.0789 / math.log(774.8853 / (20000 * 3.342e-4 + 0.1) + 1), abs=1e-3)
    _band(tmp_path / "LC08_X_B10.TIF", [[20000, 1], [25000, 30000]], px=90.0)
    (tmp_path / "LC08_X_MTL.txt").write_text(MTL)  # GDAL deletes a TIFF's *_MTL.txt sibling when it replaces it
    assert {b.name: b.cell for b in product_bands(tmp_path)}["B10"] == 1
