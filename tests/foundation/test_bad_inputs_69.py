"""Issue 69, a bad-input and fault trial, closed class by class: every path a user gives that is no
regular file is refused before it is opened (a named pipe hung `compare` and `predict --reference`);
every failure reading a static STAC catalog is one line naming the file, and a catalog that lists
itself is walked once (it was a STACError and a RecursionError); a corrupt cache entry of any kind
is built again (a stamp of random bytes was a UnicodeDecodeError); and a `cache clear` from another
shell at the dangerous moments of building and loading an ONNX graph stops nothing (it was
onnxruntime's NoSuchFile)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio

from bandbridge.errors import BandbridgeError
from conftest import HANG_S, SAMPLE

NAIP = SAMPLE / "nir_naip_opengeos"
TEST = NAIP / "m_4709963_se_14_1_20200831.tif"  # georeferenced, dated by its name


def one_line(code: int, out: str, err: str, *fragments: str) -> None:
    """Exit 2, no traceback, one line on stderr holding every fragment."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and "Traceback" not in out and len(lines) == 1 and lines[0].startswith("error:"), (code, out, err)
    for f in fragments:
        assert f in lines[0], err


# ------------------------------------------------------------------ 1. no regular file
class Pipes:
    """Named pipes that never hang a reader: a thread a pipe opens it for writing and closes it,
    again and again, so a reader that opens one (the bug) reads an empty file and fails instead of
    waiting for ever; :meth:`close` lets the last writer go where nothing opened it (the fix)."""

    def __init__(self):
        self.stop = threading.Event()
        self.pipes: list[tuple[Path, threading.Thread]] = []

    def make(self, path: Path) -> Path:
        os.mkfifo(path)

        def writer():
            while not self.stop.is_set():
                with open(path, "wb"):
                    pass
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        self.pipes.append((path, t))
        return path

    def close(self) -> None:
        self.stop.set()
        for path, t in self.pipes:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # the waiting writer's open returns
            t.join(HANG_S)
            os.close(fd)
            assert not t.is_alive()


@pytest.fixture
def pipes():
    p = Pipes()
    yield p
    p.close()


@pytest.fixture
def fifo(tmp_path, pipes):
    return pipes.make(tmp_path / "target.tif")


@pytest.fixture
def sock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a socket's name has a short length limit: bound relative
    s = socket.socket(socket.AF_UNIX)
    s.bind("target.sock")
    yield tmp_path / "target.sock"
    s.close()


@pytest.fixture(params=["fifo", "socket", "device"])
def special(request):
    """``(path, what the refusal calls it)`` of each kind of path that is no regular file."""
    if request.param == "fifo":
        return request.getfixturevalue("fifo"), "a named pipe (FIFO)"
    if request.param == "socket":
        return request.getfixturevalue("sock"), "a socket"
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    return Path("/dev/null"), "a character device"


def test_compare_refuses_a_target_that_is_no_regular_file(run_cli, tmp_path, special):
    path, kind = special
    code, out, err = run_cli("compare", str(TEST), str(path), "-m", "rgb2nir-naip", "-o", str(tmp_path / "out"))
    one_line(code, out, err, str(path), kind, "not a regular file", "give that raster's path")
    assert not (tmp_path / "out").exists()


