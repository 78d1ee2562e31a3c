"""``fill -e stac``, ``--later stac`` and ``--sar stac`` (issue 75): the dates found by one search of
a local static STAC catalog over the scene's footprint, as ``predict --reference stac`` finds its
reference. Everything is built in ``tmp_path``: a uint16 Sentinel-2 scene (its SCL beside it) and
Items of one-band tiled GeoTIFF assets on a larger "tile" (bands at 10 m, SCL at 20 m; Sentinel-1
VV and VH), no network and no shared data. The Item taken is the nearest date at least half clear
over the scene, read windowed; the fill from it equals the fill from the same date given as a file."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio
from bandbridge.inference.place.tags import band as band_tags
from affine import Affine

pystac = pytest.importorskip("pystac", reason="pystac not installed (pip install 'bandbridge[stac]')")
from test_stac import serve  # noqa: E402,F401 - the fixture: a range-answering file server on 127.0.0.1

SIZE, TILE, OFF = 24, 40, 8  # the scene's pixels a side; the tile's; the scene's offset in the tile (pixels)
ORIGIN = (500_000.0, 5_600_000.0)  # the tile's corner, UTM 31N metres
BANDS = ("B02", "B03", "B04", "B08")
DAY = "20200610"  # the scene's date


def _tif(path: Path, data: np.ndarray, names=None, res: float = 10.0, at: float = 0.0, nodata=0, block: int = 16
         ) -> Path:
    """``data (C, H, W)`` as a tiled GeoTIFF (``block`` pixels a side), its corner ``at`` metres east
    and south of ``ORIGIN``."""
    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=data.dtype, nodata=nodata,
                       crs="EPSG:32631", transform=Affine(res, 0, ORIGIN[0] + at, 0, -res, ORIGIN[1] - at),
                       tiled=True, blockxsize=block, blockysize=block) as dst:
        dst.write(data)
        if names:
            dst.descriptions = tuple(names)
    return path


def _values(seed: int, n: int = TILE) -> np.ndarray:
    """Four bands of an ``n``-pixel tile in DN (reflectance × 10000)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    base = 500 + 100 * np.stack([yy + xx, yy, xx, 2 * yy + 10]) / n
    return (base + 20 * rng.standard_normal(base.shape)).astype("uint16")


