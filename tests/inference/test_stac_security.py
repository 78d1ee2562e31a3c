"""What a STAC Item, catalog or API may make bandbridge read or ask for (issue 85, point 1), driven
against local HTTP servers in threads (127.0.0.1, and 127.0.0.2 as "another host"): an asset href
is a relative path, an absolute local path (of a local Item), http(s):// or s3://, nothing else
(no ``/vsi…`` path, no GDAL connection string or option, no other scheme), so no local file is read
through an href and sent anywhere; an Item's URL is followed only within the host the user named;
the whole fetch is cut at its deadline; JSON nested past the bound is refused in one line. The
same rules hold for ``sharpen``, ``predict`` (an Item as input, ``--reference CATALOG``) and
``fill -e``/``--sar`` (a catalog, a STAC API)."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from pathlib import Path

import pytest

pystac = pytest.importorskip("pystac", reason="pystac not installed (pip install 'bandbridge[stac]')")
from test_sharpen_read import refused  # noqa: E402
from test_sharpen_stac import item, scene  # noqa: E402,F401 - the fixture: a chip's band folder and its Item
from test_stac import _Ranges  # noqa: E402

SECRET = "X-Secret: hunter2"


class _Host(_Ranges):
    """A range-answering file server that logs every request with its headers (``heard``) and
    answers some paths itself (``routes``: path → function of the handler)."""

    heard: list = []
    routes: dict = {}

    def send_head(self):
        self.heard.append((self.command, self.path, str(self.headers)))
        route = self.routes.get(self.path.split("?")[0])
        if route is not None:
            try:
                route(self)
            except OSError:  # the client hung up (a fetch cut at its deadline)
                pass
            return None
        return super().send_head()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_head()


@pytest.fixture
def hosts():
    """hosts(folder, ip) → (http://IP:PORT, its handler class: ``heard``, ``routes``)."""
    servers = []

    def start(folder: Path, ip: str = "127.0.0.1"):
        handler = type("H", (_Host,), {"heard": [], "routes": {}})
        srv = http.server.ThreadingHTTPServer((ip, 0), lambda *a: handler(*a, directory=str(folder)))
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://{ip}:{srv.server_address[1]}", handler
    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _answer(handler, status: int, body: bytes = b"", **headers) -> None:
    handler.send_response(status)
    for k, v in headers.items():
        handler.send_header(k.replace("_", "-"), v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _one_line(code: int, err: str) -> str:
    said = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(said) == 1 and "Traceback" not in err, (code, err)
    return said[0]


def _leaked(*handlers) -> list:
    return [r for h in handlers for r in h.heard if "hunter2" in r[2] or "hunter2" in r[1]]


def _bad_hrefs(tmp_path: Path, url: str) -> dict[str, str]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    b05 = f"{url}/files/B05.tif"
    return {"vsicurl options": f"/vsicurl?header_file={secret}&url={b05}",
            "a /vsi path": f"/vsicurl/{b05}",
            "up to /vsi": "../" * 40 + f"vsicurl?header_file={secret}&url={b05}",
            "connection string": f"GTIFF_DIR:1:{tmp_path}/files/B05.tif",
            "other scheme": "ftp://127.0.0.1/files/B05.tif"}


@pytest.mark.parametrize("case", ["vsicurl options", "a /vsi path", "up to /vsi", "connection string",
                                  "other scheme"])
def test_an_href_gdal_would_take_options_from_is_refused_and_nothing_is_sent(tmp_path, run_cli, scene, hosts,
                                                                             case):
    """The trial's Item: ``/vsicurl?header_file=LOCALFILE&url=…`` sent the file's line as a header on the
    HEAD and the ranged GET and exited 0. Now refused in one line naming the Item, the asset and the
    href and what is accepted; the server hears nothing of B05 (nor of the secret)."""
    folder, _, hrefs = scene
    url, host = hosts(tmp_path)
    bad = _bad_hrefs(tmp_path, url)[case]
    evil = item(tmp_path / "evil.json", hrefs | {"B05": bad})
    line = refused(run_cli, tmp_path, str(folder), "--reference", str(evil), "-o", str(tmp_path / "o.tif"))
    assert f"--reference {evil}: asset 'rededge1' ({bad}):" in line, line
    assert "relative, absolute local (or file:///), http(s):// and s3:// hrefs" in line, line
    assert not [r for r in host.heard if "B05" in r[1]] and not _leaked(host), host.heard


def test_a_query_in_an_http_href_goes_to_its_server_never_to_gdal(tmp_path, run_cli, scene, hosts):
    """``http://HOST/B05.tif?header_file=LOCALFILE`` is a URL: the query is sent as the URL's (quoted),
    GDAL reads no option of it and no local file."""
    folder, _, hrefs = scene
    url, host = hosts(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    ok = item(tmp_path / "q.json", hrefs | {"B05": f"{url}/files/B05.tif?header_file={secret}"})
    code, _, err = run_cli("sharpen", str(folder), "--reference", str(ok), "-o", str(tmp_path / "o.tif"),
                           "--threads", "1")
    assert code == 0, err
    asked = [r for r in host.heard if r[1].startswith("/files/B05.tif")]
    assert asked and all(r[1] == f"/files/B05.tif?header_file={secret}" for r in asked), asked
    assert not [r for r in host.heard if "X-Secret" in r[2]]


def test_a_remote_items_hrefs_stay_on_its_host_and_name_no_local_file(tmp_path, run_cli, scene, hosts):
    """An Item read from a URL: an absolute path is a path on its host (never the local file of that
    name, which exists here), and a relative href naming another host (``//127.0.0.2:PORT/…``) is
    refused, that host hearing nothing."""
    folder, _, hrefs = scene
    url, host = hosts(tmp_path)
    other, far = hosts(tmp_path, "127.0.0.2")
    local = str(tmp_path / "files" / "B05.tif")
    item(tmp_path / "abs.json", {b: f"./files/{b}.tif" for b in hrefs} | {"B05": local})
    line = refused(run_cli, tmp_path, str(folder), "--reference", f"{url}/abs.json", "-o", str(tmp_path / "o.tif"))
    assert f"asset 'rededge1' ({url}{local}): cannot be opened as a raster" in line, line
    assert [r for r in host.heard if r[1] == local]  # asked of the Item's host, not read here
    net = f"//127.0.0.2:{other.rsplit(':', 1)[1]}/files/B05.tif"
    item(tmp_path / "net.json", {b: f"./files/{b}.tif" for b in hrefs} | {"B05": net})
    line = refused(run_cli, tmp_path, str(folder), "--reference", f"{url}/net.json", "-o", str(tmp_path / "o.tif"))
    assert f"asset 'rededge1' ({net}): a relative href that leaves the Item's host" in line, line
    assert far.heard == []


def test_a_redirect_to_another_host_is_refused_and_one_within_it_followed(tmp_path, run_cli, scene, hosts):
    """302 to another host: refused saying where it went, that host hearing nothing. 302 within the
    host: followed, and relative hrefs resolve against the URL it ends at (``/new/``), not the one
    named (``/old/``)."""
    folder, _, hrefs = scene
    url, host = hosts(tmp_path)
    other, far = hosts(tmp_path, "127.0.0.2")
    (tmp_path / "new").mkdir()
    item(tmp_path / "new" / "item.json", {b: f"./files/{b}.tif" for b in hrefs})
    shutil.copytree(tmp_path / "files", tmp_path / "new" / "files")
    host.routes["/away.json"] = lambda h: _answer(h, 302, Location=f"{other}/new/item.json")
    host.routes["/old/item.json"] = lambda h: _answer(h, 302, Location="/new/item.json")
    line = refused(run_cli, tmp_path, str(folder), "--reference", f"{url}/away.json", "-o", str(tmp_path / "o.tif"))
    assert f"--reference {url}/away.json: the server redirects it to {other}/new/item.json, another host" in line
    assert far.heard == []
    code, _, err = run_cli("sharpen", str(folder), "--reference", f"{url}/old/item.json", "-o",
                           str(tmp_path / "o.tif"), "--threads", "1")
    assert code == 0, err
    assert {r[1] for r in host.heard if r[1].endswith(".tif")} == {f"/new/files/{b}.tif" for b in hrefs}


def _trickle(head: bool):
    """A route that sends its answer one byte every 0.2 s (40 bytes: 8 s), in its headers or its body."""
    def route(h):
        if head:
            h.wfile.write(b"HTTP/1.0 200 OK\r\n")
            for c in b"X-Slow: " + b"z" * 40 + b"\r\n\r\n":
                h.wfile.write(bytes([c]))
                time.sleep(0.2)
            return
        h.send_response(200)
        h.send_header("Content-Length", "40")
        h.end_headers()
        for _ in range(40):
            h.wfile.write(b" ")
            time.sleep(0.2)
    return route


@pytest.mark.parametrize("head", [False, True], ids=["body", "headers"])
def test_a_trickling_server_is_cut_at_the_deadline_of_the_whole_fetch(tmp_path, run_cli, scene, hosts, monkeypatch,
                                                                      head):
    """One byte at a time never trips a per-read timeout; the deadline is on the whole fetch (here
    2 s, the answer taking 8 s)."""
    monkeypatch.setattr("bandbridge.inference.interop.stac_io.FETCH_SECONDS", 2)
    folder, _, _ = scene
    url, host = hosts(tmp_path)
    host.routes["/slow.json"] = _trickle(head)
    line = refused(run_cli, tmp_path, str(folder), "--reference", f"{url}/slow.json", "-o", str(tmp_path / "o.tif"))
    assert f"--reference {url}/slow.json: no whole answer within 2 s" in line, line


DEEP = {"lists": "[" * 200_000 + "]" * 200_000, "objects": '{"a":' * 50_000 + "1" + "}" * 50_000}


@pytest.mark.parametrize("shape", list(DEEP))
def test_deeply_nested_json_is_refused_in_one_line(tmp_path, run_cli, scene, hosts, shape):
    """A local Item, an Item's URL, a predict input and a catalog: one line, no RecursionError."""
    from test_fill_stac import _scene
    from test_reference import TEST
    folder = scene[0]
    deep = tmp_path / "deep"
    deep.mkdir()
    for name in ("item.json", "catalog.json"):
        (deep / name).write_text(DEEP[shape])
    url, _ = hosts(deep)
    said = "JSON nested deeper than 100 levels"
    for where in (str(deep / "item.json"), f"{url}/item.json"):
        line = refused(run_cli, tmp_path, str(folder), "--reference", where, "-o", str(tmp_path / "o.tif"))
        assert line.removeprefix("error: ").startswith(f"--reference {where}: {said}"), line
    for args in (("predict", str(deep / "item.json"), "-m", "rgb2nir-naip"),
                 ("predict", str(TEST), "-m", "rgb2nir-naip", "--reference", str(deep / "catalog.json")),
                 ("fill", _scene(tmp_path / "now"), "-e", str(deep / "catalog.json"))):
        code, _, err = run_cli(*args, "-o", str(tmp_path / "o.tif"))
        assert said in _one_line(code, err) and not (tmp_path / "o.tif").exists(), err


def _patch(catalog: str, name: str, key: str, href: str) -> None:
    """Set the asset ``key`` of the saved Item ``name`` of ``catalog`` to ``href``."""
    (p,) = Path(catalog).parent.rglob(f"{name}.json")
    d = json.loads(p.read_text())
    d["assets"][key]["href"] = href
    p.write_text(json.dumps(d))


def _reference_with(tmp_path: Path, run_cli, href: str):
    """``predict --reference CATALOG`` on an aerial image, the catalog's one Item's ``nir`` asset
    at ``href``: the CLI's ``(code, out, err)``."""
    from test_reference import _catalog as _ref_catalog
    from test_reference import aerial
    ref = tmp_path / "ref"
    ref.mkdir()
    _, rgb, truth, _ = aerial(ref)
    cat = str(_ref_catalog(ref, truth, [("clear", "2020-09-02", 3.0)]))
    _patch(cat, "clear", "nir", href)
    return run_cli("predict", str(rgb), "-m", "rgb2nir", "--reference", cat, "-o", str(tmp_path / "o.tif"))


def test_fill_and_predict_reference_apply_the_same_href_rule(tmp_path, run_cli, hosts):
    """``fill -e CATALOG``, ``fill --sar CATALOG`` and ``predict --reference CATALOG``: the trial's href in
    the Item the search takes is refused in one line naming the asset; the server hears nothing."""
    from test_fill_stac import _catalog, _s1, _s2, _scene
    url, host = hosts(tmp_path)
    bad = _bad_hrefs(tmp_path, url)["vsicurl options"]
    a = tmp_path / "assets"
    cat = _catalog(tmp_path, [_s2(a, "clear", "20200601"), _s1(a, "s1-now", "20200609")])
    scene_file = _scene(tmp_path / "now")
    _patch(cat, "clear", "B04", bad)
    code, _, err = run_cli("fill", scene_file, "-e", cat, "-o", str(tmp_path / "o.tif"))
    assert f"asset 'B04' ({bad}):" in _one_line(code, err) and "http(s)://" in err, err
    _patch(cat, "clear", "B04", (a / "clear_B04.tif").as_uri())
    _patch(cat, "s1-now", "vv", bad)
    code, _, err = run_cli("fill", scene_file, "-e", cat, "--sar", cat, "-o", str(tmp_path / "o.tif"))
    assert f"asset 'vv' ({bad}):" in _one_line(code, err), err
    code, _, err = _reference_with(tmp_path, run_cli, bad)
    assert f"asset 'nir' ({bad}):" in _one_line(code, err), err
    assert not (tmp_path / "o.tif").exists() and not [r for r in host.heard if "B05" in r[1]] and not _leaked(host)


def test_an_items_input_to_predict_applies_the_same_href_rule(tmp_path, run_cli, hosts):
    from test_stac import _item_with_band_assets
    url, host = hosts(tmp_path)
    bad = _bad_hrefs(tmp_path, url)["vsicurl options"]
    src = tmp_path / "item"
    src.mkdir()
    path = _item_with_band_assets(src)
    d = json.loads(path.read_text())
    d["assets"]["B1"]["href"] = bad  # red
    path.write_text(json.dumps(d))
    code, _, err = run_cli("predict", str(path), "-m", "rgb2nir-naip", "-o", str(tmp_path / "out"))
    assert f"asset 'B1' ({bad}):" in _one_line(code, err) and not (tmp_path / "out").exists(), err
    assert not host.heard


def test_a_stac_api_is_asked_only_on_its_own_host(tmp_path, run_cli, hosts):
    """``fill -e URL#COLLECTION``: an API whose landing page sends its search to another host is refused
    saying so, that host hearing nothing; an Item it returns with the trial's href is refused as a
    local Item's is."""
    from test_fill_stac import _s2, _scene
    url, host = hosts(tmp_path)
    other, far = hosts(tmp_path, "127.0.0.2")
    search = {"at": f"{other}/search"}
    found: list = []

    def landing(h):
        _answer(h, 200, json.dumps({
            "type": "Catalog", "id": "fake", "stac_version": "1.0.0", "description": "a fake API",
            "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"],
            "links": [{"rel": r, "href": f"{url}/"} for r in ("self", "root")] +
                     [{"rel": "search", "href": search["at"], "type": "application/geo+json", "method": "POST"}]
        }).encode(), Content_Type="application/json")
    host.routes["/"] = landing
    host.routes["/search"] = lambda h: _answer(h, 200, json.dumps(
        {"type": "FeatureCollection", "features": found, "links": []}).encode(), Content_Type="application/json")
    scene_file = _scene(tmp_path / "now")
    code, _, err = run_cli("fill", scene_file, "-e", f"{url}#my-l2a", "-o", str(tmp_path / "o.tif"))
    assert f"{other}/search" in _one_line(code, err) and "another host" in err, err
    assert far.heard == []
    search["at"] = f"{url}/search"
    it = _s2(tmp_path / "bucket", "clear", "20200601", url=url)
    d = it.to_dict(include_self_link=False, transform_hrefs=False) | {"collection": "my-l2a"}
    d["assets"]["B04"]["href"] = bad = _bad_hrefs(tmp_path, url)["vsicurl options"]
    found.append(d)
    code, _, err = run_cli("fill", scene_file, "-e", f"{url}#my-l2a", "-o", str(tmp_path / "o.tif"))
    assert f"asset 'B04' ({bad}):" in _one_line(code, err), err
    assert not (tmp_path / "o.tif").exists() and not _leaked(host, far)


def test_an_asset_served_as_a_vrt_is_refused_before_its_sources_are_read(tmp_path, run_cli, scene, hosts):
    """A remote ``B05.tif`` whose bytes are a VRT names its own sources, ``/vsicurl?header_file=LOCALFILE``
    among them, read at its first pixel: refused on the asset's first open (an asset over the network
    is GeoTIFF or JPEG 2000), by sharpen's Item, predict's Item, fill's and predict --reference's catalogs."""
    from test_fill_stac import _catalog, _s2, _scene
    from test_stac import _item_with_band_assets
    folder, _, hrefs = scene
    url, host = hosts(tmp_path)
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "B05.tif").write_text(
        '<VRTDataset rasterXSize="60" rasterYSize="60"><VRTRasterBand dataType="UInt16" band="1"><SimpleSource>'
        f'<SourceFilename relativeToVRT="0">/vsicurl?header_file={tmp_path}/secret.txt&amp;url={url}/files/B05.tif'
        '</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>')
    bad = f"{url}/evil/B05.tif"
    said = f"({bad}): GDAL reads it as VRT, a format that can name other files"
    evil = item(tmp_path / "evil.json", hrefs | {"B05": bad})
    assert said in refused(run_cli, tmp_path, str(folder), "--reference", str(evil), "-o", str(tmp_path / "o.tif"))
    src = tmp_path / "item"
    src.mkdir()
    path = _item_with_band_assets(src)
    d = json.loads(path.read_text())
    d["assets"]["B1"]["href"] = bad
    path.write_text(json.dumps(d))
    code, _, err = run_cli("predict", str(path), "-m", "rgb2nir-naip", "-o", str(tmp_path / "out"))
    assert f"asset {bad}: GDAL reads it as VRT" in _one_line(code, err), err
    cat = _catalog(tmp_path, [_s2(tmp_path / "assets", "clear", "20200601")])
    _patch(cat, "clear", "scl", bad)
    code, _, err = run_cli("fill", _scene(tmp_path / "now"), "-e", cat, "-o", str(tmp_path / "o.tif"))
    assert f"asset {bad}: GDAL reads it as VRT" in _one_line(code, err), err
    code, _, err = _reference_with(tmp_path, run_cli, bad)
    assert f"asset {bad}: GDAL reads it as VRT" in _one_line(code, err), err
    assert not _leaked(host) and not [r for r in host.heard if r[1] == "/files/B05.tif"], host.heard


@pytest.mark.parametrize("text,depth", [('{"a": [1, {"b": []}]}', 4), ('["[[[", "]", "{"]', 1),
                                        (r'["a\"[[[", {"k\\": [[]]}]', 4), (r'["\\\"[", []]', 2),
                                        ("[" * 101 + "]" * 101, 101), ('"no brackets"', 0)])
def test_json_depth_counts_brackets_outside_strings_only(text, depth):
    from bandbridge.inference.interop.stac_io import json_depth
    assert json_depth(text) == depth
    assert depth > 100 or json_depth(text) == _recursive_depth(json.loads(text))


def _recursive_depth(v) -> int:
    kids = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
    return 0 if kids is None else 1 + max((_recursive_depth(k) for k in kids), default=0)


LOCAL, REMOTE = "/data/items/item.json", "https://stac.example.com:8443/items/x/item.json"


@pytest.mark.parametrize("href,base,gdal", [
    ("./B05.tif", LOCAL, "/data/items/B05.tif"),
    ("../cogs/B05.tif", LOCAL, "/data/cogs/B05.tif"),
    ("file:///data/other/B05%20a.tif", LOCAL, "/data/other/B05 a.tif"),
    ("/srv/B05.tif", LOCAL, "/srv/B05.tif"),
    ("https://Bucket.example.com/a b/B05.tif?sig=x y&z=1#frag", LOCAL,
     "/vsicurl/https://bucket.example.com/a%20b/B05.tif?sig=x%20y&z=1"),
    ("s3://sentinel-cogs/tiles/B05.tif", LOCAL, "/vsis3/sentinel-cogs/tiles/B05.tif"),
    ("./B05.tif", REMOTE, "/vsicurl/https://stac.example.com:8443/items/x/B05.tif"),
    ("/elsewhere/B05.tif", REMOTE, "/vsicurl/https://stac.example.com:8443/elsewhere/B05.tif"),
    ("https://other.example.com/B05.tif", REMOTE, "/vsicurl/https://other.example.com/B05.tif"),
])
def test_the_hrefs_taken_and_what_gdal_opens_of_them(href, base, gdal):
    from bandbridge.inference.interop.stac_io import gdal_href
    assert gdal_href(href, base, "x") == gdal


@pytest.mark.parametrize("href,base,why", [
    ("/vsis3/bucket/B05.tif", LOCAL, "a GDAL virtual file path"),
    ("../../../vsicurl?url=http://h/x.tif", LOCAL, "resolves to a GDAL virtual file path"),
    ("HDF5:/data/x.h5://band", LOCAL, "'hdf5:' is no scheme bandbridge reads"),
    ("vrt:///data/x.tif?bands=1", LOCAL, "'vrt:' is no scheme"),
    ("ftp://h/B05.tif", LOCAL, "'ftp:' is no scheme"),
    ("B05.tif\n", LOCAL, "control characters"),
    ("http://user:secret@h/B05.tif", LOCAL, "is no host[:port]"),
    ("file:///etc/passwd", REMOTE, "only a local document may"),
    ("//other.example.com/B05.tif", REMOTE, "a relative href that leaves the Item's host"),
    ("./B05.tif", None, "whose location is unknown"),
])
def test_the_hrefs_refused_say_why_and_what_is_read(href, base, why):
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.interop.stac_io import gdal_href
    with pytest.raises(BandbridgeError) as e:
        gdal_href(href, base, "item.json: asset 'x'")
    assert str(e.value).startswith("item.json: asset 'x': ") and why in str(e.value), str(e.value)
    assert str(e.value).endswith("relative, absolute local (or file:///), http(s):// and s3:// hrefs")
