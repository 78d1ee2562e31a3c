"""One `bandbridge bench` row measured, in a process of its own so that its peak RSS is its own:
``python -m bandbridge.bench_row ROW`` (ROW as JSON) prints the row's result as JSON."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where a row runs: each row is a process of its own
    from bandbridge.inference.core.options import PredictOptions


def _rss_mb() -> float:
    """Peak RSS of this process in MB (VmHWM: per address space, so unlike ru_maxrss it does
    not inherit the parent's peak across fork + exec)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def conv_probe() -> dict:
    """GFLOP/s of a 3×3 64→64 convolution on 256² (fp32 channels_last and bf16)."""
    import torch
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(dtype=dtype, memory_format=torch.channels_last)
        x = torch.rand(1, 64, 256, 256, dtype=dtype).contiguous(memory_format=torch.channels_last)
        flops = 2 * 64 * 64 * 9 * 256 * 256
        with torch.inference_mode():
            for _ in range(3):
                conv(x)
            t = time.perf_counter()
            n = 20
            for _ in range(n):
                conv(x)
            out[name] = flops * n / (time.perf_counter() - t) / 1e9
    return out


def generator_gflop(spec, tile: int | tuple[int, int]) -> float:
    """GFLOP of one generator forward on a ``tile`` (side, or (h, w)) input (torch's FLOP counter)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bandbridge.bundle import load_bundle
    g = load_bundle(spec.folder).generator.eval()
    h, w = (tile, tile) if isinstance(tile, int) else tile
    x = torch.rand(1, spec.in_channels, h, w)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        g(x)
    return fc.get_total_flops() / 1e9


def _as_predict_plans(row: dict, spec, be) -> PredictOptions:
    """The options ``bandbridge predict`` plans for ``row["raster"]`` with backend ``be``: its
    reading of the file and, for a large one, the tile memory allows (``grow_tiles``; the peak it
    planned under is ``row["planned_bytes"]`` afterwards)."""
    from bandbridge.inference.core.predictor import PredictOptions
    from bandbridge.inference.jobs.job import make_jobs
    from bandbridge.inference.jobs.tiles import grow_tiles
    with tempfile.TemporaryDirectory() as d:
        jobs, _ = make_jobs([row["raster"]], str(spec.folder), str(Path(d) / "out.tif"), PredictOptions())
    grow_tiles(jobs, {spec.folder: be}, row.get("threads"))
    row["planned_bytes"] = jobs[0].planned_bytes
    return jobs[0].opts


def run_row(row: dict) -> dict:
    """Measure one row (called in a fresh process so its peak RSS is its own)."""
    from bandbridge.inference.core.interpret import interpret
    from bandbridge.inference.core.predictor import PredictOptions, default_batch, plan_file, predict_file
    from bandbridge.spec import read_spec
    if row["kind"] == "probe":
        return {"probe": conv_probe(), "rss_mb": _rss_mb()}
    spec = read_spec(row["model"])
    from bandbridge.inference.runtime.select import make_backend
    b, p = row.get("backend", "torch"), row.get("precision", "fp32")
    be = make_backend(spec, b, p, row.get("threads"), row.get("compile", False), probe=(b == "auto" or p == "auto"))
    res = {"backend": be.name, "precision": be.precision}
    if row["kind"] == "select":
        res |= {"choice": be.choice, "record": be.record}
        if row.get("raster"):  # the tile `predict` gives this raster with this backend
            opts = _as_predict_plans(row, spec, be)
            plan = plan_file(spec, Path(row["raster"]), opts)[2]
            res["tile"] = [plan.tile_h, plan.tile_w]
        return res | {"rss_mb": _rss_mb()}
    # Forward rows predict the held-out file with the model's own tiling; tiled rows without a
    # tile run what `bandbridge predict` runs: the file looked at, the tile grown where memory allows.
    if row["kind"] == "tiled":
        opts = interpret(row["raster"], spec).apply(PredictOptions(
            tile=row["tile"], overlap=row.get("overlap"), batch_size=row.get("batch"))) \
            if row.get("tile") else _as_predict_plans(row, spec, be)
    else:
        opts = PredictOptions()
    if row["kind"] == "forward":
        th, tw = row["tile"]
        b = default_batch(th, tw)
        x = np.random.default_rng(0).random((b, spec.in_channels, th, tw), dtype=np.float32)
        for _ in range(2):  # warm-up
            be(x)
        n, t0 = row.get("reps", 5), time.perf_counter()
        for _ in range(n):
            be(x)
        secs = (time.perf_counter() - t0) / n
        res |= {"mpix_s": b * th * tw / 1e6 / secs, "seconds": secs, "tiles": b, "rss_mb": _rss_mb(),
                "tile": [th, tw]}
    else:
        with tempfile.TemporaryDirectory() as d:
            st = predict_file(be, spec, row["raster"], Path(d) / "out.tif", opts)
        plan = plan_file(spec, Path(row["raster"]), opts)[2]
        planned = row.get("planned_bytes")
        res |= {"mpix_s": st.mpix_per_s, "seconds": st.seconds, "mpix": st.megapixels,
                "tiles": st.tiles, "rss_mb": _rss_mb(), "tile": [plan.tile_h, plan.tile_w],
                **({"planned_mb": planned / 2**20} if planned else {}),
                "computed": plan.n_tiles * plan.tile_h * plan.tile_w / (plan.height * plan.width)}
    if row.get("holdout"):
        with tempfile.TemporaryDirectory() as d:
            same_tiles = PredictOptions(tile=opts.tile, overlap=opts.overlap, batch_size=opts.batch_size)
            res["holdout"] = holdout_metrics(be, spec, row["holdout"], same_tiles, Path(d))
    from bandbridge.inference.runtime.gate import load_check_sample, task_metrics
    sample = load_check_sample(spec.folder)
    if sample is not None:  # every row's accuracy, --holdout or not: the bundle's own check tile
        res["check"] = task_metrics(be(sample.x, sample.context)[0], sample, spec.input_names,
                                    spec.target_names)
    return res


def holdout_metrics(backend, spec, path: str, opts, tmp: Path) -> dict[str, float]:
    """MAE (model units), and NDVI MAE for a NIR model, of the tiled prediction of a held-out
    file against its real target, over valid pixels."""
    import rasterio

    from bandbridge.bands import INDICES, find_role, is_single_nir
    from bandbridge.data.datasets import read_side
    from bandbridge.inference.core.predictor import predict_file
    truth = read_side(path, spec.target)
    o = replace(opts, dtype="float32")
    predict_file(backend, spec, path, tmp / "holdout.tif", o)
    with rasterio.open(tmp / "holdout.tif") as src:
        pred = src.read()
    m = truth.mask & np.isfinite(pred).all(0)
    out = {"mae": float(np.abs(pred[:, m] - truth.data[:, m]).mean())}
    red = find_role(spec.input_names, "red")
    if is_single_nir(spec.target_names) and red is not None and spec.scale == 1:
        x = read_side(path, spec.input).data[red]
        ndvi = INDICES["ndvi"][0]
        out["ndvi_mae"] = float(np.abs(ndvi(x, pred[0]) - ndvi(x, truth.data[0]))[m].mean())
    return out


def refused_or_run(row: dict) -> dict:
    """:func:`run_row`, or the row marked refused with the one line saying why, when the model
    refuses it (a precision a learner kind cannot take): `bench` records it and goes on."""
    from bandbridge.errors import BandbridgeError
    try:
        return run_row(row)
    except BandbridgeError as e:
        return {"status": "refused", "why": str(e), "backend": row.get("backend"),
                "precision": row.get("precision")}


if __name__ == "__main__":
    print(json.dumps(refused_or_run(json.loads(sys.argv[1]))))
