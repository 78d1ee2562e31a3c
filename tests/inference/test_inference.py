"""Tiled prediction: planner, seams, georeference, dtypes, ONNX, atomic output."""

import re
import subprocess
import sys

import numpy as np
import pytest
import rasterio
import torch

from bandbridge.bands import get_scaling, ndvi
from bandbridge.config import load_config
from bandbridge.data.reader import read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.backends import OnnxBackend, TorchBackend
from bandbridge.machine import cpu_has_bf16
from bandbridge.inference.core.options import InputReading, PredictOptions, StripControl
from bandbridge.inference.core.predictor import predict_file
from rasterio.windows import Window
from bandbridge.spec import ModelSpec, read_spec, resolve_model_folder
from bandbridge.inference.core.tiling import axis_weights, column_blocks, plan_tiles, weigh
from conftest import REPO, SAMPLE, SHARED, needs_shared

NAIP = SAMPLE / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"


@pytest.mark.parametrize("h,w,tile,overlap,align", [(256, 256, 100, 30, 1), (934, 724, 256, 128, 128),
                                                    (50, 3000, 512, 64, 32), (1, 1, 64, 8, 1)])
def test_plan_covers_aligns_and_overlaps(h, w, tile, overlap, align):
    p = plan_tiles(h, w, tile, overlap, align)
    cover = np.zeros((h, w), int)
    for r in p.rows:
        for c in p.cols:
            cover[r:r + p.tile_h, c:c + p.tile_w] += 1
            assert r % align == 0 and c % align == 0
    assert cover.min() >= 1
    assert p.tile_h % align == 0 or p.tile_h == h
    for starts, t in ((p.rows, p.tile_h), (p.cols, p.tile_w)):
        for a, b in zip(starts, starts[1:]):
            assert a + t - b >= min(overlap, t - 1) or a + t - b >= 0 and b - a == align
    assert p.rows[-1] + p.tile_h >= h and p.cols[-1] + p.tile_w >= w  # the tiles cover the raster
    for starts, t, ov in ((p.rows, p.tile_h, p.overlap_h), (p.cols, p.tile_w, p.overlap_w)):
        wts = axis_weights(starts, t, ov, halo=3)
        total, count = np.zeros(starts[-1] + t), np.zeros(starts[-1] + t, int)
        for a, wa in zip(starts, wts):
            total[a:a + t] += wa
            count[a:a + t] += 1
        assert (wts > 0).all() and np.allclose(total, 1, atol=1e-6)  # a partition of unity
        assert (total[count == 1] == 1).all()  # one tile: its value exactly
    blocks = column_blocks(p, 3 * p.tile_w)
    assert blocks[0][1] == 0 and blocks[-1][2] == w
    assert all(a[2] == b[1] for a, b in zip(blocks, blocks[1:]))  # the blocks tile the width
    assert sum(len(b[0]) for b in blocks) == len(p.cols)
    for cols, left, right in blocks:
        assert cols[0] <= left < right <= cols[-1] + p.tile_w


def test_weigh_equals_the_outer_product_of_the_axis_weights():
    rng = np.random.default_rng(0)
    for starts, t, ov in (((0, 48, 96), 64, 16), ((0,), 40, 8), ((0, 8), 16, 8)):
        w = axis_weights(starts, t, ov, halo=2, scale=2)
        y = rng.random((2, 2 * t, 2 * t), dtype=np.float32)
        for wr in w:
            for wc in w:
                np.testing.assert_allclose(weigh(y.copy(), wr, wc), y * np.outer(wr, wc), rtol=1e-6)


def _identity_spec(tmp_path, scale=1) -> ModelSpec:
    preset = "sr-x4-cpu" if scale > 1 else "rgb2nir-wgangp-cpu"
    cfg = load_config(preset, data_root=str(SAMPLE))
    return ModelSpec(cfg, 3, 3, tmp_path, size_multiple=1)


def test_identity_model_reproduces_the_input_exactly(tmp_path):
    spec = _identity_spec(tmp_path)
    out = tmp_path / "id.tif"
    opts = PredictOptions(tile=70, overlap=22, batch_size=3, dtype="float32",
                          strip=StripControl(block_px=120))
    st = predict_file(lambda x, *ctx: x.copy(), spec, NAIP, out, opts)  # several column blocks too
    assert st.tiles > 9
    ref = read_raster(NAIP, get_scaling("uint8"), ["red", "green", "blue"], sensor="naip").data
    with rasterio.open(out) as dst:
        got = dst.read()
    # blending identical values: Σ (w/Σw)·x in float32 is x to a few ulp, and exactly x wherever
    # one tile alone covers a pixel (every pixel farther than the overlap from a tile edge)
    np.testing.assert_allclose(got, ref, rtol=4e-7, atol=0)
    assert np.mean(got == ref) > 0.5


