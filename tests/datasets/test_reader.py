import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from bandbridge.bands import SCALINGS, get_scaling
from bandbridge.data import read_raster
from bandbridge.errors import BandbridgeError
from conftest import SAMPLE, SHARED, needs_shared

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20180716.tif"


def test_naip_sample_values_bands_and_georeference():
    with rasterio.open(NAIP) as src:
        raw = src.read()
        crs, transform = src.crs, src.transform
    r = read_raster(NAIP, SCALINGS["uint8"], ["red", "green", "blue"])
    assert r.data.dtype == np.float32 and r.data.shape == (3, 256, 256)
    np.testing.assert_allclose(r.data, raw[:3] / 255.0, rtol=0, atol=1e-7)
    assert r.bands == ["RED", "GREEN", "BLUE"] and r.mask.all()
    assert r.crs.to_epsg() == 26914 and r.transform == transform
    nir = read_raster(NAIP, SCALINGS["uint8"], [3])  # selection by index works too
    np.testing.assert_allclose(nir.data[0], raw[3] / 255.0, atol=1e-7)


def test_boundless_window_masks_outside_and_shifts_transform():
    r = read_raster(NAIP, SCALINGS["uint8"], ["nir"], window=(-10, 250, 32, 32))
    assert r.data.shape == (1, 32, 32)
    assert not r.mask[:10].any() and not r.mask[:, 6:].any() and r.mask[10:, :6].all()
    assert (r.data[:, ~r.mask] == 0).all()
    with rasterio.open(NAIP) as src:
        assert r.transform == src.transform @ src.transform.translation(250, -10)


def test_nodata_nan_and_zero_are_masked(tmp_path):
    p = tmp_path / "s2.tif"
    a = np.full((2, 4, 5), 1234, np.uint16)
    a[:, 0, 0] = 0  # Sentinel-2 nodata
    a[0, 1, 1] = 65535  # declared nodata value
    with rasterio.open(p, "w", driver="GTiff", height=4, width=5, count=2, dtype="uint16",
                       crs="EPSG:32633", transform=from_origin(500000, 4600000, 10, 10),
                       nodata=65535) as dst:
        dst.write(a)
    r = read_raster(p, get_scaling("reflectance_10000"))
    assert not r.mask[0, 0] and not r.mask[1, 1] and r.mask.sum() == 18
    assert r.data[0, 2, 2] == pytest.approx(0.1234)
    f = tmp_path / "f.npy"
    arr = np.random.rand(3, 6, 7).astype(np.float32)
    arr[1, 2, 3] = np.nan
    np.save(f, arr)
    r = read_raster(f, get_scaling("reflectance"))
    assert not r.mask[2, 3] and r.mask.sum() == 41 and np.isfinite(r.data).all()


def test_scalings_round_trip():
    for name in ("reflectance_10000", "uint8", "uint16", "sar_db"):
        s = get_scaling(name)
        raw = np.array([s.clip[0], (s.clip[0] + s.clip[1]) / 2, s.clip[1]], np.float32)
        enc = s.encode(raw)
        assert enc.min() == pytest.approx(0.0) and enc.max() == pytest.approx(1.0)
        np.testing.assert_allclose(s.decode(enc), raw, rtol=1e-5, atol=1e-3)
    assert get_scaling("sar_db").encode(np.array([-50.0, 20.0])).tolist() == [0.0, 1.0]
    # Landsat C2 L2: reflectance = DN × 2.75e-5 − 0.2
    assert get_scaling("landsat_c2").encode(np.array([7273.0 + 10000.0]))[0] == pytest.approx(0.275, abs=1e-4)
    mm = get_scaling("minmax", 10, 20)
    assert mm.encode(np.array([15.0]))[0] == pytest.approx(0.5)


def test_png_gray_read_as_rgb(tmp_path):
    from PIL import Image
    p = tmp_path / "g.png"
    Image.fromarray((np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)).save(p)
    r = read_raster(p, get_scaling("uint16"), ["red", "green", "blue"])
    assert r.data.shape == (3, 8, 8) and r.crs is None and r.transform is None
    np.testing.assert_allclose(r.data[2], np.arange(64).reshape(8, 8) * 1000 / 65535, atol=1e-6)