def _scene(folder: Path, day: str = DAY, seed: int = 1) -> str:
    """The cloudy scene: the tile's middle ``SIZE`` pixels, clouds (SCL 9) over its left 14 columns."""
    folder.mkdir(parents=True, exist_ok=True)
    v = _values(seed)[:, OFF:OFF + SIZE, OFF:OFF + SIZE]
    f = _tif(folder / f"S2_{day}.tif", v, BANDS, at=10.0 * OFF)
    scl = np.full((1, SIZE // 2, SIZE // 2), 4, np.uint8)
    scl[:, :, :7] = 9
    _tif(folder / f"S2_{day}_SCL.tif", scl, ["SCL"], res=20.0, at=10.0 * OFF)
    return str(f)


def _scl(cloudy: bool, n: int = TILE) -> np.ndarray:
    return np.full((1, n // 2, n // 2), 9 if cloudy else 4, np.uint8)


def _item(folder: Path, name: str, day: str, cloud: float, assets: dict[str, np.ndarray], res: dict | None = None,
          block: int = 16, url: str = ""):
    """A pystac Item over the tile dated ``day`` whose assets are one-band files of ``assets`` in
    ``folder`` (``url``: served there, their hrefs http://)."""
    from rasterio.warp import transform_bounds
    folder.mkdir(parents=True, exist_ok=True)
    n = next(iter(assets.values())).shape[-1]
    bbox = list(transform_bounds("EPSG:32631", "EPSG:4326", ORIGIN[0], ORIGIN[1] - 10 * n, ORIGIN[0] + 10 * n,
                                 ORIGIN[1]))
    it = pystac.Item(name, None, bbox, datetime.strptime(day, "%Y%m%d").replace(hour=10, tzinfo=timezone.utc),
                     {"eo:cloud_cover": cloud})
    for key, a in assets.items():
        f = _tif(folder / f"{name}_{key}.tif", a[None] if a.ndim == 2 else a, res=(res or {}).get(key, 10.0),
                 nodata=None if a.dtype == np.float32 else 0, block=block)
        it.add_asset(key, pystac.Asset(f"{url}/{f.name}" if url else f.as_uri()))
    return it


def _s2(folder: Path, name: str, day: str, cloudy: bool = False, seed: int = 2, drop: str = "", n: int = TILE,
        **kw) -> "pystac.Item":
    v = _values(seed, n)
    assets = {b: v[i] for i, b in enumerate(BANDS)} | {"scl": _scl(cloudy, n)[0]}
    return _item(folder, name, day, 90.0 if cloudy else 5.0, {k: a for k, a in assets.items() if k != drop},
                 {"scl": 20.0}, **kw)


def _s1(folder: Path, name: str, day: str) -> "pystac.Item":
    rng = np.random.default_rng(7)
    return _item(folder, name, day, 0.0, {p: rng.uniform(0.01, 0.2, (TILE, TILE)).astype("float32")
                                          for p in ("vv", "vh")})


def _catalog(folder: Path, items) -> str:
    cat = pystac.Catalog("dates", "the place's dates")
    for it in items:
        cat.add_item(it)
    cat.normalize_and_save(str(folder / "stac"), pystac.CatalogType.SELF_CONTAINED)
    return str(folder / "stac" / "catalog.json")


@pytest.fixture
def place(tmp_path):
    """The scene; a catalog with a cloudy date 3 days before it, a clear one 9 days before, one 101
    days before (outside the search), a clear one 5 days after, and Sentinel-1 on 06-09 and 06-02."""
    a = tmp_path / "assets"
    cat = _catalog(tmp_path, [_s2(a, "cloudy", "20200607", cloudy=True), _s2(a, "clear", "20200601"),
                              _s2(a, "old", "20200301", seed=5), _s2(a, "after", "20200615", seed=3),
                              _s1(a, "s1-now", "20200609"), _s1(a, "s1-then", "20200602")])
    return _scene(tmp_path / "now"), cat


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return " ".join(err.split())


def _read(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as src:
        return src.read(), src.tags()


def test_as_many_dates_as_a_cube_gives():
    from bandbridge.policy import EARLIER_STEPS
    from bandbridge.inference.place.fill_stac import STAC_DATES
    assert STAC_DATES == EARLIER_STEPS


def test_earlier_stac_takes_the_nearest_clear_date_and_fills_as_that_file_does(place, run_cli, tmp_path):
    """The cloudy Item 3 days before is passed over by its SCL over the scene; the clear one 9 days
    before is taken (the old one lies outside the window, the later one after the scene); the fill
    equals the fill from that Item's bands given as one file with its SCL beside it."""
    scene, cat = place
    out = tmp_path / "found.tif"
    code, stdout, err = run_cli("fill", scene, "-e", cat, "-o", str(out))
    assert code == 0, err
    flat = " ".join(stdout.split())
    assert f"--earlier {cat}: 2 Item(s) of sentinel-2-l2a with the scene's bands and a cloud mask over " \
           "S2_20200610.tif from 2020-04-11 to 2020-06-09" in flat, stdout
    assert "taken, nearest first: clear (2020-06-01, 9 d before, 5 % cloud in the Item, 100% of the scene clear)" \
        in flat and "1 date(s) under 50% clear passed over" in flat
    found, tags = _read(out)
    assert tags["bandbridge_fill_stac_earlier"] == "clear (2020-06-01)"
    assert tags["bandbridge_fill_earlier_days"] == "9"
    direct = tmp_path / "direct"
    direct.mkdir()
    _tif(direct / "S2_20200601.tif", _values(2), BANDS)
    _tif(direct / "S2_20200601_SCL.tif", _scl(False), ["SCL"], res=20.0)
    code, _, err = run_cli("fill", scene, "-e", str(direct / "S2_20200601.tif"), "-o", str(tmp_path / "given.tif"))
    assert code == 0, err
    given, gtags = _read(tmp_path / "given.tif")
    assert (found[4] == 2).sum() > 100 and band_tags(tmp_path / "given.tif", 0)["bandbridge_route"] == band_tags(tmp_path / "found.tif", 0)["bandbridge_route"]
    np.testing.assert_array_equal(found, given)


def test_the_vrt_reads_only_the_footprint(place, tmp_path):
    """What fill is handed for an Item: a VRT over the scene's footprint and a margin, not the
    tile: its bands named as the scene's, the SCL a band beside them, dated by the Item."""
    from bandbridge.inference.place.fill_stac import found_dates
    scene, cat = place
    lines = []
    got = found_dates(scene, [cat], None, None, [cat], lines.append)
    assert len(got.earlier) == len(got.later) == 1 and len(lines) == 2
    with rasterio.open(got.earlier[0]) as v:
        assert v.descriptions == (*BANDS, "SCL") and v.tags()["BANDBRIDGE_DATE"] == "2020-06-01"
        assert (v.width, v.height) == (SIZE + 4, SIZE + 4) and v.transform.c == ORIGIN[0] + 10 * (OFF - 2)
        np.testing.assert_array_equal(v.read(4), _values(2)[3, OFF - 2:OFF + SIZE + 2, OFF - 2:OFF + SIZE + 2])
        assert set(np.unique(v.read(5))) == {4}
    assert got.tags == {"bandbridge_fill_stac_earlier": "clear (2020-06-01)",
                        "bandbridge_fill_stac_later": "after (2020-06-15)"}


def test_earlier_and_later_share_one_search(place, monkeypatch):
    """-e and --later of one catalog: one search over both windows; --sar another (its collection)."""
    from bandbridge.inference.place import fill_stac
    calls = []
    real = fill_stac.search_items
    monkeypatch.setattr(fill_stac, "search_items", lambda *a, **k: calls.append(a[2:4]) or real(*a, **k))
    scene, cat = place
    got = fill_stac.found_dates(scene, [cat], cat, None, [cat], lambda s: None)
    assert len(got.earlier) == len(got.later) == 1 and len(calls) == 2
    assert [(t0.date().isoformat(), t1.date().isoformat()) for t0, t1 in calls] == [
        ("2020-04-11", "2020-08-09"), ("2020-05-20", "2020-06-22")]  # 60 days either side; SAR 12 past the dates


def test_later_and_sar_stac_name_what_they_took(place, run_cli, tmp_path):
    """--later stac takes the clear date after the scene; --sar stac the Sentinel-1 Item nearest the
    scene and the one nearest the earlier date; the line and the tags name each Item."""
    scene, cat = place
    out = tmp_path / "o.tif"
    code, stdout, err = run_cli("fill", scene, "-e", cat, "--later", cat, "--sar", cat, "-o", str(out), "--plan")
    assert code == 0, err
    assert not out.exists()
    flat = " ".join(stdout.split())
    assert "after (2020-06-15, 5 d after" in flat
    assert "Sentinel-1 of sentinel-1-grd taken: s1-now (2020-06-09, 1 d from the scene), s1-then (2020-06-02, 1 d " \
           "from the nearest earlier date)" in flat
    from bandbridge.inference.place.fill_stac import found_dates
    got = found_dates(scene, [cat], cat, None, [cat], lambda s: None)
    assert got.tags["bandbridge_fill_stac_sar"] == "s1-now (2020-06-09)"
    assert got.tags["bandbridge_fill_stac_sar_earlier"] == "s1-then (2020-06-02)"
    with rasterio.open(got.sar) as v:
        assert v.descriptions == ("VV", "VH") and v.dtypes[0] == "float32"


def _refused(run_cli, tmp_path, *args) -> str:
    out = tmp_path / "never.tif"
    code, _, err = run_cli("fill", *args, "-o", str(out))
    assert code == 2 and not out.exists(), err
    return _one_line(err)


def test_no_item_in_the_window_says_the_window_and_collection(tmp_path, run_cli):
    cat = _catalog(tmp_path, [_s2(tmp_path / "a", "old", "20200301")])
    err = _refused(run_cli, tmp_path, _scene(tmp_path / "now"), "-e", cat)
    assert "no Item of sentinel-2-l2a over" in err and "from 2020-04-11 to 2020-06-09 (60 days before the scene's " \
        "2020-06-10)" in err


def test_a_catalog_that_cannot_be_read_is_one_line(tmp_path, run_cli):
    bad = tmp_path / "stac" / "catalog.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    err = _refused(run_cli, tmp_path, _scene(tmp_path / "now"), "-e", str(bad))
    assert f"--earlier {bad}: {bad} is no readable STAC Catalog" in err
    err = _refused(run_cli, tmp_path, _scene(tmp_path / "now"), "--later", str(tmp_path / "none" / "catalog.json"))
    assert "--later" in err and "no such catalog" in err


@pytest.mark.parametrize("drop, lacks", [("B08", "lacks B08"), ("scl", "lacks a cloud mask")])
def test_items_without_the_bands_or_the_cloud_mask_are_refused(tmp_path, run_cli, drop, lacks):
    cat = _catalog(tmp_path, [_s2(tmp_path / "a", "bare", "20200601", drop=drop)])
    err = _refused(run_cli, tmp_path, _scene(tmp_path / "now"), "-e", cat)
    assert "none with the scene's bands ['B02', 'B03', 'B04', 'B08'] and a cloud mask" in err and lacks in err


def test_an_asset_that_cannot_be_read_names_the_item(tmp_path, run_cli):
    it = _s2(tmp_path / "a", "gone", "20200601")
    it.assets["scl"].href = (tmp_path / "a" / "nowhere_scl.tif").as_uri()
    err = _refused(run_cli, tmp_path, _scene(tmp_path / "now"), "-e", _catalog(tmp_path, [it]))
    assert "Item gone's asset" in err and "nowhere_scl.tif cannot be read" in err


def test_only_cloudy_items_and_no_sar_are_refused(tmp_path, run_cli):
    cat = _catalog(tmp_path, [_s2(tmp_path / "a", "cloudy", "20200607", cloudy=True)])
    scene = _scene(tmp_path / "now")
    err = _refused(run_cli, tmp_path, scene, "-e", cat)
    assert "none at least 50% clear over the scene by its cloud mask (the clearest: cloudy of 2020-06-07, 0%)" in err
    clear = _catalog(tmp_path / "clear", [_s2(tmp_path / "b", "clear", "20200601")])
    err = _refused(run_cli, tmp_path, scene, "-e", clear, "--sar", clear)
    assert f"--sar {clear}: 1 Item(s), none with VV and VH assets of sentinel-1-grd over" in err


def test_a_scene_without_a_date_is_asked_for_one(place, tmp_path, run_cli):
    _, cat = place
    scene = _scene(tmp_path / "undated", day="scene")
    err = _refused(run_cli, tmp_path, scene, "-e", cat)
    assert "states no date" in err and "ACQUISITIONDATE=YYYY-MM-DD" in err



def test_remote_assets_are_read_by_window_never_whole(run_cli, tmp_path, serve):
    """Assets as http:// URLs (GDAL's /vsicurl/ against a server on 127.0.0.1 that answers byte
    ranges, as object stores do) on a 1024² tile in 128² blocks: the search, the clear check and the
    fill read headers and the blocks over the scene, each asset under a quarter of its bytes."""
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    url = serve(bucket)
    cat = _catalog(tmp_path, [_s2(bucket, "clear", "20200601", n=1024, block=128, url=url)])
    out = tmp_path / "o.tif"
    code, _, err = run_cli("fill", _scene(tmp_path / "now"), "-e", cat, "-o", str(out))
    assert code == 0, err
    assert _read(out)[1]["bandbridge_fill_stac_earlier"] == "clear (2020-06-01)"
    size = {f"/{p.name}": p.stat().st_size for p in bucket.iterdir()}
    sent: dict[str, int] = {}
    for command, path, rng in serve.requests():  # a HEAD sends no body; a GET without a range the whole file
        sent[path] = sent.get(path, 0) + (0 if command == "HEAD" else rng[1] - rng[0] + 1 if rng else size[path])
    assert sorted(sent) == sorted(size)  # every asset asked for: four bands and the SCL
    assert all(n < size[p] / 4 for p, n in sent.items()), {p: (n, size[p]) for p, n in sent.items()}


def test_a_stac_api_is_searched_once_for_the_collection_named(run_cli, tmp_path):
    """``-e URL#COLLECTION`` against a STAC API (a fake one on 127.0.0.1 that answers pystac-client's
    landing page and /search, and serves the assets by byte range): one search, of the collection
    named, over the scene's footprint and the 60 days before it; the Item found fills the gap."""
    import http.server
    import threading

    from test_stac import _Ranges
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    asked = []

    class Api(_Ranges):
        def do_GET(self):
            if self.path.rstrip("/") == "":
                return self._json({"type": "Catalog", "id": "fake", "stac_version": "1.0.0", "description": "a fake API",
                                   "conformsTo": ["https://api.stacspec.org/v1.0.0/core",
                                                  "https://api.stacspec.org/v1.0.0/item-search"],
                                   "links": [{"rel": r, "href": f"{base}/"} for r in ("self", "root")] +
                                   [{"rel": "search", "href": f"{base}/search", "type": "application/geo+json",
                                     "method": "POST"}]})
            return super().do_GET()

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(body)
            feats = [d for d in items if d["collection"] in body.get("collections", [])]
            return self._json({"type": "FeatureCollection", "features": feats, "links": []})

        def _json(self, d):
            data = json.dumps(d).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Api(*a, directory=str(bucket)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        items = []
        for it in (_s2(bucket, "clear", "20200601", url=base), _s2(bucket, "cloudy", "20200607", cloudy=True, url=base)):
            it.collection_id = "my-l2a"
            items.append(it.to_dict(include_self_link=False, transform_hrefs=False) | {"collection": "my-l2a"})
        out = tmp_path / "o.tif"
        code, stdout, err = run_cli("fill", _scene(tmp_path / "now"), "-e", f"{base}#my-l2a", "-o", str(out))
        assert code == 0, err
        assert f"--earlier {base}#my-l2a: 2 Item(s) of my-l2a" in " ".join(stdout.split())
        assert _read(out)[1]["bandbridge_fill_stac_earlier"] == "clear (2020-06-01)"
        (body,) = asked
        assert body["collections"] == ["my-l2a"] and body["datetime"].startswith("2020-04-11T00:00:00")
        assert body["datetime"].split("/")[1].startswith("2020-06-09T23:59:59")
        w, s, e, n = body["bbox"]
        assert 2.9 < w < e < 3.1 and 50.5 < s < n < 50.6  # the scene's footprint (UTM 31N at ORIGIN)
        code, _, err = run_cli("fill", _scene(tmp_path / "now"), "-e", f"{base}#other", "-o", str(tmp_path / "n.tif"))
        assert code == 2 and "no Item of other over" in _one_line(err) and not (tmp_path / "n.tif").exists()
    finally:
        srv.shutdown()
        srv.server_close()