@pytest.mark.parametrize("block_px", [8192, 160])  # one column block, or several
def test_tiled_output_matches_whole_image(trained_run, tmp_path, block_px):
    spec = read_spec(resolve_model_folder(trained_run))
    be = TorchBackend(spec, "fp32")
    out = tmp_path / "t.tif"
    st = predict_file(be, spec, NAIP, out, PredictOptions(tile=128, overlap=64, dtype="float32",
                                                          strip=StripControl(block_px=block_px)))
    assert st.tiles > 4
    x = read_raster(NAIP, get_scaling("uint8"), ["red", "green", "blue"], sensor="naip").data
    with torch.inference_mode():
        whole = be(x[None])[0]
    with rasterio.open(out) as dst:
        tiled = dst.read()
    assert np.abs(tiled - whole).max() < 1e-3


def test_georeference_dtype_nodata_append_and_indices(trained_run, tmp_path):
    spec = read_spec(resolve_model_folder(trained_run))
    out = tmp_path / "rgbn.tif"
    predict_file(TorchBackend(spec, "fp32"), spec, NAIP, out,
                 PredictOptions(append=True, indices=("ndvi", "evi")))
    with rasterio.open(NAIP) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert dst.dtypes == ("uint8",) * 4 and dst.nodata == 0 and dst.count == 4
        assert dst.descriptions == ("red", "green", "blue", "synthetic_nir")
        rgb, raw = dst.read([1, 2, 3]), src.read([1, 2, 3])
        valid = (src.read() != 0).all(0)
        assert np.array_equal(rgb[:, valid], raw[:, valid])  # appended bands are the input's DN
        nir = dst.read(4) / 255.0
    with rasterio.open(tmp_path / "rgbn_ndvi.tif") as nd:
        assert nd.dtypes == ("float32",) and nd.crs.to_epsg() == 26914
        v = nd.read(1)
    red = read_raster(NAIP, get_scaling("uint8"), ["red"], sensor="naip").data[0]
    expect = ndvi(red, nir)
    # the uint8 storage of NIR only (rounding, and valid pixels ≥ 1 DN): |dNDVI| ≤
    # |∂NDVI/∂NIR| · 1 DN = 2·red/(NIR+red)² / 255
    bound = 2 * red / np.maximum(nir + red, 1e-3) ** 2 / 255 * 1.05 + 1e-4
    assert np.nanmax(np.abs(v - expect) - bound) <= 0
    assert (tmp_path / "rgbn_evi.tif").exists()


def test_super_resolution_output_grid(tmp_path):
    spec = _identity_spec(tmp_path, scale=4)
    out = tmp_path / "sr.tif"
    up = lambda x, *ctx: x.repeat(4, axis=2).repeat(4, axis=3)  # nearest ×4 "model"
    predict_file(up, spec, NAIP, out, PredictOptions(tile=64, overlap=16, dtype="float32",
                                                     read=InputReading(bands=["red", "green", "blue"]),
                                                     strip=StripControl(block_px=150)))
    with rasterio.open(NAIP) as src, rasterio.open(out) as dst:
        assert (dst.height, dst.width) == (src.height * 4, src.width * 4)
        assert dst.transform.a == pytest.approx(src.transform.a / 4)
        assert dst.transform.e == pytest.approx(src.transform.e / 4)
        assert (dst.transform.c, dst.transform.f) == (src.transform.c, src.transform.f)
        got = dst.read()
    ref = read_raster(NAIP, get_scaling("uint8"), ["red", "green", "blue"], sensor="naip").data
    np.testing.assert_allclose(got, ref.repeat(4, 1).repeat(4, 2), rtol=4e-7, atol=0)  # blend: a few ulp