def test_every_command_refuses_a_pipe_before_opening_it(run_cli, tmp_path, fifo, pipes):
    """The reader's one way in (raster_info, open_raster) serves every command: an input, a
    reference, a reference's mask, a band of a band folder, a pipe in an input folder."""
    out = tmp_path / "o.tif"
    ref = tmp_path / "s2_nir_20200831.tif"
    with rasterio.open(TEST) as s:
        prof, nir = s.profile, s.read(4)
    prof.update(count=1, width=s.width // 4, height=s.height // 4, transform=s.transform @ s.transform.scale(4))
    with rasterio.open(ref, "w", **prof) as o:
        o.write(nir[None, ::4, ::4][:, :prof["height"], :prof["width"]])
    for args, flag in [(["predict", str(fifo), "-m", "rgb2nir-naip"], ""),
                       (["predict", str(TEST), "-m", "rgb2nir-naip", "--reference", str(fifo)], "--reference"),
                       (["predict", str(TEST), "-m", "rgb2nir-naip", "--reference", str(ref),
                         "--reference-mask", str(fifo)], "--reference-mask")]:
        code, stdout, err = run_cli(*args, "-o", str(out))
        one_line(code, stdout, err, f"{flag} {fifo}".strip(), "a named pipe (FIFO)")
        assert not out.exists()
    # a folder where a file belongs
    code, stdout, err = run_cli("predict", str(TEST), "-m", "rgb2nir-naip", "--reference", str(ref),
                                "--reference-mask", str(tmp_path), "-o", str(out))
    one_line(code, stdout, err, f"--reference-mask {tmp_path} is a folder")
    # an input folder holding a pipe among its rasters; a band folder one of whose bands is a pipe
    folder, bands = tmp_path / "in", tmp_path / "bands"
    folder.mkdir()
    bands.mkdir()
    shutil.copy(TEST, folder / "a.tif")
    pipes.make(folder / "b.tif")
    with rasterio.open(TEST) as s:
        prof = s.profile | {"count": 1}
        for i, name in enumerate(["B02", "B03", "B04"]):
            with rasterio.open(bands / f"{name}.tif", "w", **prof) as o:
                o.write(s.read(3 - i)[None])
    pipes.make(bands / "B01.tif")
    for item, culprit in [(folder, folder / "b.tif"), (bands, bands / "B01.tif")]:
        code, stdout, err = run_cli("predict", str(item), "-m", "rgb2nir-naip", "-o", str(tmp_path / "outs"))
        one_line(code, stdout, err, str(culprit), "a named pipe (FIFO)")
    assert not (tmp_path / "outs").exists()


def test_an_empty_reference_folder_is_one_line(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli("predict", str(TEST), "-m", "rgb2nir-naip", "--reference", str(tmp_path / "empty"),
                             "-o", str(tmp_path / "o.tif"))
    one_line(code, out, err, f"--reference {tmp_path / 'empty'}: the folder holds no .tif or .jp2 band files")


# ------------------------------------------------------------------ 2. static STAC catalogs
def _item(folder: Path, name: str, **extra) -> Path:
    d = {"type": "Feature", "stac_version": "1.0.0", "id": name, "geometry": None,
         "bbox": [-180, -90, 180, 90], "properties": {"datetime": "2020-08-30T00:00:00Z"},
         "links": [], "assets": {"nir": {"href": "./nir.tif"}}} | extra
    (folder / f"{name}.json").write_text(json.dumps(d))
    return folder / f"{name}.json"


def _catalog(folder: Path, children=(), items=(), name="catalog.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    d = {"type": "Catalog", "id": folder.name, "stac_version": "1.0.0", "description": "x",
         "links": [{"rel": "child", "href": c} for c in children] + [{"rel": "item", "href": i} for i in items]}
    (folder / name).write_text(json.dumps(d))
    return folder / name


def _refuse(run_cli, tmp_path, cat: Path, *fragments: str) -> None:
    code, out, err = run_cli("predict", str(TEST), "-m", "rgb2nir-naip", "--reference", str(cat),
                             "-o", str(tmp_path / "o.tif"))
    one_line(code, out, err, f"--reference {cat}", *fragments)
    assert not (tmp_path / "o.tif").exists()


def test_an_item_that_is_not_json_is_one_line_naming_it(run_cli, tmp_path):
    pytest.importorskip("pystac", reason="pystac not installed (pip install 'bandbridge[stac]')")
    cat = _catalog(tmp_path / "stac", items=["./a.json"])
    (tmp_path / "stac" / "a.json").write_text("{not json")
    _refuse(run_cli, tmp_path, cat, str(tmp_path / "stac" / "a.json"), "fix or re-download it")


def test_a_catalog_that_lists_itself_is_walked_once(run_cli, tmp_path):
    pytest.importorskip("pystac", reason="pystac not installed (pip install 'bandbridge[stac]')")
    cat = _catalog(tmp_path / "stac", children=["./catalog.json"])
    _refuse(run_cli, tmp_path, cat, "no Item of sentinel-2-l2a")


def test_catalog_cycles_and_every_bad_file_in_one(tmp_path, pipes):
    """Cycles through an ancestor are walked once (each Item yielded once); a link to nothing, to a
    pipe, to JSON of another kind, an Item of the wrong shape: each one line naming the file."""
    pytest.importorskip("pystac", reason="pystac not installed (pip install 'bandbridge[stac]')")
    from bandbridge.inference.interop.stac_search import _catalog_items, walk_catalog
    root = tmp_path / "stac"
    _catalog(root / "sub", children=["../catalog.json", "./catalog.json"], items=["./a.json"])
    _item(root / "sub", "a")
    cat = _catalog(root, children=["./sub/catalog.json", "./sub/catalog.json"], items=["./sub/a.json"])
    assert [it.id for it in walk_catalog(str(cat), "--reference x")] == ["a"]
    t0, t1 = datetime(2020, 8, 1, tzinfo=timezone.utc), datetime(2020, 9, 30, tzinfo=timezone.utc)
    assert [it.id for it in _catalog_items(str(cat), (-1, -1, 1, 1), t0, t1, "sentinel-2-l2a")] == ["a"]
    cases = {"missing": (["./gone.json"], "does not exist"),
             "pipe": (["./pipe.json"], "a named pipe (FIFO)"),
             "list": (["./list.json"], "is no readable STAC"),
             "folder": (["./sub"], "is a folder")}
    pipes.make(root / "pipe.json")
    (root / "list.json").write_text("[1, 2]")
    for name, (links, says) in cases.items():
        bad = _catalog(root, items=links, name=f"bad-{name}.json")
        with pytest.raises(BandbridgeError, match="^--reference x: .*" + re.escape(says)) as e:
            list(walk_catalog(str(bad), "--reference x"))
        assert "\n" not in str(e.value)
    _item(root, "bbox", bbox=["west", 0, 1, 1])
    bad = _catalog(root, items=["./bbox.json"], name="bbox-cat.json")
    with pytest.raises(BandbridgeError, match="bbox.json: an Item with a malformed bbox"):
        _catalog_items(str(bad), (-1, -1, 1, 1), t0, t1, "sentinel-2-l2a")
    # the catalog itself a pipe, or a folder named like one
    pipes.make(tmp_path / "catalog.json")
    with pytest.raises(BandbridgeError, match="--reference .*catalog.json is a named pipe"):
        _catalog_items(str(tmp_path / "catalog.json"), (-1, -1, 1, 1), t0, t1, "sentinel-2-l2a")


def test_malformed_asset_bands_are_no_bands(tmp_path):
    """eo:bands of another shape (strings, an object) was an AttributeError in the band reader."""
    pystac = pytest.importorskip("pystac", reason="pystac not installed (pip install 'bandbridge[stac]')")
    from bandbridge.inference.interop.stac import band_names
    for bands, names in [(["red"], [None]), ({"name": "red"}, []), ([{"common_name": "red"}, 3], ["red", None])]:
        assert band_names(pystac.Asset("x.tif", extra_fields={"eo:bands": bands})) == names


# ------------------------------------------------------------------ 3. a corrupt cache entry
def _builder(calls: list):
    def build(p: Path) -> None:
        calls.append(p)
        (p.parent / "companion.json").write_text("{}")
        p.write_bytes(b"graph bytes")
    return build


@pytest.mark.parametrize("damage", ["random-stamp", "empty-stamp", "stamp-folder", "truncated", "no-stamp"])
def test_a_corrupt_cache_entry_is_built_again(tmp_path, monkeypatch, damage):
    from bandbridge.inference.runtime import cache
    for state in ("_MINE", "_OWN", "_FALLBACK"):  # this process's state, the test's own
        monkeypatch.setattr(cache, state, {} if state == "_MINE" else [], raising=False)
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "cache" / "onnx" / "0123456789abcdef" / "model.onnx"
    stamp = path.with_name("model.onnx.sha256")
    calls: list = []
    assert cache.artefact(path, _builder(calls)) == path and path.read_bytes() == b"graph bytes"
    assert (path.parent / "companion.json").exists() and len(calls) == 1
    monkeypatch.setattr(cache, "_MINE", {}, raising=False)  # as in a later run
    if damage == "random-stamp":
        stamp.write_bytes(np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes() + b"\xff\xfe")
    elif damage == "empty-stamp":
        stamp.write_bytes(b"")
    elif damage == "stamp-folder":
        stamp.unlink()
        stamp.mkdir()
    elif damage == "truncated":
        path.write_bytes(b"graph")
    else:
        stamp.unlink()
    got = cache.artefact(path, _builder(calls))
    assert len(calls) == 2 and got.read_bytes() == b"graph bytes"
    if damage == "stamp-folder":  # a folder in the way is not ours to delete: the own copy serves
        assert stamp.is_dir() and got != path
    else:
        assert got == path and stamp.read_bytes() == cache.sha256_file(path).encode()
    assert not [p for p in path.parent.iterdir() if ".partial" in p.name]  # nothing half-written
    assert path.parent not in {c.parent for c in calls}  # built in a folder of the process's own, then copied


def test_a_random_stamp_beside_a_real_graph_never_stops_a_predict(run_cli, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'bandbridge[onnx]')")
    cache = tmp_path / "cache"
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(cache))
    run = ["predict", str(TEST), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o.tif"), "--backend", "onnx",
           "--precision", "fp32", "--overwrite"]
    assert run_cli(*run)[0] == 0
    stamp = next(cache.glob("onnx/*/model.onnx.sha256"))
    stamp.write_bytes(bytes(range(256)))
    code, _, err = run_cli(*run)
    assert code == 0 and "Traceback" not in err, err
    assert stamp.read_bytes() != bytes(range(256))  # stamped again


# ------------------------------------------------------------------ 4. `cache clear` under a build
def _spec(name: str):
    from bandbridge.spec import read_spec, resolve_model_folder
    return read_spec(resolve_model_folder(name))


def test_a_cache_cleared_while_predict_builds_its_graph(run_cli, tmp_path, monkeypatch):
    """The export checks the graph it just wrote against torch: a `cache clear` from another shell
    right before that read was onnxruntime's NoSuchFile traceback. The graph is built in a folder
    of this process's own and copied into the cache after."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'bandbridge[onnx]')")
    from bandbridge.inference.runtime import cache, export
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path / "cache"))
    real, cleared = export._check, []

    def cleared_first(out, *a, **k):
        cleared.append(cache.clear())  # the other shell's `bandbridge cache clear`
        return real(out, *a, **k)
    monkeypatch.setattr(export, "_check", cleared_first)
    code, _, err = run_cli("predict", str(TEST), "-m", "rgb2nir-naip", "-o", str(tmp_path / "o.tif"),
                           "--backend", "onnx", "--precision", "fp32")
    assert code == 0 and "Traceback" not in err, err
    assert cleared and (tmp_path / "o.tif").exists()
    assert list((tmp_path / "cache").glob("onnx/*/model.onnx"))  # the next run finds it


def test_a_graph_cleared_between_finding_and_loading_twice_loads(tmp_path, monkeypatch):
    """Cleared after it was found, and again after it was found the second time: the second is
    this process's own copy, which no clear reaches (no third build, no 'the file is gone')."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'bandbridge[onnx]')")
    from bandbridge.inference.runtime import cache, graphs
    from bandbridge.inference.runtime.backends import OnnxBackend
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path / "cache"))
    spec = _spec("sr-x2")
    real, found = graphs.graph_file, []

    def cleared_after_finding(spec, precision):
        found.append(real(spec, precision))
        cache.clear()
        return found[-1]
    monkeypatch.setattr(graphs, "graph_file", cleared_after_finding)
    be = OnnxBackend(spec)
    x = np.zeros((1, spec.in_channels, 64, 64), np.float32)
    assert be(x).shape[1] == spec.out_channels
    assert len(found) == 2 and found[1].is_file() and found[1] != found[0]


def test_a_cache_cleared_while_the_int8_graph_is_quantised(tmp_path, monkeypatch):
    """The int8 build reads the fp32 graph of the cache twice (onnx, then onnxruntime's quantiser):
    cleared in between, onnx's ValidationError was a traceback; the build runs again on this
    process's own copy of the fp32 graph."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'bandbridge[onnx]')")
    import onnxruntime.quantization as q

    from bandbridge.inference.runtime import cache
    from bandbridge.inference.runtime.graphs import int8_file
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path / "cache"))
    spec = _spec("sr-x2")
    real, calls = q.quantize_static, []

    def cleared_first(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            cache.clear()
        return real(*a, **k)
    monkeypatch.setattr(q, "quantize_static", cleared_first)
    path = int8_file(spec)
    assert path.is_file() and len(calls) == 2
    import onnx
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(path)).graph.node)
