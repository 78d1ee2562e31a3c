"""`bandbridge bench`: inference speed and memory, every row in its own process, one run.

Rows: a conv-throughput probe (the machine's ceiling); the backend selection (``select.py``: every
candidate timed and gated, cached); the reference — our U-Net at pix2pix's ``unet_256`` settings,
fp32 eager, batch 1, tiled without overlap —; each available backend's raw generator forward; tiled
prediction of a real-sized raster with the chosen backend and with torch fp32; peak RSS of tiled
prediction at two sizes. Every row with a model prints its held-out metric (MAE, and NDVI MAE for
NIR) from that row's own backend and precision, so speed never hides an accuracy loss.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
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


def _backend(row: dict, spec):
    from bandbridge.inference.runtime.select import make_backend
    b, p = row.get("backend", "torch"), row.get("precision", "fp32")
    return make_backend(spec, b, p, row.get("threads"), row.get("compile", False),
                        probe=(b == "auto" or p == "auto"))


def _as_predict_plans(row: dict, spec, be) -> PredictOptions:
    """The options ``bandbridge predict`` plans for ``row["raster"]`` with backend ``be``: its
    reading of the file and, for a large one, the tile memory allows (``grow_tiles``)."""
    from bandbridge.inference.core.predictor import PredictOptions
    from bandbridge.inference.jobs.job import grow_tiles, plan_predict
    with tempfile.TemporaryDirectory() as d:
        jobs, _ = plan_predict([row["raster"]], str(spec.folder), str(Path(d) / "out.tif"), PredictOptions())
    grow_tiles(jobs, {spec.folder: be}, row.get("threads"))
    return jobs[0].opts


def run_row(row: dict) -> dict:
    """Measure one row (called in a fresh process so its peak RSS is its own)."""
    from bandbridge.inference.core.predictor import PredictOptions, default_batch, plan_file, predict_file
    from bandbridge.spec import read_spec
    if row["kind"] == "probe":
        return {"probe": conv_probe(), "rss_mb": _rss_mb()}
    spec = read_spec(row["model"])
    be = _backend(row, spec)
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
        opts = PredictOptions(tile=row["tile"], overlap=row.get("overlap"), batch_size=row.get("batch")) \
            if row.get("tile") else _as_predict_plans(row, spec, be)
    else:
        opts = PredictOptions()
    if row["kind"] == "forward":
        th, tw = row["tile"]
        b = default_batch(th, tw)
        x = np.random.default_rng(0).random((b, spec.in_channels, th, tw), dtype=np.float32)
        be(x)
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
        res |= {"mpix_s": st.mpix_per_s, "seconds": st.seconds, "mpix": st.megapixels,
                "tiles": st.tiles, "rss_mb": _rss_mb(), "tile": [plan.tile_h, plan.tile_w],
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

    from bandbridge.bands import INDICES, find_role, get_scaling, is_single_nir
    from bandbridge.data.reader import read_raster
    from bandbridge.inference.core.predictor import predict_file
    t, i = spec.target, spec.input
    truth = read_raster(path, get_scaling(t.scaling, t.vmin, t.vmax), t.bands,
                        band_names=t.band_names, sensor=t.sensor)
    o = replace(opts, dtype="float32")
    predict_file(backend, spec, path, tmp / "holdout.tif", o)
    with rasterio.open(tmp / "holdout.tif") as src:
        pred = src.read()
    m = truth.mask & np.isfinite(pred).all(0)
    out = {"mae": float(np.abs(pred[:, m] - truth.data[:, m]).mean())}
    red = find_role(spec.input_names, "red")
    if is_single_nir(spec.target_names) and red is not None and spec.scale == 1:
        x = read_raster(path, get_scaling(i.scaling, i.vmin, i.vmax), i.bands,
                        band_names=i.band_names, sensor=i.sensor).data[red]
        ndvi = INDICES["ndvi"][0]
        out["ndvi_mae"] = float(np.abs(ndvi(x, pred[0]) - ndvi(x, truth.data[0]))[m].mean())
    return out


def _in_subprocess(row: dict) -> dict:
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-m", "bandbridge.bench", json.dumps(row)],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"bench row {row} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def reference_bundle(folder: Path, spec=None) -> Path:
    """A bundle of our U-Net at pix2pix's unet_256 settings (random weights: speed only), reading
    the bands and scaling of ``spec`` (the benchmarked model) so it runs on the same raster."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    from bandbridge.models import build_generator
    sel = spec.input.model_dump(mode="json") if spec is not None else \
        {"bands": ["red", "green", "blue"], "scaling": "uint8"}
    tgt = spec.target.model_dump(mode="json") if spec is not None else {"bands": ["nir"], "scaling": "uint8"}
    n_in = spec.in_channels if spec is not None else 3
    n_out = spec.out_channels if spec is not None else 1
    cfg = build_config({"name": "reference-unet_256", "model": {"generator": {"name": "unet", "args": {
        "ngf": 64, "depth": 8, "norm": "batch", "dropout": True}}},
        "data": {"sources": [{"files": ["x"], "input": sel, "target": tgt}]},
        "inference": {"tile": 256, "overlap": 0}})
    g = build_generator("unet", n_in, n_out, cfg.model.generator.args)
    return save_bundle(folder, g.eval(), cfg, n_in, n_out)