def test_failure_mid_way_leaves_no_output(trained_run, tmp_path):
    spec = read_spec(resolve_model_folder(trained_run))
    calls = {"n": 0}

    def flaky(x, context=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("out of memory (simulated)")
        return x[:, :1]

    out = tmp_path / "never.tif"
    with pytest.raises(RuntimeError, match="simulated"):
        predict_file(flaky, spec, NAIP, out, PredictOptions(tile=64, overlap=16, batch_size=1,
                                                            indices=("ndvi",)))
    assert calls["n"] == 3 and list(tmp_path.iterdir()) == []  # no output, no temp files


def test_onnx_export_matches_torch_and_predicts_without_torch(run_cli, trained_run, tmp_path):
    code, _, err = run_cli("export", "-m", str(trained_run), "--format", "onnx", "-o", str(tmp_path / "onnx"))
    assert code == 0, err
    exp = tmp_path / "onnx"
    assert {"model.onnx", "model.yaml", "metadata.json"} <= {p.name for p in exp.iterdir()}
    spec = read_spec(exp)
    x = np.random.default_rng(0).random((2, 3, 64, 96), dtype=np.float32)
    a = OnnxBackend(spec)(x)
    b = TorchBackend(read_spec(resolve_model_folder(trained_run)), "fp32")(x)
    assert np.abs(a - b).max() < 1e-4
    code = ("import sys\nfrom bandbridge.cli import main\n"
            f"sys.argv = ['bandbridge', 'predict', {str(NAIP)!r}, '-m', {str(exp)!r}, '-o', "
            f"{str(tmp_path / 'o.tif')!r}, '--backend', 'onnx', '--cog', '--confidence']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules and 'lightning' not in sys.modules\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr[-2000:]
    with rasterio.open(tmp_path / "o.tif") as dst:
        assert dst.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and dst.crs.to_epsg() == 26914
    assert (tmp_path / "o_error.tif").exists()  # the error map, torch-free too


def test_predict_cli_bad_inputs(run_cli, trained_run, tmp_path):
    code, _, err = run_cli("predict", str(NAIP), "-m", str(trained_run), "-o", str(tmp_path / "x.tif"),
                           "--bands", "0,1")
    assert code == 2 and "--bands selects 2 bands but" in err
    code, _, err = run_cli("predict", "nope.tif", "-m", str(trained_run), "-o", str(tmp_path / "x.tif"))
    assert code == 2 and "nope.tif: no such file" in err
    code, _, err = run_cli("predict", str(NAIP), "-m", str(tmp_path), "-o", str(tmp_path / "x.tif"))
    assert code == 2 and "not a run folder, model bundle or ONNX export" in " ".join(err.split())
    assert not (tmp_path / "x.tif").exists()


@needs_shared
def test_sentinel2_folder_keeps_crs_and_transform(run_cli, trained_run, tmp_path):
    folder = SHARED / "nir_s2_majortom"
    out = tmp_path / "s2_nir.tif"
    code, _, err = run_cli("predict", str(folder), "-m", str(trained_run), "-o", str(out),
                           "--bands", "B04,B03,B02", "--scaling", "reflectance_10000",
                           "--dtype", "uint16")
    assert code == 0, err
    with rasterio.open(folder / "B04.tif") as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.crs.to_epsg() == 32648
        assert dst.transform == src.transform and (dst.height, dst.width) == (1068, 1068)
        assert dst.dtypes == ("uint16",) and dst.nodata == 0
        assert dst.read(1).min() >= 1


@pytest.mark.parametrize("native_bf16", [cpu_has_bf16()],  # names the CPU branch run: bf16 candidates or not
                         ids=lambda b: "cpu-with-native-bf16" if b else "cpu-without-native-bf16")
def test_bench_times_the_candidates_the_selection_probe_skipped(trained_run, tmp_path, monkeypatch,
                                                                native_bf16):
    """A loaded machine spends the selection probe's time budget before every backend is measured;
    bench still gives each available one its forward row, marked as not gated (with native bf16,
    the bf16 candidates too)."""
    from bandbridge.bench import bench
    from bandbridge.inference.runtime.cache import write_json
    from bandbridge.inference.runtime.select import candidates, choice_path, probe
    from bandbridge.mosaics import make_mosaic
    from bandbridge.spec import read_spec, resolve_model_folder
    monkeypatch.setenv("BANDBRIDGE_CACHE", str(tmp_path / "cache"))  # this record only
    spec = read_spec(resolve_model_folder(str(trained_run)))
    record = probe(spec, candidates(spec), None, budget=0.0)  # only the first candidate is measured
    skipped = [(r["backend"], r["precision"]) for r in record["candidates"] if r["status"] == "skipped"]
    assert ("onnx", "fp32") in skipped
    record["provisional"] = None  # a final choice (a provisional one would be measured again)
    write_json(choice_path(spec, "auto", "auto", None), record)
    mosaic = make_mosaic(SAMPLE / "nir_naip_opengeos", tmp_path / "m.tif", size=300)
    rows = bench(trained_run, mosaic, rows=("select", "forward"))
    forward = {(r["backend"], r["precision"]): r for r in rows if r["kind"] == "forward"}
    assert set(skipped) <= set(forward)
    assert forward[("onnx", "fp32")]["gate"] == "skipped" and forward[("onnx", "fp32")]["mpix_s"] > 0
    assert "not gated" in forward[("onnx", "fp32")]["name"]


@pytest.mark.parametrize("native_bf16", [False, True],
                         ids=lambda b: "cpu-with-native-bf16" if b else "cpu-without-native-bf16")
def test_bench_record_names_the_cpu_kind_its_rows_belong_to(monkeypatch, native_bf16):
    """``bench --json`` keeps the command, the date, the threads and the CPU kind with the rows;
    both kinds run on every CPU (the flags are simulated)."""
    import bandbridge.machine as machine
    from bandbridge.bench_report import record
    flags = {"avx2", "avx512f"} | ({"avx512_bf16"} if native_bf16 else set())
    monkeypatch.setattr(machine, "cpu_flags", lambda: ("Test CPU", frozenset(flags)))
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: native_bf16)
    rows = [{"kind": "forward", "mpix_s": 1.0}]
    rec = record(rows, "bandbridge bench -m x --json out.json", threads=2)
    assert rec["rows"] is rows and rec["threads"] == 2 and rec["command"].startswith("bandbridge bench")
    assert re.match(r"\d{4}-\d{2}-\d{2}$", rec["measured"])
    assert rec["cpu"].startswith("Test CPU, ")
    assert rec["cpu"].endswith("native bf16 (AMX or AVX512-BF16)" if native_bf16 else "AVX2, bf16 emulated")


@pytest.mark.load
def test_bench_rows_and_ratios(trained_run, tmp_path):
    from bandbridge.bench import bench
    from bandbridge.bench_report import format_rows
    from bandbridge.mosaics import make_mosaic
    mosaic = make_mosaic(SAMPLE / "nir_naip_opengeos", tmp_path / "m.tif", size=300)
    with rasterio.open(mosaic) as m:
        assert (m.height, m.width, m.count) == (300, 300, 4) and m.crs.to_epsg() == 26914
    said = []
    rows = bench(trained_run, mosaic, holdout=str(NAIP), rss_rasters=(mosaic,),
                 rows=("select", "reference", "forward", "tiled", "rss"), progress=said.append)
    # a start and an end line per row; a heartbeat (": running, N s") between them only when a
    # row runs long, which depends on the machine's load (issue 58: never counted exactly)
    said = [line for line in said if not re.search(r"\] .*: running, \d+ s$", line)]
    assert said[0].startswith("[1] backend selection (auto) …") and len(said) == 2 * len(rows)
    assert all("MPix/s" in line for line in said[3::2])  # each timed row reports as it ends
    sel = rows[0]
    # What the rule decides, not what the probe's wall-clock budget allowed (a real probe in a
    # subprocess: on a busy machine it measures fewer candidates, maybe only the reference, and the
    # line says "passes" of a lone one, "provisional" of a busy machine; issue 77): the choice is
    # the fastest of the measured candidates the gate accepted, and the line says it passes the gate
    assert sel["kind"] == "select" and re.search(r"pass(es|ing) the precision gate", sel["choice"])
    cand = sel["record"]["candidates"]
    ok = [r for r in cand if r["status"] == "accepted" and "mpix_s" in r]
    assert (sel["backend"], sel["precision"]) == (sel["record"]["backend"], sel["record"]["precision"])
    fastest = max(ok, key=lambda r: r["mpix_s"])
    assert (sel["backend"], sel["precision"]) == (fastest["backend"], fastest["precision"])
    ref = next(r for r in rows if r["name"].startswith("reference"))
    assert ref["vs_reference"] == 1.0
    timed = [r for r in rows if "mpix_s" in r]
    for r in timed:
        assert r["mpix_s"] > 0 and r["rss_mb"] > 0 and r["gflop_s"] > 0
    forward = [r for r in timed if r["kind"] == "forward"]
    assert {(r["backend"], r["precision"]) for r in forward} >= {("torch", "fp32"), ("onnx", "fp32")}
    tiled = [r for r in timed if r["name"].startswith("tiled predict")]
    assert (tiled[0]["backend"], tiled[0]["precision"]) == (sel["backend"], sel["precision"])
    for r in tiled:  # each tiled row against its own backend's forward on the same tiles (a ratio of
        # two timings, so its value is the machine's: the test checks what it is taken against)
        raw = next(f for f in forward if (f["backend"], f["precision"], f.get("tile")) ==
                   (r["backend"], r["precision"], r.get("tile")))
        assert r["vs_raw"] == pytest.approx(r["mpix_s"] / raw["mpix_s"])
    passed = [r for r in forward if r["gate"] == "accepted"] + tiled[:-1]  # the RSS row has no held-out file
    maes = [r["holdout"]["mae"] for r in passed]
    assert all(0 < m < 1 for m in maes) and max(maes) - min(maes) < 0.01 * min(maes)
    assert all("ndvi_mae" in r["holdout"] for r in forward)
    assert all("mae" in r["check"] for r in timed if r is not ref)  # every row's accuracy, even without --holdout
    table = format_rows(rows)
    assert "check-tile MAE" in table and "× raw forward" in table and f"{ref['mpix_s']:.3f}" in table and "backend: " in table


@pytest.mark.parametrize("n", [2, 3])
def test_strips_assembled_through_a_vrt_equal_the_single_process_prediction(trained_run, tmp_path, n):
    from bandbridge.inference.jobs.strips import assemble, strip_ranges
    spec = read_spec(resolve_model_folder(trained_run))
    be = TorchBackend(spec, "fp32")
    opts = PredictOptions(tile=128, overlap=64, dtype="float32")
    predict_file(be, spec, NAIP, tmp_path / "whole.tif", opts)
    with rasterio.open(NAIP) as src:
        ranges = strip_ranges(src.height, n)
    assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    strips = []
    for k, (r0, r1) in enumerate(ranges):
        p = tmp_path / f"strip{k}.tif"
        predict_file(be, spec, NAIP, p, PredictOptions(tile=128, overlap=64, dtype="float32",
                                                           strip=StripControl(rows=(r0, r1))))
        with rasterio.open(p) as s, rasterio.open(NAIP) as src:  # each strip is georeferenced itself
            assert s.height == r1 - r0 and s.transform == src.window_transform(Window(0, r0, src.width, r1 - r0))
        strips.append(p)
    out = assemble(strips, tmp_path / "assembled.tif")
    with rasterio.open(tmp_path / "whole.tif") as w, rasterio.open(out) as a:
        assert (a.crs, a.transform, a.shape, a.dtypes) == (w.crs, w.transform, w.shape, w.dtypes)
        assert a.descriptions == w.descriptions and a.tags()["bandbridge_model"] == w.tags()["bandbridge_model"]
        ww, aa = w.read(), a.read()
    assert np.array_equal(np.isnan(ww), np.isnan(aa))
    assert np.nanmax(np.abs(aa - ww)) <= 1e-5
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files left


def test_column_blocks_meet_on_the_output_block_grid_where_the_overlap_holds_one():
    p = plan_tiles(8192, 8192, 2048, 128, 128)  # tiles at 0, 1664, 3328, …: overlaps hold 3328, 6656
    blocks = column_blocks(p, 4096, grid=256)
    assert [b[1] for b in blocks[1:]] == [3328, 6656]
    for (ca, _, ra), (cb, lb, _) in zip(blocks, blocks[1:]):
        assert ra == lb and cb[0] <= lb < ca[-1] + p.tile_w  # inside both blocks' tiles
    p = plan_tiles(1000, 1000, 100, 30, 1)  # overlaps of 30 px rarely hold a multiple of 256
    for (ca, _, ra), (cb, _, _) in zip(column_blocks(p, 250, 256), column_blocks(p, 250, 256)[1:]):
        assert cb[0] <= ra < ca[-1] + p.tile_w


@pytest.mark.parametrize("top,scale", [(0, 1), (100, 1), (0, 2)])
def test_rows_are_recut_to_end_on_block_rows_and_nothing_is_lost(top, scale):
    from bandbridge.inference.core.tiling import on_block_rows
    rng = np.random.default_rng(0)
    edges = [top, top + 300, top + 610, top + 900, top + 1003]  # strips ending off the grid
    full_pred = rng.random((1, (edges[-1] - top) * scale, 7 * scale), dtype=np.float32)
    full_x = rng.random((3, edges[-1] - top, 7), dtype=np.float32)
    full_v = rng.random(((edges[-1] - top) * scale, 7 * scale)) > 0.1
    chunks = [(a, b, full_pred[:, (a - top) * scale:(b - top) * scale], full_x[:, a - top:b - top],
               full_v[(a - top) * scale:(b - top) * scale]) for a, b in zip(edges, edges[1:])]
    out = list(on_block_rows(iter(chunks), 256, top, scale))
    assert [o[0] for o in out] == [top, top + 256, top + 512, top + 768] and out[-1][1] == edges[-1]
    assert all((o[1] - top) % 256 == 0 for o in out[:-1])
    np.testing.assert_array_equal(np.concatenate([o[2] for o in out], 1), full_pred)
    np.testing.assert_array_equal(np.concatenate([o[3] for o in out], 1), full_x)
    np.testing.assert_array_equal(np.concatenate([o[4] for o in out], 0), full_v)


@needs_shared
def test_bench_has_a_default_raster_for_every_input_kind(tmp_path):
    """`bench -m sar2optical` with no --raster used to stop on a 3-band Sentinel-2 mosaic: each
    input kind (8-bit, SAR in dB, reflectance) gets a mosaic of its own kind, and the SAR one is a
    2-band dB raster that sar2optical plans a prediction on."""
    from bandbridge.inference.core.predictor import plan_file
    from bandbridge.mosaics import make_sar_mosaic, mosaic_kind
    kinds = {n: mosaic_kind(read_spec(resolve_model_folder(n)).input.scaling)
             for n in ("rgb2nir-naip", "sar2optical", "rgb2nir-s2")}
    assert kinds == {"rgb2nir-naip": "naip", "sar2optical": "sar", "rgb2nir-s2": "s2"}
    p = make_sar_mosaic(SHARED / "sar_sen12mscr_glfcr" / "s1", tmp_path / "sar.tif", 600)
    with rasterio.open(p) as src:
        assert (src.count, src.dtypes[0], src.shape, src.descriptions) == (2, "float32", (600, 600), ("VV", "VH"))
        a = src.read()
    assert -60 < float(a.min()) and float(a.max()) < 30  # backscatter in dB, as the S1 files hold it
    spec = read_spec(resolve_model_folder("sar2optical"))
    plan = plan_file(spec, p, PredictOptions())[2]
    assert plan.tile_h > 0


def test_bench_reads_the_raster_as_predict_does_for_every_reflectance_bundle(tmp_path):
    """`bench -m rgb2nir-s2-toa` stopped on the 3-band Sentinel-2 mosaic that `predict` reads
    (its training source names a 13-band L1C layout): bench plans and runs its rows on the file
    as interpreted, like predict, for every bundle of the reflectance kind."""
    from bandbridge.bench import bench
    from bandbridge.mosaics import mosaic_kind
    from bandbridge.spec import ZOO_ALIASES, zoo_models
    p = tmp_path / "s2.tif"
    with rasterio.open(p, "w", driver="GTiff", width=160, height=160, count=3, dtype="uint16") as d:
        d.write((np.random.default_rng(0).random((3, 160, 160)) * 3000 + 200).astype("uint16"))
        d.descriptions = ("B04", "B03", "B02")
    names = [n for n in sorted(set(zoo_models()) - set(ZOO_ALIASES))
             if mosaic_kind(read_spec(resolve_model_folder(n)).input.scaling) == "s2"]
    assert {"rgb2nir-s2", "rgb2nir-s2-toa"} <= set(names), names
    for name in names:
        rows = bench(resolve_model_folder(name), p, rows=("reference", "tiled"), reference_raster=p)
        assert [r["kind"] for r in rows] == ["tiled", "tiled"] and all(r["mpix_s"] > 0 for r in rows), (name, rows)


def test_append_on_a_file_with_more_bands_says_which_are_not_copied(run_cli, tmp_path):
    """--append on an RGBN file dropped its real NIR without a word (issue 58): the reading line
    names the bands not copied."""
    code, out, err = run_cli("predict", str(NAIP), "-m", "rgb2nir", "--append", "-o", str(tmp_path / "a.tif"))
    assert code == 0, err
    assert "--append: the output holds the bands read (RED, GREEN, BLUE) and the synthetic one; the file's NIR is not copied" in out + err
    with rasterio.open(tmp_path / "a.tif") as s:
        assert s.count == 4
