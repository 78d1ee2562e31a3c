"""`bandbridge bench`: inference speed and memory, every row in its own process, one run.

Rows: a conv-throughput probe (the machine's ceiling), the reference — our U-Net at pix2pix's
``unet_256`` settings, fp32 eager, batch 1, tiled without overlap —, the model's raw generator
forward (fp32, bf16), and tiled prediction of a raster with overlap and blending (torch fp32,
torch auto, onnxruntime). Each row: MPix/s, peak RSS, achieved GFLOP/s, ratio to the reference.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


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


def generator_gflop(spec, tile: int) -> float:
    """GFLOP of one generator forward on a ``tile × tile`` input (torch's FLOP counter)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bandbridge.bundle import load_bundle
    g = load_bundle(spec.folder).generator.eval()
    x = torch.rand(1, spec.in_channels, tile, tile)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        g(x)
    return fc.get_total_flops() / 1e9


def run_row(row: dict) -> dict:
    """Measure one row (called in a fresh process so its peak RSS is its own)."""
    from bandbridge.inference.backends import make_backend
    from bandbridge.inference.predictor import PredictOptions, predict_file
    from bandbridge.inference.spec import read_spec
    if row["kind"] == "probe":
        return {"probe": conv_probe(), "rss_mb": _rss_mb()}
    spec = read_spec(row["model"])
    be = make_backend(spec, row.get("backend", "torch"), row.get("precision", "fp32"), row.get("threads"))
    if row["kind"] == "forward":
        t = row["tile"]
        b = max(1, min(16, 2**20 // (t * t)))  # the predictor's default batch for this tile
        x = np.random.default_rng(0).random((b, spec.in_channels, t, t), dtype=np.float32)
        be(x)
        be(x)
        n, t0 = row.get("reps", 5), time.perf_counter()
        for _ in range(n):
            be(x)
        secs = (time.perf_counter() - t0) / n
        return {"mpix_s": b * t * t / 1e6 / secs, "seconds": secs, "tiles": b, "rss_mb": _rss_mb(),
                "precision": be.precision}
    opts = PredictOptions(tile=row.get("tile"), overlap=row.get("overlap"),
                          batch_size=row.get("batch"))
    with tempfile.TemporaryDirectory() as d:
        st = predict_file(be, spec, row["raster"], Path(d) / "out.tif", opts)
        res = {"mpix_s": st.mpix_per_s, "seconds": st.seconds, "mpix": st.megapixels,
               "tiles": st.tiles, "rss_mb": _rss_mb(), "precision": be.precision,
               "bf16_error": be.bf16_error}
        if row.get("holdout"):
            res["holdout_mae"] = holdout_mae(be, spec, row["holdout"], opts, Path(d))
    return res


def holdout_mae(backend, spec, path: str, opts, tmp: Path) -> float:
    """MAE (model units) of the tiled prediction of a held-out file against its real target."""
    import rasterio

    from bandbridge.bands import get_scaling
    from bandbridge.data.reader import read_raster
    from bandbridge.inference.predictor import PredictOptions, predict_file
    t = spec.target
    truth = read_raster(path, get_scaling(t.scaling, t.vmin, t.vmax), t.bands,
                        band_names=t.band_names, sensor=t.sensor)
    o = PredictOptions(**{**opts.__dict__, "dtype": "float32"})
    predict_file(backend, spec, path, tmp / "holdout.tif", o)
    with rasterio.open(tmp / "holdout.tif") as src:
        pred = src.read()
    m = truth.mask
    return float(np.abs(pred[:, m] - truth.data[:, m]).mean())


def _in_subprocess(row: dict) -> dict:
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-m", "bandbridge.bench", json.dumps(row)],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"bench row {row} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def reference_bundle(folder: Path) -> Path:
    """A bundle of our U-Net at pix2pix's unet_256 settings (random weights: speed only)."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    from bandbridge.models import build_generator
    cfg = build_config({"name": "reference-unet_256", "model": {"generator": {"name": "unet", "args": {
        "ngf": 64, "depth": 8, "norm": "batch", "dropout": True}}},
        "data": {"sources": [{"files": ["x"], "input": {"bands": ["red", "green", "blue"], "scaling": "uint8"},
                              "target": {"bands": ["nir"], "scaling": "uint8"}}]},
        "inference": {"tile": 256, "overlap": 0}})
    g = build_generator("unet", 3, 1, cfg.model.generator.args)
    return save_bundle(folder, g.eval(), cfg, 3, 1)


def make_mosaic(naip_dir: Path, out: Path, size: int = 8192) -> Path:
    """A ``size × size`` 4-band NAIP mosaic tiled from the real NAIP scenes (dates side by side),
    georeferenced on the first scene's grid."""
    import rasterio
    from rasterio.transform import Affine
    files = sorted(naip_dir.glob("*.tif"))
    if not files:
        raise FileNotFoundError(f"no NAIP .tif files in {naip_dir}")
    with rasterio.open(files[0]) as s0:
        prof = s0.profile | {"height": size, "width": size, "tiled": True, "blockxsize": 512,
                             "blockysize": 512, "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        tr: Affine = s0.transform
        h0, w0 = s0.height, s0.width
    k = 0
    with rasterio.open(out, "w", **prof) as dst:
        for r in range(0, size, h0):
            for c in range(0, size, w0):
                with rasterio.open(files[k % len(files)]) as src:
                    a = src.read()
                k += 1
                hh, ww = min(h0, size - r, a.shape[1]), min(w0, size - c, a.shape[2])
                dst.write(a[:, :hh, :ww], window=rasterio.windows.Window(c, r, ww, hh))
    return out


def bench(model: Path, raster: Path, holdout: str | None = None, small: Path | None = None,
          reference_raster: Path | None = None, threads: int | None = None,
          rows: tuple[str, ...] = ("probe", "reference", "forward", "tiled", "onnx")) -> list[dict]:
    """Run the rows; returns them with ratios to the reference row."""
    from bandbridge.inference.export import export_onnx
    from bandbridge.inference.spec import read_spec, resolve_model_folder
    folder = resolve_model_folder(model)
    spec = read_spec(folder)
    tile, overlap = spec.config.inference.tile, spec.config.inference.overlap
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as d:
        ref = reference_bundle(Path(d) / "ref")
        todo = []
        if "probe" in rows:
            todo.append(("conv 3×3 64→64 probe", {"kind": "probe"}, None))
        if "reference" in rows:
            todo.append(("reference: unet_256 fp32 eager, tiled 256², no overlap, batch 1",
                         {"kind": "tiled", "model": str(ref), "precision": "fp32", "tile": 256,
                          "overlap": 0, "batch": 1, "raster": str(reference_raster or raster)}, (ref, 256)))
        if "forward" in rows:
            for p in ("fp32", "bf16"):
                todo.append((f"raw generator forward {tile}², {p}",
                             {"kind": "forward", "model": str(folder), "precision": p, "tile": tile}, (folder, tile)))
        if "tiled" in rows:
            for p in ("fp32", "auto"):
                todo.append((f"tiled predict, torch {p}, overlap {overlap} + blend",
                             {"kind": "tiled", "model": str(folder), "precision": p, "raster": str(raster),
                              "holdout": holdout}, (folder, tile)))
            if small is not None:
                todo.append(("tiled predict, torch auto, small raster (RSS check)",
                             {"kind": "tiled", "model": str(folder), "precision": "auto", "raster": str(small)},
                             (folder, tile)))
        if "onnx" in rows:
            onnx_dir = export_onnx(folder, Path(d) / "onnx")
            todo.append((f"tiled predict, onnxruntime fp32, overlap {overlap} + blend",
                         {"kind": "tiled", "model": str(onnx_dir), "backend": "onnx", "raster": str(raster),
                          "holdout": holdout}, (folder, tile)))
        for name, row, flop_of in todo:
            if threads:
                row["threads"] = threads
            res = _in_subprocess(row)
            res["name"] = name
            if flop_of is not None and "mpix_s" in res:
                f, t = flop_of
                gflop = generator_gflop(read_spec(f), t)
                # Work actually done: tiles × per-tile FLOPs (overlap included) per second.
                done = gflop * res.get("tiles", 1) / res["seconds"]
                res["gflop_s"] = done
            out.append(res)
    ref_speed = next((r["mpix_s"] for r in out if r["name"].startswith("reference")), None)
    for r in out:
        if ref_speed and "mpix_s" in r:
            r["vs_reference"] = r["mpix_s"] / ref_speed
    return out


def format_rows(rows: list[dict]) -> str:
    probe = next((r["probe"] for r in rows if "probe" in r), {})
    lines = [f"conv 3×3 64→64 on 256²: {probe.get('fp32', 0):.0f} GFLOP/s fp32, "
             f"{probe.get('bf16', 0):.0f} GFLOP/s bf16" if probe else "",
             "| row | precision | MPix/s | × reference | GFLOP/s | peak RSS MB | held-out MAE |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "probe" in r:
            continue
        mae = f"{r['holdout_mae']:.5f}" if r.get("holdout_mae") is not None else ""
        lines.append(f"| {r['name']} | {r.get('precision', '')} | {r['mpix_s']:.3f} | "
                     f"{r.get('vs_reference', float('nan')):.2f}× | {r.get('gflop_s', float('nan')):.0f} | "
                     f"{r['rss_mb']:.0f} | {mae} |")
    return "\n".join(x for x in lines if x)


if __name__ == "__main__":
    print(json.dumps(run_row(json.loads(sys.argv[1]))))
