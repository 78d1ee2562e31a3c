"""The fill's bundle reads a VRT of the raw inputs and a flag raster (``fill_stack.py``), its design
computed per tile (``models/fill_design.py``): no copy of the tile is written; ONNX and OpenVINO serve
it as torch does; a backend chosen for the user whose graph fails the export check gives way to torch
fp32, said; an input in the scene's CRS on another pixel size or origin, or a band folder, is named by
the VRT (resampled by GDAL), one in another CRS is written onto the scene's grid, said by ``--plan``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from bandbridge.learners import fill_fit
from test_fill_engine import _read, run, scene  # noqa: E402 - the engine tests' tiny scene


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(fill_fit, "FIT_CANDIDATES", ("constant",))


def _filled(path) -> int:
    """The pixels the fill says it filled (its ``bandbridge_fill_pixels`` tag)."""
    return int(_read(path)[1]["bandbridge_fill_pixels"])


def _kept(monkeypatch, tmp_path):
    """The run's work folder kept (``engine.work_folder`` here, not removed) for the test to look in."""
    from contextlib import nullcontext

    from bandbridge.inference.place import engine
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(engine, "work_folder", lambda dest, eng, kind: nullcontext(work))
    return work


def test_no_copy_of_the_tile_is_written(tmp_path, monkeypatch):
    work = _kept(monkeypatch, tmp_path)
    paths = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    done = run(paths, tmp_path / "out.tif")
    assert done.decisions[0].route == "fit"
    tifs = {p.name for p in work.glob("*.tif")}
    assert tifs <= {"flags.tif", "only.tif", "first.tif", "holes.tif", "sar_first.tif"}, tifs
    with rasterio.open(work / "flags.tif") as f:  # one date, two SAR files: 5 bits, one byte a pixel
        assert f.count == 1 and f.dtypes[0] == "uint8"
    vrt = (work / "stack.vrt").read_text()
    assert "S2_20200601.tif" in vrt and "S1_20200610.tif" in vrt and "S1_20200601.tif" in vrt


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_the_graph_backends_serve_the_bundle_as_torch(tmp_path, monkeypatch, backend):
    pytest.importorskip("onnxruntime" if backend == "onnx" else "openvino")
    from bandbridge.inference.place import fill_plan
    from bandbridge.inference.runtime.select import Decision
    paths = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    run(paths, tmp_path / "torch.tif")
    monkeypatch.setattr(fill_plan, "decide",
                        lambda pixels, engine: Decision(backend, "fp32", "cached", f"{backend} fp32: a test's"))
    done = run(paths, tmp_path / "graph.tif")
    assert done.rows[0]["backend"].startswith(backend)
    a, b = _read(tmp_path / "torch.tif")[0], _read(tmp_path / "graph.tif")[0]
    assert np.abs(a - b).max() <= 1  # DN: the same model on another runtime


def test_a_graph_that_fails_the_check_gives_way_to_torch(tmp_path, monkeypatch):
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.place import fill_plan
    from bandbridge.inference.runtime import graphs
    from bandbridge.inference.runtime.select import Decision
    monkeypatch.setattr(fill_plan, "decide",
                        lambda pixels, engine: Decision("onnx", "fp32", "cached", "onnx fp32: a test's"))

    def failing(spec, precision):
        raise BandbridgeError("ONNX export differs from torch by 2.07e-04 on 0.02% of pixels (> 1e-4)")
    monkeypatch.setattr(graphs, "graph_file", failing)
    lines: list[str] = []
    paths = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    done = run(paths, tmp_path / "out.tif", lines)
    assert done.rows[0]["backend"].startswith("torch")
    assert any(line.startswith("backend: torch fp32 instead: onnx fp32 was the choice") for line in lines)


def _moved(tmp_path, e, folder: str, data, transform, crs="EPSG:32631") -> str:
    """The raster ``e`` (its band names and date) with ``data`` on ``transform``/``crs``, in ``folder``."""
    with rasterio.open(e) as src:
        names, tags = list(src.descriptions), src.tags()
    moved = tmp_path / folder / Path(e).name
    moved.parent.mkdir()
    with rasterio.open(moved, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform) as d:
        d.write(data)
        d.descriptions = tuple(names)
        d.update_tags(**tags)
    return str(moved)