def test_bad_band_and_file_messages(tmp_path):
    with pytest.raises(BandbridgeError, match="no band named 'B11'"):
        read_raster(NAIP, SCALINGS["uint8"], ["B11"])
    with pytest.raises(BandbridgeError, match="band index 7 out of range"):
        read_raster(NAIP, SCALINGS["uint8"], [7])
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff")
    with pytest.raises(BandbridgeError, match="junk.tif: cannot read"):
        read_raster(junk, SCALINGS["uint8"])


@needs_shared
def test_sentinel2_band_folder_nodata_and_crs():
    folder = SHARED / "nir_s2_riotilerpds" / "S2A_29RKH_20200219_L2A_100m"
    r = read_raster(folder, get_scaling("reflectance_10000"), ["B04", "B03", "B02", "B08"])
    with rasterio.open(folder / "B08.tif") as src:
        raw = src.read(1)
        assert r.crs == src.crs and r.transform == src.transform
    assert r.crs.to_epsg() == 32629 and r.data.shape == (4, 1098, 1098)
    np.testing.assert_allclose(r.data[3][raw > 0], raw[raw > 0] / 10000.0, rtol=1e-6)
    assert (~r.mask).sum() == (raw == 0).sum()  # zeros (if any) are nodata, not dark ground


@needs_shared
def test_npy_stack_scene_and_sen1floods_nan():
    p = SHARED / "nir_s2_eolearn" / "REFERENCE_SCENES.npy"
    arr = np.load(p)
    r = read_raster(f"{p}[2]", get_scaling("reflectance"), ["B04", "B08"], sensor="s2_l1c")
    np.testing.assert_allclose(r.data, np.moveaxis(arr[2], -1, 0)[[3, 7]], atol=1e-7)
    with pytest.raises(BandbridgeError, match=r"\[k\]"):
        read_raster(p, get_scaling("reflectance"))
    s1 = SHARED / "sar_sen1floods11" / "S1" / "Spain_7370579_S1Hand.tif"
    r = read_raster(s1, get_scaling("sar_db"), ["VV", "VH"])
    with rasterio.open(s1) as src:
        raw = src.read()
    assert r.crs.to_epsg() == 4326
    assert (~r.mask).sum() == (~np.isfinite(raw).all(0)).sum()
    assert 0.0 <= r.data.min() and r.data.max() <= 1.0


@needs_shared
def test_wildfire_descriptions_name_bands():
    p = next((SHARED / "wildfire_s2_20m" / "pre_fire").glob("HURST_*.tif"))
    r = read_raster(p, get_scaling("reflectance_10000"), ["B04", "B08"])
    assert r.bands == ["B04", "B08"]
    with rasterio.open(p) as src:
        np.testing.assert_allclose(r.data[1], np.clip(src.read(4), 0, 10000) / 10000, atol=1e-6)


def test_decimated_read_is_the_strided_full_read_and_uses_overviews(tmp_path):
    from bandbridge.data.reader import read_decimated
    rng = np.random.default_rng(0)
    a = rng.integers(1, 255, (3, 3000, 2500), dtype=np.uint8)
    a[:, 100:400, 200:900] = 0  # a nodata patch, masked alike
    path = tmp_path / "big.tif"
    prof = {"driver": "GTiff", "height": 3000, "width": 2500, "count": 3, "dtype": "uint8",
            "nodata": 0, "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
            "crs": "EPSG:32614", "transform": from_origin(500000, 5000000, 10, 10)}
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(a)
    s = get_scaling("uint8")
    full = read_raster(path, s, [0, 1, 2])
    dec = read_decimated(path, s, [0, 1, 2], max_side=1024)  # k = 3, read in row chunks
    assert dec.meta["decimation"] == 3
    np.testing.assert_array_equal(dec.data, full.data[:, ::3, ::3])
    np.testing.assert_array_equal(dec.mask, full.mask[::3, ::3])
    with rasterio.open(path, "r+") as dst:  # a COG-like file: the overview is read instead
        dst.build_overviews([2, 4])
    ov = read_decimated(path, s, [0, 1, 2], max_side=1024)
    assert ov.data.shape == (3, 1000, 834) and 0.02 < 1 - ov.mask.mean() < 0.035  # 2.8 % nodata


