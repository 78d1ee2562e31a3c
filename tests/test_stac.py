"""STAC Items: an item with one asset per band is predicted like the raster it describes, and
every output gets a STAC Item that pystac validates (core schema, offline)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import rasterio
import rasterio.warp

from conftest import SAMPLE

pystac = pytest.importorskip("pystac", reason="pystac not installed (pip install 'bandbridge[stac]')")
pytest.importorskip("jsonschema", reason="jsonschema not installed (pip install 'bandbridge[stac]')")

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


def _item_with_band_assets(folder, stac11: bool = False):
    """Split the real NAIP scene into one GeoTIFF per band and describe them in a STAC Item."""
    with rasterio.open(NAIP) as src:
        prof = src.profile | {"count": 1}
        data = src.read()
        bounds = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    assets = {}
    for i, (key, common) in enumerate([("B3", "blue"), ("B1", "red"), ("B2", "green"), ("B4", "nir")]):
        band = {"B1": 0, "B2": 1, "B3": 2, "B4": 3}[key]
        with rasterio.open(folder / f"{key}.tif", "w", **prof) as dst:
            dst.write(data[band:band + 1])
        fields = {"bands": [{"name": key, "eo:common_name": common}]} if stac11 else \
            {"eo:bands": [{"name": key, "common_name": common}]}
        assets[key] = pystac.Asset(f"./{key}.tif", media_type=pystac.MediaType.GEOTIFF, roles=["data"],
                                   extra_fields=fields)
    w, s, e, n = bounds
    item = pystac.Item("naip-2020-08-31", {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
                       [w, s, e, n], pystac.utils.str_to_datetime("2020-08-31T17:00:00Z"), {})
    for k, a in assets.items():
        item.add_asset(k, a)
    path = folder / "item.json"
    path.write_text(json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False)))
    return path


@pytest.mark.parametrize("stac11", [False, True])
def test_a_stac_item_is_predicted_like_its_raster_and_gets_an_item(run_cli, tmp_path, stac11):
    src = tmp_path / "item"
    src.mkdir()
    item = _item_with_band_assets(src, stac11)
    fixed = ["--backend", "torch", "--precision", "fp32", "--dtype", "float32"]
    code, out, err = run_cli("predict", str(item), "-m", "rgb2nir-naip", "-o", str(tmp_path / "out"), "--stac", *fixed)
    assert code == 0, err
    got = tmp_path / "out" / "naip-2020-08-31_rgb2nir-naip.tif"
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "ref.tif"), *fixed)
    assert code == 0, err
    with rasterio.open(got) as a, rasterio.open(tmp_path / "ref.tif") as b:
        assert (a.crs, a.transform, a.shape) == (b.crs, b.transform, b.shape)
        assert np.nanmax(np.abs(a.read() - b.read())) <= 1e-5  # red, green, blue found by common name
    written = json.loads(got.with_suffix(".json").read_text())
    core = dict(written, stac_extensions=[])  # the core schema ships with pystac: no network
    pystac.validation.validate_dict(core)
    it = pystac.Item.from_dict(written)
    assert it.id == "naip-2020-08-31_rgb2nir-naip" and it.datetime.isoformat().startswith("2020-08-31T17:00")
    assert it.geometry == json.loads(item.read_text())["geometry"]
    bands = it.assets["data"].extra_fields["eo:bands"]
    assert bands == [{"name": "synthetic_nir", "common_name": "nir",
                      "description": "nir synthesised by bandbridge model rgb2nir-naip from red, green, blue"}]
    assert it.assets["data"].href == got.name
    assert any(l.rel == "derived_from" and l.href.endswith("item.json") for l in it.links)


def test_a_plain_raster_gets_its_footprint_and_a_marked_processing_time(run_cli, tmp_path):
    code, _, err = run_cli("predict", str(NAIP), "-m", "rgb2nir-naip", "-o", str(tmp_path / "n.tif"), "--stac")
    assert code == 0, err
    d = json.loads((tmp_path / "n.json").read_text())
    pystac.validation.validate_dict(dict(d, stac_extensions=[]))
    assert d["properties"]["bandbridge:datetime"].startswith("processing time")
    w, s, e, n = d["bbox"]
    assert -100 < w < e < -98 and 47 < s < n < 48  # the scene's footprint in WGS84 (North Dakota)


def test_an_item_without_rgb_common_names_is_one_line(run_cli, tmp_path):
    item = _item_with_band_assets(tmp_path)
    d = json.loads(item.read_text())
    d["assets"]["B1"]["eo:bands"][0]["common_name"] = "coastal"
    item.write_text(json.dumps(d))
    code, _, err = run_cli("predict", str(item), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o"))
    assert code == 2 and "no asset with eo:bands common name red" in err


@pytest.mark.parametrize("item_id", ["../../escaped", "/tmp/bandbridge-abs-escape", "..", "a/../../b",
                                     "..\\..\\win", "sub/dir/id", "", "~/home"])
def test_an_items_id_never_names_a_path_outside_the_cache(run_cli, tmp_path, monkeypatch, item_id):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(cache))
    src = tmp_path / "cat" / "items"
    src.mkdir(parents=True)
    item = _item_with_band_assets(src)
    d = json.loads(item.read_text())
    item.write_text(json.dumps(d | {"id": item_id}))
    before = {p for p in tmp_path.rglob("*")}
    code, out, err = run_cli("predict", str(item), "-m", "rgb2nir-naip", "-o", str(tmp_path / "out"),
                             "--backend", "torch", "--precision", "fp32")
    assert code == 0, err
    made = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in made if not (p.is_relative_to(cache) or p.is_relative_to(tmp_path / "out"))]
    assert not outside, outside
    vrts = list(cache.rglob("*.vrt"))
    assert len(vrts) == 1 and ".." not in vrts[0].name and "/" not in vrts[0].stem
    assert not list((tmp_path / "out").glob("*/*")) and len(list((tmp_path / "out").glob("*.tif"))) == 1
    assert not os.path.exists("/tmp/bandbridge-abs-escape.vrt")


@pytest.mark.parametrize("href,says", [("../../../../etc/passwd", "is not a readable raster"),
                                       ("/nonexistent/b1.tif", "not found"),
                                       ("https://example.com/b1.tif", "is not a local file")])
def test_an_asset_href_that_is_no_local_raster_is_one_line(run_cli, tmp_path, href, says):
    item = _item_with_band_assets(tmp_path)
    d = json.loads(item.read_text())
    d["assets"]["B1"]["href"] = href
    item.write_text(json.dumps(d))
    code, out, err = run_cli("predict", str(item), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o"))
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and says in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


def test_a_malformed_item_is_one_line(run_cli, tmp_path):
    item = _item_with_band_assets(tmp_path)
    d = json.loads(item.read_text())
    del d["geometry"], d["properties"]
    item.write_text(json.dumps(d))
    code, _, err = run_cli("predict", str(item), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o"))
    assert code == 2 and "not a valid STAC Item" in err and "Traceback" not in err, err