def test_a_date_in_another_crs_is_named_by_a_warped_vrt(tmp_path, monkeypatch):
    """A date in geographic coordinates: the stack names GDAL's warped VRT of it (a few lines of XML, no
    copy), ``--plan`` names no copy, and the filled pixels are the copy path's (the strip pass warping it
    onto the scene's grid by ``fill_read.onto``) within 1 DN: the same GDAL bilinear warp, by blocks
    against by strips (float rounding), the output rounded to whole DN."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject
    work = _kept(monkeypatch, tmp_path)
    s, e, now, then = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    with rasterio.open(e) as src:
        tr, w, h = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height, *src.bounds)
        data = np.zeros((src.count, h, w), src.dtypes[0])
        reproject(src.read(), data, src_transform=src.transform, src_crs=src.crs, dst_transform=tr,
                  dst_crs="EPSG:4326", resampling=Resampling.nearest)
    paths = (s, _moved(tmp_path, e, "moved", data, tr, "EPSG:4326"), now, then)
    lines: list[str] = []
    run(paths, tmp_path / "plan.tif", lines, plan_only=True)
    assert "written onto" not in next(line for line in lines if line.startswith("stack: "))
    done = run(paths, tmp_path / "vrt.tif")
    assert _filled(tmp_path / "vrt.tif") > 0 and not (work / "date1.tif").exists()
    warped = list(work.glob("warp-*.vrt"))
    assert len(warped) == 1 and "VRTWarpedDataset" in warped[0].read_text() and paths[1] in warped[0].read_text()
    assert str(warped[0].resolve()) in (work / "stack.vrt").read_text()
    _old_path(monkeypatch)
    lines.clear()
    run(paths, tmp_path / "plan.tif", lines, plan_only=True)
    assert f"--earlier {paths[1]}" in next(line for line in lines if line.startswith("stack: "))
    run(paths, tmp_path / "copy.tif")
    assert (work / "date1.tif").exists()
    a, b = _read(tmp_path / "vrt.tif")[0], _read(tmp_path / "copy.tif")[0]
    filled = a[4] == 2
    assert filled.sum() == (b[4] == 2).sum() > 0
    assert np.abs(a[:4] - b[:4])[:, filled].max() <= 1  # measured 0 over 3224 filled pixels


def test_sar_of_every_date_follows_the_base(tmp_path):
    """``--sar-earlier`` once per ``--earlier``: per pixel the SAR of the date the base is from (and its change
    to now) is a design channel pair — the second date's SAR where the nearest date is cloudy, the nearest's
    elsewhere — computed from the stack as the bundle computes it."""
    from bandbridge.inference.place.fill_inputs import open_inputs
    from bandbridge.inference.place.fill_guides import guides
    from bandbridge.inference.place.fill_strips import scan
    from bandbridge.learners.fill_sar import sar_model
    from test_fill_engine import NAMES, _write  # noqa: E402
    s, e, now, then = scene(tmp_path, 60, 70, (slice(20, 40), slice(20, 50)))
    data, _ = _read(e)
    data[4] = 4
    data[4, 30:50, 10:40] = 9  # the nearest date cloudy here: the base is the second date's
    e1 = _write(tmp_path / "S2_20200601.tif", data, NAMES, "2020-06-01")
    data[4] = 4
    e2 = _write(tmp_path / "S2_20200520.tif", data, NAMES, "2020-05-20")
    sar2 = _read(then)[0] + 3.0  # the second date's own SAR, 3 dB brighter
    then2 = _write(tmp_path / "S1_20200520.tif", sar2, ["VV", "VH"], "2020-05-20", "float32")
    inp = open_inputs(s, [e1, e2], now, [then, then2], None)
    assert inp.dated_slots() == [1, 3]  # SAR then (the nearest date's), then the second date's own
    sc = scan(inp.scene, inp.mask, inp.sar_all())
    dates, days = inp.dates()
    work = tmp_path / "work"
    work.mkdir()
    gd = guides(sc, dates, inp.sar_all(), work, days, inp.dated_slots())
    ch = gd.channels["sar_dated"]
    assert len(ch) == 4
    x = gd.rows(0, 60)
    m1, m2 = sar_model(_read(then)[0], sc.holes[1]), sar_model(sar2, sc.holes[3])
    np.testing.assert_allclose(x[ch[:2], 30:50, 10:40], m2[:, 30:50, 10:40], atol=1e-4)
    np.testing.assert_allclose(x[ch[:2], :20], m1[:, :20], atol=1e-4)
    assert not np.allclose(m1[:, 30:50, 10:40], m2[:, 30:50, 10:40], atol=1e-2)


def test_more_sar_earlier_than_dates_is_refused_in_one_line(tmp_path):
    from bandbridge.errors import BandbridgeError
    s, e, now, then = scene(tmp_path, 40, 40, (slice(10, 20), slice(10, 20)))
    with pytest.raises(BandbridgeError, match=r"--sar-earlier .*2 --sar-earlier for 1 --earlier"):
        run((s, e, now, [then, then]), tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()


def _old_path(monkeypatch):
    """The copy path as it was: no input on another grid named by the VRT (``fill_rows.placement`` none, no
    warped VRT: each written onto the scene's grid by the strip pass, warped bilinear by ``fill_read.onto``)."""
    from bandbridge.inference.place import fill_rows, fill_stack
    for module in (fill_rows, fill_stack):
        monkeypatch.setattr(module, "placement", lambda src, dst: None)
        monkeypatch.setattr(module, "warps", lambda src, dst: False)


def _coarse(tmp_path, e, k: int = 2) -> str:
    """``e`` on a grid ``k`` times coarser in the scene's CRS (the bands averaged k × k, the SCL band's
    top-left pixel of each cell), origin one coarse pixel up and left of the scene's."""
    from test_fill_engine import _read  # noqa: E402
    d, _ = _read(e)
    c, h, w = d.shape
    pad = np.pad(d, ((0, 0), (k, k), (k, k)), mode="edge")
    cells = pad[:, : (h + 2 * k) // k * k, : (w + 2 * k) // k * k]
    mean = cells.reshape(c, cells.shape[1] // k, k, cells.shape[2] // k, k).mean((2, 4))
    mean[-1] = cells[-1, ::k, ::k]
    return _moved(tmp_path, e, "coarse", np.round(mean).astype(np.uint16),
                  from_origin(500000 - 10 * k, 4000000 + 10 * k, 10 * k, 10 * k))


def _offset(tmp_path, sar, dx: int = 3, dy: int = 2) -> str:
    """SAR ``sar`` on a grid ``dx`` columns, ``dy`` rows left and up of the scene's, wider by both
    (the scene's field continued there: its VV, VH formulas of ``test_fill_engine.scene``)."""
    from test_fill_engine import _read  # noqa: E402
    d, _ = _read(sar)
    h, w = d.shape[1:]
    yy, xx = np.mgrid[-dy:h + dy, -dx:w + dx] / 25.0
    shift = float(d[0, 0, 0] - (np.sin(0) * 3 - 10))  # the file's own offset (then: 0.5 dB below now)
    data = np.stack([np.sin(xx * 1.7) * 3 - 10, np.cos(yy * 1.3) * 3 - 17]).astype(np.float32) + shift
    return _moved(tmp_path, sar, "offset", data, from_origin(500000 - 10 * dx, 4000000 + 10 * dy, 10, 10))


def test_a_coarser_date_and_offset_sar_are_named_by_the_vrt(tmp_path, monkeypatch):
    """A date on a 20 m grid and SAR a few pixels off, both in the scene's CRS: the VRT names them (no copy
    written), ``--plan`` names no copy, and the filled pixels are the copy path's (each input warped onto
    the scene's grid by the strip pass) within 1 DN of about 3000-6000: GDAL's VRT resamples an integer
    file in its own type (values within 0.5 DN of the warp's float ones), the fit made again on them, the
    output rounded to whole DN."""
    work = _kept(monkeypatch, tmp_path)
    s, e, now, then = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    paths = (s, _coarse(tmp_path, e), _offset(tmp_path, now), then)
    lines: list[str] = []
    run(paths, tmp_path / "plan.tif", lines, plan_only=True)
    stack = next(line for line in lines if line.startswith("stack: "))
    assert "no copy of the tile" in stack and "written onto" not in stack, stack
    done = run(paths, tmp_path / "vrt.tif")
    assert done.decisions[0].route == "fit" and _filled(tmp_path / "vrt.tif") > 0
    tifs = {p.name for p in work.glob("*.tif")}  # the work files the existing test allows: no date or SAR copy
    assert tifs <= {"flags.tif", "only.tif", "first.tif", "holes.tif", "sar_first.tif"}, tifs
    vrt = (work / "stack.vrt").read_text()
    assert paths[1] in vrt and paths[2] in vrt and 'resampling="bilinear"' in vrt
    _old_path(monkeypatch)
    lines.clear()
    run(paths, tmp_path / "plan.tif", lines, plan_only=True)
    assert "written onto" in next(line for line in lines if line.startswith("stack: "))
    run(paths, tmp_path / "copy.tif")
    assert {"date1.tif", "sar1.tif"} <= {p.name for p in work.glob("*.tif")}
    a, b = _read(tmp_path / "vrt.tif")[0], _read(tmp_path / "copy.tif")[0]
    filled = a[4] == 2
    assert filled.sum() == (b[4] == 2).sum() > 0
    assert np.abs(a[:4] - b[:4])[:, filled].max() <= 1  # measured 1 (mean 0.30 DN over 3224 filled pixels)


def test_placed_reads_what_the_file_covers_and_no_value_elsewhere(tmp_path):
    """``fill_rows.placed`` (the stack's source, read by a strip): a crop 3 pixels right and 2 down of the
    scene's origin reads its own values there (the same grid's pixels: no resampling) and NaN where it does
    not reach; a band folder's files are named one a band."""
    from bandbridge.data.grids import Grid
    from bandbridge.inference.place.fill_rows import band_sources, placed
    d = np.arange(20 * 30, dtype=np.float32).reshape(1, 20, 30)
    crop = tmp_path / "crop.tif"
    with rasterio.open(crop, "w", driver="GTiff", height=20, width=30, count=1, dtype="float32", crs="EPSG:32631",
                       transform=from_origin(500030, 3999980, 10, 10)) as f:
        f.write(d)
    scene_grid = Grid(rasterio.crs.CRS.from_epsg(32631), from_origin(500000, 4000000, 10, 10), 25, 40)
    with rasterio.open(crop) as f:
        own = Grid(f.crs, f.transform, f.height, f.width)
    v = placed(str(crop), own, scene_grid, (0, 0, 25, 40), [0])
    np.testing.assert_array_equal(v[0, 2:22, 3:33], d[0])
    assert np.isnan(v[0, :2]).all() and np.isnan(v[0, :, :3]).all() and np.isnan(v[0, 22:]).all()
    assert np.isnan(v[0, :, 33:]).all()
    folder = tmp_path / "bands"
    folder.mkdir()
    for name in ("B02", "B03"):
        with rasterio.open(folder / f"{name}.tif", "w", driver="GTiff", height=20, width=30, count=1, dtype="uint16",
                           crs="EPSG:32631", transform=from_origin(500030, 3999980, 10, 10)) as f:
            f.write(d.astype(np.uint16) + (name == "B03"))
    assert [(p.name, b) for p, b, _ in band_sources(str(folder), (1,))] == [("B03.tif", 1)]
    np.testing.assert_array_equal(placed(str(folder), own, scene_grid, (0, 0, 25, 40), [1])[0, 2:22, 3:33], d[0] + 1)


def test_a_band_folder_is_named_one_source_a_band_file(tmp_path, monkeypatch):
    """The earlier date as a band folder (``B02.tif`` … ``SCL.tif``) on the scene's grid: the stack names each
    band file (no copy written), and the filled pixels are the copy path's within 1 DN (the same values read:
    measured 0)."""
    from test_fill_engine import NAMES, _read  # noqa: E402
    work = _kept(monkeypatch, tmp_path)
    s, e, now, then = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    folder = tmp_path / "S2_20200601"
    folder.mkdir()
    d, tags = _read(e)
    for name, band in zip(NAMES, d):
        with rasterio.open(folder / f"{name}.tif", "w", driver="GTiff", height=band.shape[0], width=band.shape[1],
                           count=1, dtype="uint16", crs="EPSG:32631", transform=from_origin(500000, 4000000, 10, 10)) as f:
            f.write(band.astype(np.uint16), 1)
            f.update_tags(**tags)
    paths = (s, str(folder), now, then)
    done = run(paths, tmp_path / "vrt.tif")
    assert _filled(tmp_path / "vrt.tif") > 0 and not (work / "date1.tif").exists()
    vrt = (work / "stack.vrt").read_text()
    assert all(str((folder / f"{n}.tif").resolve()) in vrt for n in NAMES[:4]) and "SCL.tif" not in vrt
    _old_path(monkeypatch)
    run(paths, tmp_path / "copy.tif")
    assert (work / "date1.tif").exists()
    a, b = _read(tmp_path / "vrt.tif")[0], _read(tmp_path / "copy.tif")[0]
    filled = a[4] == 2
    assert filled.sum() == (b[4] == 2).sum() > 0
    assert np.abs(a[:4] - b[:4])[:, filled].max() <= 1