ROWS = ("probe", "select", "reference", "forward", "compiled", "tiled", "rss")


def run_bench(model: str, raster: str | None, data: str, holdout: str | None, rss_sizes: str,
              reference_raster: str | None, threads: int | None, rows: str, json_out: str | None,
              say=print, progress=None) -> list[dict]:
    """``bandbridge bench`` from its flags as given: each one checked before any measuring (a
    mistake is one BandbridgeError), the default rasters built once from the real scenes in
    ``data`` (``say(line)`` hears each), then :func:`bench`."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.fileio import check_writable
    from bandbridge.mosaics import mosaic, scene_folders
    from bandbridge.spec import read_spec, resolve_model_folder
    wanted = tuple(r.strip() for r in rows.split(",") if r.strip())
    if not wanted or any(r not in ROWS for r in wanted):
        raise BandbridgeError(f"--rows {rows}: name rows among {', '.join(ROWS)}")
    if threads is not None and threads < 1:
        raise BandbridgeError(f"--threads {threads}: must be at least 1")
    try:
        sizes = [int(v) for v in rss_sizes.split(",") if v.strip()]
    except ValueError:
        sizes = [0]
    if any(v < 256 for v in sizes):
        raise BandbridgeError(f"--rss-sizes {rss_sizes}: give sides in pixels, at least 256, like "
                              "4096,20000 ('' for none)")
    for flag, f in (("--holdout", holdout), ("--raster", raster), ("--reference-raster", reference_raster)):
        if f is not None and not Path(f).is_file():
            raise BandbridgeError(f"{flag} {f}: no such file")
    if json_out is not None:
        if Path(json_out).is_dir():
            raise BandbridgeError(f"--json {json_out} is a folder; name a .json file")
        if not Path(json_out).parent.is_dir():
            raise BandbridgeError(f"--json {json_out}: no folder {Path(json_out).parent}; create it or "
                                  "choose another path")
        check_writable(Path(json_out).parent, "--json")
    eight_bit = read_spec(resolve_model_folder(model)).input.scaling == "uint8"
    needs = [raster is None,  # the tile the rows run is planned on it
             reference_raster is None and "reference" in wanted, bool(sizes) and "rss" in wanted]
    missing = [d for d in scene_folders(data, eight_bit) if not d.is_dir()]
    if any(needs) and missing:
        raise BandbridgeError(f"--data {data}: {missing[0]} not found; the default rasters are tiled "
                              "from it: pass --data with the dev data, or --raster/--reference-raster "
                              "and --rss-sizes ''")
    main_raster = Path(raster) if raster else mosaic(data, eight_bit, 8192 if eight_bit else 10980, say)
    ref_raster = Path(reference_raster) if reference_raster else mosaic(data, eight_bit, 2048, say)
    rss = tuple(mosaic(data, eight_bit, v, say) for v in sizes) if "rss" in wanted else ()
    return bench(Path(model), main_raster, holdout, rss, ref_raster, threads, wanted, progress=progress)


def bench(model: Path, raster: Path, holdout: str | None = None, rss_rasters: tuple[Path, ...] = (),
          reference_raster: Path | None = None, threads: int | None = None,
          rows: tuple[str, ...] = ("probe", "select", "reference", "forward", "tiled", "rss"),
          progress=None) -> list[dict]:
    """Run the rows; returns them with ratios to the reference row (and, for tiled rows, to the
    same backend's raw forward). ``progress(line)`` hears each row as it starts and ends."""
    from bandbridge.spec import read_spec, resolve_model_folder
    folder = resolve_model_folder(model)
    spec = read_spec(folder)
    from bandbridge.inference.core.predictor import PredictOptions, plan_file
    overlap = spec.config.inference.overlap
    plan = plan_file(spec, Path(raster), PredictOptions())[2]
    tile = (plan.tile_h, plan.tile_w)  # the raw forward runs the tiles the tiled rows run
    out: list[dict] = []
    chosen = {"backend": "torch", "precision": "fp32"}
    cands = [chosen]
    m = str(folder)

    def run(name: str, row: dict, flop_of=None) -> dict:
        if threads:
            row["threads"] = threads
        if progress:
            progress(f"[{len(out) + 1}] {name} …")
        t0 = time.perf_counter()
        res = _in_subprocess(row) | {"name": name, "kind": row["kind"]}
        if progress:
            progress(f"[{len(out) + 1}] {name}: " + (f"{res['mpix_s']:.3f} MPix/s" if "mpix_s" in res
                     else res.get("choice", "done")) + f" ({time.perf_counter() - t0:.0f} s)")
        if flop_of is not None and "mpix_s" in res:
            f, t = flop_of  # work actually done: tiles × per-tile FLOPs (overlap included) per second
            t = tuple(res["tile"]) if "tile" in res and f == folder else t
            res["gflop_s"] = generator_gflop(read_spec(f), t) * res.get("tiles", 1) / res["seconds"]
        out.append(res)
        return res

    with tempfile.TemporaryDirectory() as d:
        ref = reference_bundle(Path(d) / "ref", spec)
        if "probe" in rows:
            run("conv 3×3 64→64 probe", {"kind": "probe"})
        if "select" in rows:  # measured and gated once per model and machine; later rows reuse it
            sel = run("backend selection (auto)", {"kind": "select", "model": m, "backend": "auto",
                                                   "precision": "auto", "raster": str(raster)})
            chosen = {"backend": sel["backend"], "precision": sel["precision"]}
            tile = tuple(sel.get("tile") or tile)  # the tile predict runs here: larger where memory allows
            # every available candidate gets its forward row, also one the selection's time-bounded
            # probe skipped (a loaded machine): that is what bench is for
            cands = [{"backend": r["backend"], "precision": r["precision"], "gate": r["status"]}
                     for r in (sel["record"] or {}).get("candidates", [])
                     if "mpix_s" in r or r["status"] == "skipped"] or [chosen]
        if "reference" in rows:
            run("reference: unet_256 fp32 eager, tiled 256², no overlap, batch 1",
                {"kind": "tiled", "model": str(ref), "precision": "fp32", "tile": 256, "overlap": 0,
                 "batch": 1, "raster": str(reference_raster or raster)}, (ref, 256))
        if "forward" in rows:
            for c in cands:
                gate = {"accepted": "", "skipped": " (not gated: the selection's probe ran out of time)"}.get(
                    c.get("gate", "accepted"), f" ({c.get('gate')} by the gate)")
                run(f"raw forward {tile[0]}×{tile[1]}, {c['backend']} {c['precision']}{gate}",
                    {"kind": "forward", "model": m, "tile": tile, "holdout": holdout,
                     "backend": c["backend"], "precision": c["precision"]}, (folder, tile))
                out[-1]["gate"] = c.get("gate", "accepted")
        if "compiled" in rows:  # torch.compile (inductor): minutes to compile, so not by default
            run(f"raw forward {tile[0]}×{tile[1]}, torch compiled",
                {"kind": "forward", "model": m, "tile": tile, "backend": "torch", "precision": "fp32",
                 "compile": True}, (folder, tile))
        if "tiled" in rows:
            for c, why in ((chosen, "chosen"), ({"backend": "torch", "precision": "fp32"}, "torch fp32")):
                if why == "torch fp32" and c == chosen:
                    continue
                run(f"tiled predict {_size(raster)}, {c['backend']} {c['precision']} ({why}), overlap {overlap} + blend",
                    {"kind": "tiled", "model": m, "raster": str(raster), "holdout": holdout, **c},
                    (folder, tile))
        if "rss" in rows:
            for r in rss_rasters:
                run(f"tiled predict {_size(r)}, {chosen['backend']} (RSS)",
                    {"kind": "tiled", "model": m, "raster": str(r), **chosen}, (folder, tile))
    ref_speed = next((r["mpix_s"] for r in out if r["name"].startswith("reference")), None)
    for r in out:
        if ref_speed and "mpix_s" in r:
            r["vs_reference"] = r["mpix_s"] / ref_speed
        if r["kind"] == "tiled" and not r["name"].startswith("reference"):
            raw = next((f["mpix_s"] for f in out if f["kind"] == "forward" and f["backend"] == r["backend"]
                        and f["precision"] == r["precision"] and f.get("tile") == r.get("tile")), None)
            # a forward on other tiles is no measure of this row's overhead (speed per pixel
            # depends on the tile: torch fp32 ran 1.18 MPix/s at 2176², 1.74 tiled at 1792²)
            if raw:
                r["vs_raw"] = r["mpix_s"] / raw
    return out


def record(rows: list[dict], command: str, threads: int | None = None) -> dict:
    """What ``--json`` writes: the rows with what measured them — the command, the date, the CPU
    (model, cores, whether it computes bf16 natively) and the threads each row ran on."""
    import datetime
    import os

    from bandbridge.machine import cpu_flags, cpu_has_bf16
    name, flags = cpu_flags()
    kind = ("native bf16 (AMX or AVX512-BF16)" if cpu_has_bf16() else
            "AVX2, bf16 emulated" if "avx2" in flags else "without AVX2")
    return {"command": command, "measured": datetime.date.today().isoformat(),
            "cpu": f"{name or 'unknown CPU'}, {os.cpu_count()} cores, {kind}",
            "threads": threads or os.cpu_count(), "rows": rows}


def _size(path: Path) -> str:
    import rasterio
    with rasterio.open(path) as src:
        return f"{src.height}×{src.width}"


def format_rows(rows: list[dict]) -> str:
    probe = next((r["probe"] for r in rows if "probe" in r), {})
    sel = next((r for r in rows if r["kind"] == "select"), None)
    lines = [f"conv 3×3 64→64 on 256²: {probe.get('fp32', 0):.0f} GFLOP/s fp32, "
             f"{probe.get('bf16', 0):.0f} GFLOP/s bf16" if probe else "",
             f"backend: {sel['choice']}" if sel else "",
             "| row | precision | MPix/s | × reference | × raw forward | GFLOP/s | peak RSS MB | held-out MAE | held-out NDVI MAE | check-tile MAE |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "mpix_s" not in r:
            continue
        h = r.get("holdout") or {}
        tiles = f"; {r['tile'][0]}×{r['tile'][1]} tiles, {r['computed']:.2f}× pixels computed" \
            if r["kind"] == "tiled" and "computed" in r else ""
        lines.append(f"| {r['name']}{tiles} | {r.get('precision', '')} | {r['mpix_s']:.3f} | "
                     + (f"{r['vs_reference']:.2f}×" if "vs_reference" in r else "") + " | "
                     + (f"{r['vs_raw']:.0%}" if "vs_raw" in r else "") + " | "
                     f"{r.get('gflop_s', float('nan')):.0f} | {r['rss_mb']:.0f} | "
                     + (f"{h['mae']:.5f}" if "mae" in h else "") + " | "
                     + (f"{h['ndvi_mae']:.4f}" if "ndvi_mae" in h else "") + " | "
                     + (f"{r['check']['mae']:.5f}" if "check" in r and not r["name"].startswith("reference")
                        else "") + " |")
    return "\n".join(x for x in lines if x)


if __name__ == "__main__":
    print(json.dumps(run_row(json.loads(sys.argv[1]))))
