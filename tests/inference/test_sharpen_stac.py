"""``bandbridge sharpen`` on a STAC Item (a local JSON or its URL) as FINE and ``--reference``: the Item
read as the product it describes (``inference/interop/stac_bands.py``), equal band for band to the same
files given as a band-per-file folder; over HTTP equal to the local run; the refusals. Tiny Items made
here, whose assets are small local COGs; the URL case served by a local range-answering server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from conftest import SHARED
from test_sharpen_read import refused, smooth_field, write_raster
from test_stac import serve  # noqa: F401 - the fixture: a range-answering file server on 127.0.0.1

ORIGIN = Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 5_000_000.0)
RES = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20,
       "B09": 60, "B11": 20, "B12": 20}
KEYS = {"B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1", "B06": "rededge2",
        "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09", "B11": "swir16", "B12": "swir22"}
COMMON = {"rededge1": "rededge", "rededge2": "rededge", "rededge3": "rededge"}
CENTRE = {"B05": 0.704, "B06": 0.740, "B07": 0.783}
SCALE, OFFSET = 1e-4, -0.1
SIDE = 120  # 10 m pixels a side: 60 at 20 m, 20 at 60 m


def chip(seed: int = 5) -> dict[str, np.ndarray]:
    """A real-looking Sentinel-2 L2A chip in DN (reflectance · 10000 + 1000): a few land covers whose
    bands move together, each band averaged to its own resolution; nodata (0) in a corner."""
    rng = np.random.default_rng(seed)
    veg, soil, water = (smooth_field(rng, (SIDE, SIDE), s) for s in (2.0, 3.0, 5.0))
    spectra = {"B01": (0.03, 0.02, 0.01), "B02": (0.04, 0.06, 0.02), "B03": (0.07, 0.09, 0.03),
               "B04": (0.04, 0.14, 0.02), "B05": (0.12, 0.17, 0.02), "B06": (0.30, 0.19, 0.02),
               "B07": (0.36, 0.20, 0.01), "B08": (0.40, 0.22, 0.01), "B8A": (0.42, 0.23, 0.01),
               "B09": (0.38, 0.21, 0.01), "B11": (0.20, 0.33, 0.005), "B12": (0.10, 0.28, 0.003)}
    out = {}
    for b, (v, s, w) in spectra.items():
        refl = 0.02 + v * veg + s * soil + w * (1 - water) + 0.005 * rng.normal(size=(SIDE, SIDE))
        k = RES[b] // 10
        dn = np.round(refl.reshape(SIDE // k, k, SIDE // k, k).mean((1, 3)) * 10000 + 1000)
        dn[0, 0] = 0
        out[b] = dn
    return out


def band_files(folder: Path, values: dict[str, np.ndarray], tagged: bool) -> Path:
    """One GeoTIFF a band named as Earth Search's files (``B05.tif``), nodata 0; ``tagged``: the files
    carry the scale and offset themselves (else only the Item states them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for b, v in values.items():
        write_raster(folder / f"{b}.tif", v, ORIGIN @ Affine.scale(RES[b] // 10), scale=(SCALE, OFFSET) if tagged
                     else None, nodata=0, tiled=True, blockxsize=16, blockysize=16)
    return folder


def item(path: Path, hrefs: dict[str, str], stac11: bool = False, extra: dict | None = None, **props) -> Path:
    """An Earth Search–style L2A Item of the band files ``hrefs`` (``{band: href}``): assets named by
    common name with ``eo:bands`` and ``raster:bands`` (STAC 1.1: ``bands`` with ``eo:common_name``),
    beside the assets a real Item has and sharpen leaves out (SCL, the visual TCI, a thumbnail, the
    metadata, and a JP2 copy of the blue band whose file is absent)."""
    assets = {}
    for b, href in hrefs.items():
        key = KEYS[b]
        common = COMMON.get(key, key)
        raster = {"nodata": 0, "data_type": "uint16", "scale": SCALE, "offset": OFFSET}
        band = {"name": key, "common_name": common} | ({"center_wavelength": CENTRE[b]} if b in CENTRE else {})
        a = {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"]}
        if stac11:
            a["bands"] = [{"name": key, "eo:common_name": common, "nodata": 0, "data_type": "uint16",
                           "raster:scale": SCALE, "raster:offset": OFFSET}]
        else:
            a |= {"eo:bands": [band], "raster:bands": [raster]}
        assets[key] = a
    assets |= {"scl": {"href": "./missing/SCL.tif", "type": "image/tiff; application=geotiff", "roles": ["data"]},
               "visual": {"href": "./missing/TCI.tif", "type": "image/tiff; application=geotiff", "roles": ["visual"],
                          "eo:bands": [{"name": n, "common_name": n} for n in ("red", "green", "blue")]},
               "thumbnail": {"href": "./missing/thumb.jpg", "type": "image/jpeg", "roles": ["thumbnail"]},
               "granule_metadata": {"href": "./missing/metadata.xml", "type": "application/xml", "roles": ["metadata"]},
               "blue-jp2": {"href": "./missing/B02.jp2", "type": "image/jp2", "roles": ["data"],
                            "eo:bands": [{"name": "blue", "common_name": "blue"}]}}
    d = {"type": "Feature", "stac_version": "1.1.0" if stac11 else "1.0.0", "id": "S2B_33TWM_20220601_0_L2A",
         "geometry": {"type": "Polygon", "coordinates": [[[15, 45], [15.01, 45], [15.01, 45.01], [15, 45]]]},
         "bbox": [15, 45, 15.01, 45.01],
         "properties": {"datetime": "2022-06-01T10:05:59Z", "platform": "sentinel-2b", "constellation": "sentinel-2",
                        "proj:epsg": 32617} | props,
         "links": [], "assets": assets | (extra or {}), "stac_extensions": []}
    path.write_text(json.dumps(d))
    return path


def run(run_cli, dst: Path, fine: str, reference: str, *more: str) -> tuple[str, np.ndarray, dict]:
    code, out, err = run_cli("sharpen", fine, "--reference", reference, "-o", str(dst), "--threads", "1", *more)
    assert code == 0, err
    with rasterio.open(dst) as d:
        said = {"dtype": d.dtypes, "units": d.units, "scales": d.scales, "offsets": d.offsets, "nodata": d.nodatavals,
                "names": d.descriptions, "crs": d.crs, "transform": d.transform, "tags": d.tags(),
                "band_tags": [d.tags(i) for i in range(1, d.count + 1)]}
        return out, d.read(), said


@pytest.fixture
def scene(tmp_path):
    """The chip as a tagged band folder and as untagged files an Item in ``tmp_path`` points at (some
    hrefs relative, some absolute)."""
    values = chip()
    folder = band_files(tmp_path / "folder", values, tagged=True)
    files = band_files(tmp_path / "files", values, tagged=False)
    hrefs = {b: (f"./files/{b}.tif" if i % 2 else str(files / f"{b}.tif")) for i, b in enumerate(values)}
    return folder, item(tmp_path / "item.json", hrefs), hrefs


def test_an_item_sharpens_as_its_band_folder_does(tmp_path, run_cli, scene):
    """The Item as FINE and --reference: its 10 m bands guide its 20 m and 60 m bands in one run, equal
    band for band (values, types, scale, offset, units, tags) to the run on a folder of the same bands
    whose files carry the scale and offset the Item states (its own files carry none)."""
    folder, it, _ = scene
    out_f, v_f, said_f = run(run_cli, tmp_path / "f.tif", str(folder), str(folder))
    out_i, v_i, said_i = run(run_cli, tmp_path / "i.tif", str(it), str(it))
    assert said_i["names"] == ("B01", "B05", "B06", "B07", "B8A", "B09", "B11", "B12")
    assert said_i["scales"] == (SCALE,) * 8 and said_i["offsets"] == (OFFSET,) * 8
    assert said_i["tags"].pop("bandbridge_reference") == "item.json"
    assert said_f["tags"].pop("bandbridge_reference") == "folder"
    assert said_i == said_f
    np.testing.assert_array_equal(v_i, v_f)
    assert "STAC Item S2B_33TWM_20220601_0_L2A" in out_i and "B05 from 'rededge1'" in out_i
    assert "guides: B02, B03, B04, B08 on a 120×120 grid" in out_i


def test_an_items_url_reads_its_assets_by_window_and_equals_the_local_run(tmp_path, run_cli, scene, serve):
    """The same Item served over HTTP (hrefs relative to its URL): read through /vsicurl/ by byte
    ranges, never a whole file, the left-out assets never asked; the output equals the local Item's."""
    _, it, hrefs = scene
    item(tmp_path / "remote.json", {b: f"./files/{b}.tif" for b in hrefs})
    url = serve(tmp_path)
    _, v_local, said_local = run(run_cli, tmp_path / "local.tif", str(it), str(it))
    out, v_url, said_url = run(run_cli, tmp_path / "url.tif", f"{url}/remote.json", f"{url}/remote.json")
    assert said_url["tags"].pop("bandbridge_reference") == "remote.json"
    said_local["tags"].pop("bandbridge_reference")
    assert said_url == said_local
    np.testing.assert_array_equal(v_url, v_local)
    assert f"FINE and --reference {url}/remote.json: STAC Item S2B_33TWM_20220601_0_L2A" in out
    asked = [r for r in serve.requests() if r[1].endswith((".tif", ".jp2", ".jpg", ".xml"))]
    assert {r[1] for r in asked} == {f"/files/{b}.tif" for b in hrefs}  # the band assets only
    assert all(r[2] is not None for r in asked if r[0] == "GET")  # byte ranges only
    assert [r[1] for r in serve.requests()].count("/remote.json") == 1  # the Item fetched once a run


def test_stac_11_bands_and_band_keys_and_a_rededge_known_by_its_wavelength(tmp_path, run_cli, scene):
    """Planetary Computer's way (assets keyed by band, ``B05``) in STAC 1.1's ``bands`` with ``raster:scale``,
    and an asset whose key and name say nothing but 'rededge' at 0.740 µm (B06): the same plan."""
    folder, _, hrefs = scene
    it = item(tmp_path / "pc.json", hrefs, stac11=True)
    d = json.loads(it.read_text())
    d["assets"] = {("band_x" if k == "rededge2" else b): a for b, (k, a) in zip(hrefs, list(d["assets"].items()))} | \
        {k: a for k, a in d["assets"].items() if k not in KEYS.values()}
    d["assets"]["band_x"]["bands"][0] |= {"name": "re", "eo:common_name": "rededge", "eo:center_wavelength": 0.741}
    it.write_text(json.dumps(d))
    _, v_i, said_i = run(run_cli, tmp_path / "i.tif", str(it), str(it))
    _, v_f, said_f = run(run_cli, tmp_path / "f.tif", str(folder), str(folder))
    said_i["tags"].pop("bandbridge_reference"), said_f["tags"].pop("bandbridge_reference")
    assert said_i == said_f
    np.testing.assert_array_equal(v_i, v_f)


def test_the_plan_names_the_item_and_each_bands_asset_and_writes_nothing(tmp_path, run_cli, scene):
    folder, it, _ = scene
    code, out, err = run_cli("sharpen", str(folder), "--reference", str(it), "-o", str(tmp_path / "o.tif"), "--plan")
    assert code == 0, err
    assert f"--reference {it}: STAC Item S2B_33TWM_20220601_0_L2A (Sentinel-2), 12 band asset(s), each read by " \
        "window" in out
    assert "B8A from 'nir08' (" in out and "B12 from 'swir22' (" in out and "'scl'" not in out and "'visual'" not in out
    assert "the reference's targets lie on 2 grids" in out and not (tmp_path / "o.tif").exists()


def _json(path: Path, d: dict) -> str:
    path.write_text(json.dumps(d))
    return str(path)


@pytest.mark.parametrize("case", ["no file", "collection", "search", "not json", "no band asset", "asset missing",
                                  "landsat l1"])
def test_what_is_no_readable_item_is_refused_in_one_line(tmp_path, run_cli, scene, case):
    folder, it, hrefs = scene
    d = json.loads(it.read_text())
    if case == "no file":
        bad, said = str(tmp_path / "none.json"), "no such file; give a STAC Item's JSON or its URL"
    elif case == "collection":
        bad, said = _json(tmp_path / "c.json", {"type": "Collection", "stac_version": "1.0.0", "id": "s2"}), \
            "JSON of type 'Collection', not a STAC Item"
    elif case == "search":
        bad, said = _json(tmp_path / "s.json", {"type": "FeatureCollection", "features": [d]}), "pass one Item"
    elif case == "not json":
        (tmp_path / "n.json").write_text("{not json")
        bad, said = str(tmp_path / "n.json"), "not valid JSON"
    elif case == "no band asset":
        d["assets"] = {k: a for k, a in d["assets"].items() if k in ("scl", "visual", "thumbnail")}
        bad, said = _json(tmp_path / "x.json", d), "no Sentinel-2 or Landsat band asset among its assets [scl, visual"
    elif case == "asset missing":
        d["assets"]["rededge1"]["href"] = "./nowhere/B05.tif"
        bad, said = _json(tmp_path / "x.json", d), f"asset 'rededge1' ({tmp_path}/nowhere/B05.tif): no such file"
    else:
        d["properties"]["platform"] = "landsat-8"
        d["assets"] = {"red": {"href": "./files/LC08_L1TP_016037_20170813_20200903_02_T1_B4.TIF", "type": "image/tiff"}}
        bad, said = _json(tmp_path / "l.json", d), "a Landsat Level-1 Item"
    line = refused(run_cli, tmp_path, str(folder), "--reference", bad, "-o", str(tmp_path / "o.tif"))
    assert line.removeprefix("error: ").startswith(f"--reference {bad}") and said in line, line
    line = refused(run_cli, tmp_path, bad, "--reference", str(folder), "-o", str(tmp_path / "o.tif"))
    assert line.removeprefix("error: ").startswith(f"FINE {bad}") and said in line, line


def test_a_url_that_cannot_be_fetched_and_an_asset_url_that_cannot_be_read_are_refused(tmp_path, run_cli, scene, serve):
    folder, it, hrefs = scene
    url = serve(tmp_path)
    line = refused(run_cli, tmp_path, str(folder), "--reference", f"{url}/absent.json", "-o", str(tmp_path / "o.tif"))
    said = line.removeprefix("error: ")
    assert said.startswith(f"--reference {url}/absent.json: cannot fetch it (") and "download the Item" in line, line
    line = refused(run_cli, tmp_path, f"{url}/files/B02.tif", "--reference", str(it), "-o", str(tmp_path / "o.tif"))
    assert "a raster's URL; sharpen reads a STAC Item's URL" in line and not [
        r for r in serve.requests() if r[1] == "/files/B02.tif"], line  # refused unread
    item(tmp_path / "remote.json", {b: f"./files/{b}.tif" for b in hrefs})
    far = tmp_path / "far"  # guides 300 km east: the URL named as given (Path would fold it to http:/…)
    far.mkdir()
    for b in ("B02", "B03", "B04", "B08"):
        write_raster(far / f"{b}.tif", np.full((30, 30), 2000.0) + np.arange(30), ORIGIN @ Affine.translation(30_000, 0))
    line = refused(run_cli, tmp_path, str(far), "--reference", f"{url}/remote.json", "-o", str(tmp_path / "o.tif"))
    assert f"--reference {url}/remote.json: does not overlap the input" in line, line
    hrefs = {b: f"./files/{b}.tif" for b in hrefs} | {"B11": "./files/gone.tif"}
    item(tmp_path / "remote.json", hrefs)
    line = refused(run_cli, tmp_path, str(folder), "--reference", f"{url}/remote.json", "-o", str(tmp_path / "o.tif"))
    assert f"asset 'swir16' ({url}/files/gone.tif): cannot be opened as a raster" in line, line


def test_a_landsat_level2_item_sharpens_surface_temperature_as_its_folder_does(tmp_path, run_cli):
    """A Landsat Collection 2 Level-2 Item (Earth Search's keys: ``red`` … ``lwir11``, the assets' scale and
    offset, a ``qa_pixel`` left out): SR_B2–SR_B7 guide ST_B10 read 3 × 3 on the 30 m grid, in K through
    the assets' scale; equal to the run on the product's folder with its MTL."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "LC09_L2SP"
    folder.mkdir()
    pid = "LC09_L2SP_016037_20220813_20220815_02_T1"
    origin = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_000_000.0)
    refl = np.stack([0.05 + 0.4 * smooth_field(rng, (96, 96), s) for s in (1.0, 1.3, 1.6, 2.0, 1.2, 1.8)])
    for n, r in zip(range(2, 8), refl):
        write_raster(folder / f"{pid}_SR_B{n}.TIF", np.round((r + 0.2) / 2.75e-5), origin)
    write_raster(folder / f"{pid}_ST_B10.TIF", np.round((295 + 15 * refl[3] - 10 * refl[2] - 149) / 0.00341802), origin)
    write_raster(folder / f"{pid}_QA_PIXEL.TIF", np.full((96, 96), 21824), origin)
    (folder / f"{pid}_MTL.txt").write_text(
        "TEMPERATURE_MULT_BAND_ST_B10 = 0.00341802\nTEMPERATURE_ADD_BAND_ST_B10 = 149.0\n"
        + "".join(f"REFLECTANCE_MULT_BAND_{n} = 2.75e-05\nREFLECTANCE_ADD_BAND_{n} = -0.2\n" for n in range(2, 8)))
    keys = {2: "blue", 3: "green", 4: "red", 5: "nir08", 6: "swir16", 7: "swir22"}
    assets = {k: {"href": f"./LC09_L2SP/{pid}_SR_B{n}.TIF", "type": "image/tiff; application=geotiff",
                  "eo:bands": [{"name": f"SR_B{n}", "common_name": k}],
                  "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 2.75e-5, "offset": -0.2}]}
              for n, k in keys.items()}
    assets["lwir11"] = {"href": f"./LC09_L2SP/{pid}_ST_B10.TIF", "type": "image/tiff; application=geotiff",
                        "eo:bands": [{"name": "ST_B10", "common_name": "lwir11"}],
                        "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 0.00341802, "offset": 149.0,
                                          "unit": "kelvin"}]}
    assets["qa_pixel"] = {"href": f"./LC09_L2SP/{pid}_QA_PIXEL.TIF", "type": "image/tiff; application=geotiff"}
    it = _json(tmp_path / "landsat.json", {
        "type": "Feature", "stac_version": "1.0.0", "id": pid, "geometry": None, "links": [], "assets": assets,
        "properties": {"datetime": "2022-08-13T15:50:00Z", "platform": "landsat-9"}})
    out_i, v_i, said_i = run(run_cli, tmp_path / "i.tif", it, it)
    out_f, v_f, said_f = run(run_cli, tmp_path / "f.tif", str(folder), str(folder))
    assert "guides: SR_B2, SR_B3, SR_B4, SR_B5, SR_B6, SR_B7" in out_i and "1 band(s) ST_B10 (uint16, in K)" in out_i
    assert "ST_B10 from 'lwir11'" in out_i and "'qa_pixel'" not in out_i
    said_i["tags"].pop("bandbridge_reference"), said_f["tags"].pop("bandbridge_reference")
    assert said_i == said_f
    np.testing.assert_array_equal(v_i, v_f)


CROP = 180  # 10 m pixels a side of the guides (1.8 km): seconds; the reference read by window over them


def test_an_item_of_the_majortom_cells_files_reads_its_window_as_the_folder_does(tmp_path, run_cli):
    """A real product: an Item whose twelve band assets are Major-TOM's own files (absolute hrefs, all
    1068² of them at 10 m), as --reference of guides cropped from its 10 m bands: only the window over
    the guides is read, and the output equals the run with Major-TOM's folder as the reference."""
    cell = SHARED / "nir_s2_majortom"
    if not (cell / "B09.tif").exists():
        pytest.skip(f"{cell} is absent or holds no 60 m band (B09.tif): the shared dev data is not here")
    guides = tmp_path / "guides"
    guides.mkdir()
    for b in ("B02", "B03", "B04", "B08"):
        with rasterio.open(cell / f"{b}.tif") as s:
            prof, v = s.profile, s.read(window=((60, 60 + CROP), (120, 120 + CROP)))
            prof.update(height=CROP, width=CROP, transform=s.window_transform(((60, 60 + CROP), (120, 120 + CROP))))
        with rasterio.open(guides / f"{b}.tif", "w", **prof) as d:
            d.write(v)
    assets = {KEYS[b]: {"href": str(cell / f"{b}.tif"), "type": "image/tiff; application=geotiff",
                        "eo:bands": [{"name": KEYS[b], "common_name": COMMON.get(KEYS[b], KEYS[b])}]} for b in RES}
    it = _json(tmp_path / "majortom.json", {"type": "Feature", "stac_version": "1.0.0", "id": "majortom-cell",
                                            "geometry": None, "links": [], "assets": assets,
                                            "properties": {"datetime": None, "start_datetime": "2020-01-01T00:00:00Z",
                                                           "end_datetime": "2020-12-31T00:00:00Z",
                                                           "constellation": "sentinel-2"}})
    out_i, v_i, said_i = run(run_cli, tmp_path / "i.tif", str(guides), it)
    out_f, v_f, said_f = run(run_cli, tmp_path / "f.tif", str(guides), str(cell))
    assert said_i["names"] == ("B01", "B05", "B06", "B07", "B8A", "B09", "B11", "B12")
    said_i["tags"].pop("bandbridge_reference"), said_f["tags"].pop("bandbridge_reference")
    assert said_i == said_f
    np.testing.assert_array_equal(v_i, v_f)


def test_s3_hrefs_are_read_through_vsis3(tmp_path, run_cli, scene, serve, monkeypatch):
    """``s3://bucket/key`` hrefs read through GDAL's /vsis3/ (here a local stand-in for the object store:
    its endpoint, path-style, unsigned): the output equals the local Item's, by byte ranges."""
    _, it, hrefs = scene
    url = serve(tmp_path)
    for k, v in {"AWS_S3_ENDPOINT": url.removeprefix("http://"), "AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE",
                 "AWS_NO_SIGN_REQUEST": "YES"}.items():
        monkeypatch.setenv(k, v)
    s3 = item(tmp_path / "s3.json", {b: f"s3://files/{b}.tif" for b in hrefs})
    _, v_local, said_local = run(run_cli, tmp_path / "local.tif", str(it), str(it))
    code, out, err = run_cli("sharpen", str(s3), "--reference", str(s3), "-o", str(tmp_path / "s3.tif"), "--plan")
    assert code == 0 and "B05 from 'rededge1' (s3://files/B05.tif)" in out, err
    _, v_s3, said_s3 = run(run_cli, tmp_path / "s3.tif", str(s3), str(s3))
    said_s3["tags"].pop("bandbridge_reference"), said_local["tags"].pop("bandbridge_reference")
    assert said_s3 == said_local
    np.testing.assert_array_equal(v_s3, v_local)
    assert {r[1] for r in serve.requests() if r[1].endswith(".tif")} == {f"/files/{b}.tif" for b in hrefs}


def test_a_models_guide_from_an_item_runs_on_its_guides_stacked(tmp_path, run_cli, scene):
    """``-m rgb2nir`` with the Item as FINE: the model runs on its 10 m bands stacked (not on the JSON), as
    for a band folder, and the output equals that folder's."""
    folder, it, _ = scene
    out_i, v_i, said_i = run(run_cli, tmp_path / "i.tif", str(it), str(it), "-m", "rgb2nir", "--bands", "B05,B11")
    out_f, v_f, said_f = run(run_cli, tmp_path / "f.tif", str(folder), str(folder), "-m", "rgb2nir", "--bands",
                             "B05,B11")
    assert "the model's guide: rgb2nir on model_input.tif" in out_i
    assert said_i["tags"]["bandbridge_guides"] == "B02,B03,B04,B08,rgb2nir"
    said_i["tags"].pop("bandbridge_reference"), said_f["tags"].pop("bandbridge_reference")
    assert said_i == said_f
    np.testing.assert_array_equal(v_i, v_f)


def test_an_items_url_as_reference_of_a_small_window_fetches_only_its_tiles(tmp_path, run_cli, serve):
    """Guides over a corner (96² at 10 m) of an Item whose 20 m assets are 600² COG-like files (64² tiles):
    of each asset only its header and the tiles over that window are fetched, a small share of the file."""
    rng = np.random.default_rng(7)
    files = tmp_path / "files"
    files.mkdir()
    for b in ("B05", "B11"):
        write_raster(files / f"{b}.tif", np.round(2000 + 3000 * smooth_field(rng, (600, 600), 2.0)),
                     ORIGIN @ Affine.scale(2), nodata=0, tiled=True, blockxsize=64, blockysize=64, compress="deflate")
    guides = tmp_path / "guides"
    guides.mkdir()
    for b in ("B02", "B03", "B04", "B08"):
        write_raster(guides / f"{b}.tif", np.round(2000 + 3000 * smooth_field(rng, (96, 96), 1.5)), ORIGIN, nodata=0)
    it = item(tmp_path / "remote.json", {"B05": "./files/B05.tif", "B11": "./files/B11.tif"})
    d = json.loads(it.read_text())
    del d["assets"]["blue-jp2"]  # with no GeoTIFF of B02 beside it, the JP2 copy would be its asset (absent here)
    it.write_text(json.dumps(d))
    url = serve(tmp_path)
    _, v, said = run(run_cli, tmp_path / "o.tif", str(guides), f"{url}/remote.json")
    assert said["names"] == ("B05", "B11") and v.shape[1:] == (96, 96)
    fetched: dict[str, int] = {}
    for _, path, got in serve.requests():
        if got is not None:
            fetched[path] = fetched.get(path, 0) + got[1] - got[0] + 1
    for b in ("B05", "B11"):
        size = (files / f"{b}.tif").stat().st_size
        assert 0 < fetched[f"/files/{b}.tif"] < 0.25 * size, (b, fetched, size)
