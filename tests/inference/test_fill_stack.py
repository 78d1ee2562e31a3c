"""The fill's bundle reads a VRT of the raw inputs and a flag raster (``fill_stack.py``), its design
computed per tile (``models/fill_design.py``): no copy of the tile is written; ONNX and OpenVINO serve
it as torch does; a backend chosen for the user whose graph fails the export check gives way to torch
fp32, said; an input on another grid is written onto the scene's grid, said by ``--plan``."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from bandbridge.learners import fill_fit
from test_fill_engine import _read, run, scene  # noqa: E402 - the engine tests' tiny scene


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(fill_fit, "FIT_CANDIDATES", ("constant",))


def _kept(monkeypatch, tmp_path):
    """The run's work folder kept (``fill._work`` here, not removed) for the test to look in."""
    import bandbridge.inference.jobs.fill as F
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(F, "_work", lambda dest, engine: work)
    monkeypatch.setattr(F.shutil, "rmtree", lambda *a, **k: None)
    return work


def test_no_copy_of_the_tile_is_written(tmp_path, monkeypatch):
    work = _kept(monkeypatch, tmp_path)
    paths = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    done = run(paths, tmp_path / "out.tif")
    assert done.route == "fit"
    tifs = {p.name for p in work.glob("*.tif")}
    assert tifs <= {"flags.tif", "only.tif", "first.tif", "holes.tif", "sar_first.tif"}, tifs
    with rasterio.open(work / "flags.tif") as f:  # one date, two SAR files: 5 bits, one byte a pixel
        assert f.count == 1 and f.dtypes[0] == "uint8"
    vrt = (work / "stack.vrt").read_text()
    assert "S2_20200601.tif" in vrt and "S1_20200610.tif" in vrt and "S1_20200601.tif" in vrt


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_the_graph_backends_serve_the_bundle_as_torch(tmp_path, monkeypatch, backend):
    pytest.importorskip("onnxruntime" if backend == "onnx" else "openvino")
    from bandbridge.inference.jobs import fill_engine
    from bandbridge.inference.runtime.select import Decision
    paths = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    run(paths, tmp_path / "torch.tif")
    monkeypatch.setattr(fill_engine.EngineOptions, "decision",
                        lambda self, pixels: Decision(backend, "fp32", "cached", f"{backend} fp32: a test's"))
    done = run(paths, tmp_path / "graph.tif")
    assert done.backend.startswith(backend)
    a, b = _read(tmp_path / "torch.tif")[0], _read(tmp_path / "graph.tif")[0]
    assert np.abs(a - b).max() <= 1  # DN: the same model on another runtime


def test_a_graph_that_fails_the_check_gives_way_to_torch(tmp_path, monkeypatch):
    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.jobs import fill_engine
    from bandbridge.inference.runtime import graphs
    from bandbridge.inference.runtime.select import Decision
    monkeypatch.setattr(fill_engine.EngineOptions, "decision",
                        lambda self, pixels: Decision("onnx", "fp32", "cached", "onnx fp32: a test's"))

    def failing(spec, precision):
        raise BandbridgeError("ONNX export differs from torch by 2.07e-04 on 0.02% of pixels (> 1e-4)")
    monkeypatch.setattr(graphs, "graph_file", failing)
    lines: list[str] = []
    paths = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    done = run(paths, tmp_path / "out.tif", lines)
    assert done.backend.startswith("torch")
    assert any(line.startswith("backend: torch fp32 instead: onnx fp32 was the choice") for line in lines)


def test_a_date_on_another_grid_is_written_onto_the_scene_and_said(tmp_path, monkeypatch):
    work = _kept(monkeypatch, tmp_path)
    s, e, now, then = scene(tmp_path, 120, 130, (slice(30, 70), slice(30, 90)))
    with rasterio.open(e) as src:  # the earlier date on a grid 5 m off the scene's
        data, names, date = src.read(), list(src.descriptions), src.tags()["DATE"]
    moved = tmp_path / "moved" / "S2_20200601.tif"
    moved.parent.mkdir()
    with rasterio.open(moved, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype, crs="EPSG:32631", transform=from_origin(500005, 4000005, 10, 10)) as d:
        d.write(data)
        d.descriptions = tuple(names)
        d.update_tags(DATE=date)
    lines: list[str] = []
    run((s, str(moved), now, then), tmp_path / "out.tif", lines, plan_only=True)
    stack = next(line for line in lines if line.startswith("stack: "))
    assert f"--earlier {moved}" in stack and str(now) not in stack.split("first")[-1]
    done = run((s, str(moved), now, then), tmp_path / "out.tif")
    assert done.filled > 0 and (work / "date1.tif").exists()
    assert str(work / "date1.tif") in (work / "stack.vrt").read_text()


def test_sar_of_every_date_follows_the_base(tmp_path):
    """``--sar-earlier`` once per ``--earlier``: per pixel the SAR of the date the base is from (and its change
    to now) is a design channel pair — the second date's SAR where the nearest date is cloudy, the nearest's
    elsewhere — computed from the stack as the bundle computes it."""
    from bandbridge.inference.jobs.fill_inputs import open_inputs
    from bandbridge.inference.jobs.fill_strips import guides, scan
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
