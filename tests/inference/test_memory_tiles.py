"""Larger tiles where memory allows: the forward's memory per pixel measured and cached, the tile
a large job runs chosen under the peak budget, and what the cache shows and clears of it."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.core.predictor import forward_px, strip_bytes_per_px
from bandbridge.inference.core.tiling import plan_tiles, tile_for_memory
from bandbridge.inference.jobs import job as job_mod
from bandbridge.inference.jobs import tiles as tiles_mod
from bandbridge.inference.runtime import memory
from bandbridge.inference.runtime.backends import Chosen, TorchBackend
from bandbridge.spec import read_spec, resolve_model_folder

NET = "rgb2nir-photo"  # a U-Net bundle: stride lattice 128, tile 2048 (rgb2thermal is a linear map since issue 49)


def test_tile_for_memory_takes_the_largest_tile_whose_forward_and_strips_fit():
    # 127 B/px forward, 71 B/px strips (about the predictor's 72), a 4096 px column block: the figures of OpenVINO bf16
    # on rgb2thermal. 2176² needs 127·2176² + 71·2176·2176 = 0.94 GB (one tile column a block).
    need = lambda t, block: 127 * t * t + 71 * t * block
    assert need(2176, 2176) <= 1.0e9 < need(2304, 2304)
    assert tile_for_memory(2048, 128, 128, 1.0e9, 127, 71, 4096, 20000, forward_px) == 2176
    # the model's own 2048² does not fit in 0.5 GB: a smaller tile does (a tight container);
    # nothing fits in 1 MB, not even the smallest tile that advances past the overlap (256²)
    assert need(2048, 4096) > 0.5e9
    small = tile_for_memory(2048, 128, 128, 0.5e9, 127, 71, 4096, 20000, forward_px)
    assert small < 2048 and small % 128 == 0
    assert tile_for_memory(2048, 128, 128, 1e6, 127, 71, 4096, 20000, forward_px) is None
    assert tile_for_memory(2048, 128, 128, 1e12, 127, 71, 4096, 20000, forward_px) == 4096  # the cap
    # a narrow raster holds less strip: the same budget allows more
    assert tile_for_memory(2048, 128, 128, 1.0e9, 127, 71, 4096, 1000, forward_px) > 2176


def test_a_larger_tile_computes_fewer_pixels_on_the_8192_raster():
    ratio = lambda t: (lambda p: p.n_tiles * p.tile_h * p.tile_w / 8192**2)(plan_tiles(8192, 8192, t, 128, 128))
    assert ratio(2048) == pytest.approx(1.196, abs=1e-3) and ratio(2176) == pytest.approx(1.129, abs=1e-3)


def test_the_forward_memory_is_measured_once_and_cached(monkeypatch):
    spec = read_spec(resolve_model_folder(NET))
    be = TorchBackend(spec, "fp32")
    memory.memory_path(spec, be, None).unlink(missing_ok=True)  # another test may have measured it
    calls = []
    real = memory.measure_bytes_per_px
    monkeypatch.setattr(memory, "measure_bytes_per_px", lambda *a, **k: calls.append(1) or real(*a, **k))
    bpp = memory.bytes_per_px(spec, be)
    if not sys.platform.startswith("linux"):
        assert bpp is None  # no peak to reset: the model's tile is kept
        return
    # a U-Net forward holds several float32 activations of 64 channels at half resolution
    assert 50 < bpp < 2000, bpp
    assert memory.bytes_per_px(spec, be) == pytest.approx(bpp, abs=0.1) and len(calls) == 1
    rec = json.loads(memory.memory_path(spec, be, None).read_text())
    assert rec["backend"] == "torch" and rec["precision"] == "fp32" and rec["tile"] == memory.MEASURE_TILE
    from bandbridge.inference.runtime.cache import clear, entries
    assert any(r["kind"] == "memory" and "B/px" in r["choice"] for r in entries())
    clear()
    assert not memory.memory_path(spec, be, None).exists()


def _jobs(monkeypatch, tmp_path, size, tile=None):
    spec = read_spec(resolve_model_folder(NET))
    jobs = [job_mod.Job(tmp_path / "in.tif", tmp_path / "out.tif", spec, None,
                        PredictOptions(tile=tile), "", size)]
    monkeypatch.setattr(memory, "bytes_per_px", lambda spec, be, threads=None: 127.0)
    monkeypatch.setattr(memory, "resident_bytes", lambda: 400_000_000)
    monkeypatch.setattr(memory, "available_bytes", lambda: 20_000_000_000)
    return jobs, {spec.folder: Chosen(TorchBackend(spec, "fp32"), "as asked")}


def test_a_large_job_without_tile_gets_the_largest_that_fits(monkeypatch, tmp_path):
    jobs, runs = _jobs(monkeypatch, tmp_path, (8192, 8192))
    lines = tiles_mod.grow_tiles(jobs, runs)
    assert jobs[0].opts.tile == 2176 and "tiles up to 2176² for rgb2nir-photo" in lines[0]
    assert "127 B a pixel" in lines[0] and "--tile" in lines[0]


def test_little_memory_shrinks_the_tile_and_none_refuses_the_job_before_any_output(monkeypatch, tmp_path):
    # 1 GB available (a 900 MB cgroup's worth): half of it is all a job may take, and the model's
    # own 2048² tiles need 1.1 GB; the OOM kill the issue met becomes smaller tiles
    jobs, runs = _jobs(monkeypatch, tmp_path, (8192, 8192))
    monkeypatch.setattr(memory, "available_bytes", lambda: 1_000_000_000)
    lines = tiles_mod.grow_tiles(jobs, runs)
    assert jobs[0].opts.tile < 2048 and f"tiles down to {jobs[0].opts.tile}² for rgb2nir-photo" in lines[0], lines
    assert "its own tile would not fit" in lines[0] and "planned under 0.90 GB peak" in lines[0], lines
    jobs, runs = _jobs(monkeypatch, tmp_path, (8192, 8192))
    monkeypatch.setattr(memory, "available_bytes", lambda: 20_000_000)
    with pytest.raises(BandbridgeError, match=r"rgb2nir-photo on torch fp32 needs about .* GB even at "
                                              r"256² tiles, and this process may take .*free memory"):
        tiles_mod.grow_tiles(jobs, runs)
    assert not (tmp_path / "out.tif").exists()


def test_a_process_holding_most_of_the_plan_still_runs_in_the_memory_available(monkeypatch, tmp_path):
    # CI met this: a long-lived process (the test suite) held 1.45 GB of the 1.5 GB plan, and a job
    # that fits in half of the memory available was refused; now it runs the model's own tile or less
    jobs, runs = _jobs(monkeypatch, tmp_path, (8192, 8192))
    monkeypatch.setattr(memory, "resident_bytes", lambda: 1_450_000_000)
    monkeypatch.setattr(memory, "available_bytes", lambda: 8_000_000_000)
    lines = tiles_mod.grow_tiles(jobs, runs)
    assert jobs[0].opts.tile == 2048 and "tiles 2048² (its own) for rgb2nir-photo" in lines[0], lines
    assert "no tile fits the 1.50 GB plan on top of the 1.45 GB this process holds" in lines[0], lines
    assert jobs[0].planned_bytes == pytest.approx(1.45e9 + 4e9)
    # with less free, a smaller tile; with nothing free, refused as before
    for free in (1_000_000_000, 20_000_000):
        jobs, runs = _jobs(monkeypatch, tmp_path, (8192, 8192))
        monkeypatch.setattr(memory, "resident_bytes", lambda: 1_450_000_000)
        monkeypatch.setattr(memory, "available_bytes", lambda: free)
        if free > 1e8:
            tiles_mod.grow_tiles(jobs, runs)
            assert jobs[0].opts.tile < 2048
    with pytest.raises(BandbridgeError, match=r"needs about .* GB even at 256² tiles, and this process may take 1.46 GB"):
        tiles_mod.grow_tiles(jobs, runs)


@pytest.mark.parametrize("case", ["small job", "--tile given", "not measurable"])
def test_the_tile_stays_where_memory_or_the_user_says_so(monkeypatch, tmp_path, case):
    size, tile = ((1000, 1000), None) if case == "small job" else ((8192, 8192), 1024 if case == "--tile given" else None)
    jobs, runs = _jobs(monkeypatch, tmp_path, size, tile)
    if case == "not measurable":
        monkeypatch.setattr(memory, "bytes_per_px", lambda spec, be, threads=None: None)
    lines = tiles_mod.grow_tiles(jobs, runs)
    assert jobs[0].opts.tile == tile and lines == [], lines


def test_strip_memory_counts_inputs_and_outputs_per_pixel():
    spec = read_spec(resolve_model_folder(NET))  # 3 bands in, 1 out: 3·13 + 12 + 12 + 9
    assert strip_bytes_per_px(spec) == 72
    sr = read_spec(resolve_model_folder("sr-x4"))  # ×4: 16 output pixels per input pixel
    assert strip_bytes_per_px(sr) == 3 * 13 + 12 + 16 * 3 * (12 + 9)


def test_measure_is_the_peak_rise_of_one_forward(monkeypatch):
    """The measure reads the peak after one forward against the resident size before it (readings
    injected: 100 MB before, 228 MB peak, 1024² pixels → 128 B/px)."""
    spec = read_spec(resolve_model_folder(NET))
    kb = {"VmRSS": 100 * 1024**2 // 1024, "VmHWM": 228 * 1024**2 // 1024}
    monkeypatch.setattr(memory, "_status_kb", lambda field: kb[field])
    monkeypatch.setattr(memory.Path, "write_text", lambda self, text: len(text))
    forgotten = []

    class Fake:
        name, precision = "openvino", "bf16"

        def __call__(self, x, context=None):
            assert x.shape == (1, 3, 1024, 1024)
            return np.zeros((1, 1, 1024, 1024), np.float32)

        def forget(self, shape):
            forgotten.append(shape)
    assert memory.measure_bytes_per_px(Fake(), spec) == pytest.approx(128.0)
    assert forgotten == [(1, 3, 1024, 1024)]  # the runtime's request for that shape is released


def _cgroup(root, files: dict) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_memory_counts_the_cgroup_limit_not_the_hosts_free_memory(tmp_path):
    # cgroup v2: 900 MB limit, 600 MB charged of which 100 MB inactive file cache (dropped first)
    v2 = tmp_path / "v2"
    _cgroup(v2, {"job/memory.max": "900000000\n", "job/memory.current": "600000000\n",
                 "job/memory.stat": "anon 500000000\ninactive_file 100000000\n",
                 "memory.max": "max\n", "memory.current": "7000000000\n"})
    assert memory.cgroup_room("0::/job\n", v2) == 400_000_000
    # cgroup v1, the limit on a parent; the child unlimited (2^63 rounded to pages)
    v1 = tmp_path / "v1"
    _cgroup(v1, {"memory/a/memory.limit_in_bytes": "1000000000", "memory/a/memory.usage_in_bytes": "250000000",
                 "memory/a/b/memory.limit_in_bytes": "9223372036854771712",
                 "memory/a/b/memory.usage_in_bytes": "250000000"})
    assert memory.cgroup_room("4:memory:/a/b\n1:cpu:/\n", v1) == 750_000_000
    # no limit anywhere (this sandbox's case), or no cgroup files at all: None
    _cgroup(tmp_path / "none", {"memory/memory.limit_in_bytes": "9223372036854771712",
                                "memory/memory.usage_in_bytes": "1"})
    assert memory.cgroup_room("4:memory:/x\n", tmp_path / "none") is None
    assert memory.cgroup_room("0::/\n", tmp_path / "missing") is None