def test_the_look_and_the_statistics_share_one_decimated_read_of_a_large_file(tmp_path, monkeypatch):
    """Planning looks at every band, the predictor's statistics at the model's: one decoding pass
    serves both, validity stays per band (a band-4 nodata pixel is valid for bands 1–3), and a
    file changed in between is read again."""
    from bandbridge.data import formats, reader
    rng = np.random.default_rng(1)
    a = rng.integers(1, 255, (4, 2400, 2100), dtype=np.uint8)
    a[3, :50, :] = 0  # only the fourth band is nodata there
    a[:, 2000:, :] = 0  # every band is nodata here
    path = tmp_path / "big.tif"
    prof = {"driver": "GTiff", "height": 2400, "width": 2100, "count": 4, "dtype": "uint8", "nodata": 0,
            "tiled": True, "blockxsize": 256, "blockysize": 256, "crs": "EPSG:32614",
            "transform": from_origin(500000, 5000000, 10, 10)}
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(a)
    reads = []
    real = formats.read_bands
    monkeypatch.setattr(reader, "read_bands", lambda *x, **k: reads.append(1) or real(*x, **k))
    s, raw = get_scaling("uint8"), reader.Scaling("raw", 0.0, 1.0)
    look = reader.read_decimated(path, raw, max_side=1024)  # k = 3: all four bands
    n = len(reads)
    rgb = reader.read_decimated(path, s, [0, 1, 2], max_side=1024)
    assert len(reads) == n  # served by the look's read
    full = read_raster(path, s, [0, 1, 2])
    np.testing.assert_array_equal(rgb.data, full.data[:, ::3, ::3])
    np.testing.assert_array_equal(rgb.mask, full.mask[::3, ::3])
    assert rgb.mask[:16].all() and not look.mask[:16].any()  # band 4's nodata counts only where read
    a[0, :600] = 7
    with rasterio.open(path, "r+") as dst:  # changed: read again, not served stale
        dst.write(a)
    again = reader.read_decimated(path, s, [0, 1, 2], max_side=1024)
    assert len(reads) > n and (again.data[0, :200] == np.float32(7 / 255)).all()


def test_an_integer_file_skips_the_finiteness_pass_and_a_float_file_keeps_it(tmp_path, monkeypatch):
    from bandbridge.data import reader
    calls = []
    real = np.isfinite
    monkeypatch.setattr(reader.np, "isfinite", lambda x: calls.append(1) or real(x))
    for dtype, values in (("uint16", np.full((1, 40, 40), 500, np.uint16)),
                          ("float32", np.full((1, 40, 40), 0.5, np.float32))):
        p = tmp_path / f"{dtype}.tif"
        if dtype == "float32":
            values[0, 3, 4] = np.nan
        with rasterio.open(p, "w", driver="GTiff", height=40, width=40, count=1, dtype=dtype) as dst:
            dst.write(values)
        n = len(calls)
        r = read_raster(p, get_scaling("reflectance" if dtype == "float32" else "reflectance_10000"))
        assert (len(calls) > n) == (dtype == "float32")
        assert r.mask.sum() == 1600 - (dtype == "float32") and np.isfinite(r.data).all()


def test_a_strided_read_of_a_float_file_keeps_only_the_pixels_it_returns(tmp_path):
    """The decimated look of a float32 raster held every chunk it decoded (a strided view of
    each): 3.2 GB for a 20000² two-band SAR mosaic, planned at 1.5 GB. It must own a copy."""
    import rasterio
    from bandbridge.data.formats import read_bands
    path = tmp_path / "f.tif"
    data = np.random.default_rng(0).random((2, 200, 300)).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=300, height=200, count=2, dtype="float32") as d:
        d.write(data)
    with rasterio.open(path) as src:
        arr, valid = read_bands(src, [1, 2], stride=10)
    assert arr.shape == (2, 20, 30) and arr.base is None and arr.flags.owndata
    np.testing.assert_array_equal(arr, data[:, ::10, ::10])
