"""``interop/vrt.py``: a band's stated scale and offset reach every GDAL reader; its values stay stored."""

import numpy as np
import rasterio
from rasterio.transform import from_origin

from bandbridge.inference.interop.vrt import Band, Source, write_vrt


def _tif(path, values):
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=1, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 4000000, 20, 20)) as d:
        d.write(values, 1)


def test_a_bands_scale_and_offset_are_stated_and_its_values_kept(tmp_path):
    v = np.arange(12, dtype="uint16").reshape(3, 4) + 1000
    _tif(tmp_path / "b.tif", v)
    with rasterio.open(tmp_path / "b.tif") as s:
        crs, tr = s.crs, s.transform
    write_vrt(tmp_path / "b.vrt", 4, 3, crs, tr, [Band("uint16", [Source(tmp_path / "b.tif", 1)], 0, "B05",
                                                       scale=(1e-4, -0.1))])
    with rasterio.open(tmp_path / "b.vrt") as d:
        assert d.scales == (1e-4,) and d.offsets == (-0.1,) and d.descriptions == ("B05",)
        assert np.array_equal(d.read(1), v)  # the stored DN: a reader applies the map, the VRT does not


def test_no_scale_states_none(tmp_path):
    _tif(tmp_path / "b.tif", np.ones((3, 4), "uint16"))
    with rasterio.open(tmp_path / "b.tif") as s:
        crs, tr = s.crs, s.transform
    write_vrt(tmp_path / "b.vrt", 4, 3, crs, tr, [Band("uint16", [Source(tmp_path / "b.tif", 1)])])
    assert "<Scale>" not in (tmp_path / "b.vrt").read_text()
    with rasterio.open(tmp_path / "b.vrt") as d:
        assert d.scales == (1.0,) and d.offsets == (0.0,)
