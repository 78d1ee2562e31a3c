"""Sentinel-2 band sets at 10, 20 and 60 m: band folders, SAFE granules (JP2), stacks averaged
back to native resolution, and the pan + MS pair's grid check; real dev files where present."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.transform import from_origin

from bandbridge.data.grids import Grid
from bandbridge.data.products import pan_ratio, read_pan_ms
from bandbridge.data.sentinel2 import band_paths, band_sets, native_sets, read_s2
from bandbridge.errors import BandbridgeError
from conftest import SHARED, needs_shared


def _write(path, values, px, driver="GTiff", dtype="uint16", crs="EPSG:32633", count=1):
    values = np.asarray(values, dtype).reshape(count, *np.shape(values)[-2:])
    kw = dict(crs=crs, transform=from_origin(400000, 5000000, px, px)) if crs else {}
    with rasterio.open(path, "w", driver=driver, height=values.shape[1], width=values.shape[2], count=count,
                       dtype=dtype, **kw) as dst:
        dst.write(values)


def test_band_sets_group_by_native_resolution():
    assert band_sets(["B04", "B11", "B01", "B02", "X"]) == {10: ["B04", "B02"], 20: ["B11"], 60: ["B01"]}


def test_a_band_folder_reads_each_set_on_its_grid_in_reflectance(tmp_path):
    _write(tmp_path / "B02.tif", np.full((6, 6), 1000), 10)
    _write(tmp_path / "red.tif", np.full((6, 6), 2000), 10)  # a STAC asset name
    _write(tmp_path / "B05.tif", [[0, 500, 500]] * 3, 20)
    _write(tmp_path / "B01.tif", [[300]], 60)
    sets = read_s2(tmp_path)
    assert {r: s.names for r, s in sets.items()} == {10: ["B02", "B04"], 20: ["B05"], 60: ["B01"]}
    assert sets[10].data[:, 0, 0].tolist() == pytest.approx([0.1, 0.2])
    assert sets[20].valid[:, 0].tolist() == [False] * 3 and sets[20].data[0, 0, 1] == pytest.approx(0.05)
    assert sets[20].to_stored[0](np.array([0.05]))[0] == pytest.approx(500)


def test_a_cog_folder_with_the_products_scale_and_offset(tmp_path):
    _write(tmp_path / "b4.tif", np.full((2, 2), 3000), 10)  # 'b4' is B04
    with rasterio.open(tmp_path / "b4.tif", "r+") as dst:
        dst.scales, dst.offsets = (0.0001,), (-0.1,)  # Earth Search's baseline-04 COGs
    sets = read_s2(tmp_path)
    assert sets[10].names == ["B04"] and sets[10].data[0, 0, 0] == pytest.approx(0.2)
    assert sets[10].to_stored[0](np.array([0.2]))[0] == pytest.approx(3000)


def test_a_safe_granule_takes_each_band_at_its_native_resolution_and_the_baseline_offset(tmp_path):
    img = tmp_path / "S2B_MSIL2A_X.SAFE" / "GRANULE" / "L2A_T33" / "IMG_DATA"
    for res, bands in {"R10m": ["B02", "B05"], "R20m": ["B05"]}.items():
        (img / res).mkdir(parents=True)
        for b in bands:
            side = 4 if res == "R10m" else 2
            _write(img / res / f"T33TWM_20220101_{b}_{res[1:]}.jp2", np.full((side, side), 3000), int(res[1:3]),
                   driver="JP2OpenJPEG")
    (tmp_path / "S2B_MSIL2A_X.SAFE" / "MTD_MSIL2A.xml").write_text(
        '<x><BOA_ADD_OFFSET band_id="0">-1000</BOA_ADD_OFFSET></x>')
    safe = tmp_path / "S2B_MSIL2A_X.SAFE"
    assert {b: p.parent.name for b, p in band_paths(safe).items()} == {"B02": "R10m", "B05": "R20m"}
    sets = read_s2(safe)
    assert sets[20].data[0, 0, 0] == pytest.approx(0.2)  # (3000 − 1000) / 10000


def test_a_stack_on_one_grid_is_averaged_back_to_each_band_resolution():
    names = ["B02", "B05", "B01"]
    data = np.zeros((3, 13, 12), np.float32)
    data[1, :2, :2] = [[0.1, 0.3], [0.5, 0.7]]
    data[2] = 0.2
    sets = native_sets(data, np.ones((13, 12), bool), names)
    assert [s.data.shape for s in sets.values()] == [(1, 12, 12), (1, 6, 6), (1, 2, 2)]
    assert sets[20].data[0, 0, 0] == pytest.approx(0.4) and sets[20].grid.transform.a == 2


def test_a_stack_repeated_from_coarser_grids_is_cut_where_its_coarse_pixels_start():
    rng = np.random.default_rng(0)
    b20, b60 = rng.random((12, 9)), rng.random((3, 3))
    stack = np.zeros((3, 25, 18), np.float32)
    stack[0] = rng.random((25, 18))
    stack[1, 1:25] = np.kron(b20, np.ones((2, 2)))  # eo-learn: 20 m pixels from row 1
    stack[2, 5:23] = np.kron(b60, np.ones((6, 6)))  # and 60 m pixels from row 5
    sets = native_sets(stack, np.ones((25, 18), bool), ["B02", "B05", "B01"])
    assert sets[10].grid.transform.f == 5 and sets[60].data.shape == (1, 3, 3)
    np.testing.assert_allclose(sets[20].data[0], b20[2:11], rtol=1e-6)  # stack rows 5–22
    np.testing.assert_allclose(sets[60].data[0], b60, rtol=1e-6)


@pytest.mark.parametrize("case, match", [
    ("empty", "no Sentinel-2 band files"),
    ("resampled", "the 20 m bands are 6×6, not 6×6 of the 10 m bands at 1:2"),
    ("mixed grid", "band B03 is 3×3 on another grid"),
])
def test_folder_refusals(tmp_path, case, match):
    (tmp_path / "notes.txt").write_text("x")
    if case != "empty":
        _write(tmp_path / "B02.tif", np.ones((6, 6)), 10)
    if case == "resampled":
        _write(tmp_path / "B05.tif", np.ones((6, 6)), 20)
    if case == "mixed grid":
        _write(tmp_path / "B03.tif", np.ones((3, 3)), 20)
    with pytest.raises(BandbridgeError, match=match):
        read_s2(tmp_path)


def test_pan_ratio_accepts_the_ms_grid_refined_and_refuses_a_shifted_or_uneven_pan():
    ms = Grid("EPSG:32633", from_origin(400000, 5000000, 2.0, 2.0), 10, 10)
    pan = Grid("EPSG:32633", from_origin(400000, 5000000, 0.5, 0.5), 40, 40)
    assert pan_ratio(pan, ms) == 4
    with pytest.raises(BandbridgeError, match="not the MS grid refined 4×"):
        pan_ratio(Grid(pan.crs, pan.transform @ Affine.translation(0.3, 0), 40, 40), ms)
    with pytest.raises(BandbridgeError, match="not one whole ratio"):
        pan_ratio(Grid(pan.crs, pan.transform, 40, 30), ms)


def test_a_plain_pan_ms_pair_reads_with_its_ratio(tmp_path):
    _write(tmp_path / "ms.tif", np.arange(32).reshape(2, 4, 4), 1, crs=None, count=2)
    _write(tmp_path / "pan.tif", np.ones((8, 8)), 1, crs=None)
    pan, ms, r = read_pan_ms(tmp_path / "pan.tif", tmp_path / "ms.tif")
    assert r == 2 and pan.data.shape == (1, 8, 8) and ms.data.shape == (2, 4, 4) and ms.data[1, 0, 0] == 16


@needs_shared
def test_the_majortom_folder_reads_three_nested_sets():
    sets = read_s2(SHARED / "nir_s2_majortom")
    assert {r: s.data.shape for r, s in sets.items()} == {10: (4, 1068, 1068), 20: (6, 534, 534), 60: (2, 178, 178)}
    assert 0.02 < float(np.median(sets[20].data[4])) < 0.6  # B11 in reflectance


@needs_shared
@pytest.mark.parametrize("sensor", ["GeoEye1", "IKONOS", "WorldView2"])
def test_the_vhr_pairs_are_4x(sensor):
    pan, ms, r = read_pan_ms(SHARED / "nir_vhr_pansharp" / f"{sensor}_pan.tif",
                             SHARED / "nir_vhr_pansharp" / f"{sensor}_ms.tif")
    assert r == 4 and ms.names == ["blue", "green", "red", "nir"] and ms.data.shape == (4, 320, 320)


def test_product_bands_take_the_safes_offset_or_the_files_scale_and_invent_none(tmp_path):
    """As ``sharpen`` reads a Sentinel-2 folder: every band a reflectance; its linear map the SAFE's
    (baseline-04 offset), else the file's scale/offset, else none (a folder of DN that states nothing)."""
    from bandbridge.data.sentinel2 import is_s2, product_bands
    _write(tmp_path / "B02.tif", np.full((4, 4), 3000), 10)
    _write(tmp_path / "B05.tif", np.full((2, 2), 3000), 20)
    assert is_s2(tmp_path)
    assert [(b.name, b.kind, b.linear) for b in product_bands(tmp_path)] == [("B02", "reflectance", None),
                                                                             ("B05", "reflectance", None)]
    with rasterio.open(tmp_path / "B05.tif", "r+") as dst:
        dst.scales, dst.offsets = (0.0001,), (-0.1,)
    assert product_bands(tmp_path)[1].linear == pytest.approx((1e-4, -0.1))
    (tmp_path / "MTD_MSIL2A.xml").write_text('<x><BOA_ADD_OFFSET band_id="0">-1000</BOA_ADD_OFFSET></x>')
    assert [b.linear for b in product_bands(tmp_path)] == [pytest.approx((1e-4, -0.1))] * 2
    (tmp_path / "MTD_MSIL2A.xml").unlink()
    _write(tmp_path / "ndvi.tif", np.ones((4, 4)), 10)  # a band no Sentinel-2 product has: a plain folder
    assert not is_s2(tmp_path)
