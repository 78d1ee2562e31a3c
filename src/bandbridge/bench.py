"""`bandbridge bench`: inference speed and memory, every row in its own process, one run.

Rows: a conv-throughput probe (the machine's ceiling); the backend selection (``select.py``: every
candidate timed and gated, cached); the reference — our U-Net at pix2pix's ``unet_256`` settings,
fp32 eager, batch 1, tiled without overlap —; each available backend's raw generator forward; tiled
prediction of a real-sized raster with the chosen backend and with torch fp32; peak RSS of tiled
prediction at two sizes. Every row with a model prints its held-out metric (MAE, and NDVI MAE for
NIR) from that row's own backend and precision, so speed never hides an accuracy loss. A row is
measured by ``bench_row.py``; ``bench_report.py`` shows the rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bandbridge.bench_row import generator_gflop
from bandbridge.progress import heartbeat


def row_in_subprocess(row: dict) -> dict:
    """One bench row (``bench_row.run_row``) in a fresh process, so its peak RSS and threads are
    its own: the row's result, or RuntimeError with the process's last error lines."""
    p = subprocess.run([sys.executable, "-m", "bandbridge.bench_row", json.dumps(row)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"bench row {row} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def reference_bundle(folder: Path, spec=None) -> Path:
    """A bundle of our U-Net at pix2pix's unet_256 settings (random weights: speed only), reading
    the bands and scaling of ``spec`` (the benchmarked model) so it runs on the same raster."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    from bandbridge.generators import build_generator
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
    from bandbridge.mosaics import mosaic, mosaic_kind, scene_folders
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
    kind = mosaic_kind(read_spec(resolve_model_folder(model)).input.scaling)
    needs = [raster is None,  # the tile the rows run is planned on it
             reference_raster is None and "reference" in wanted, bool(sizes) and "rss" in wanted]
    missing = [d for d in scene_folders(data, kind) if not d.is_dir()]
    if any(needs) and missing:
        raise BandbridgeError(f"--data {data}: {missing[0]} not found; the default rasters are tiled "
                              "from it: pass --data with the dev data, or --raster/--reference-raster "
                              "and --rss-sizes ''")
    main_raster = Path(raster) if raster else mosaic(data, kind, 10980 if kind == "s2" else 8192, say)
    ref_raster = Path(reference_raster) if reference_raster else mosaic(data, kind, 2048, say)
    rss = tuple(mosaic(data, kind, v, say) for v in sizes) if "rss" in wanted else ()
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
    overlap = spec.config.inference.overlap
    tile = _planned_tile(spec, raster)  # the raw forward runs the tiles the tiled rows run
    out: list[dict] = []
    chosen = {"backend": "torch", "precision": "fp32"}
    cands = [chosen]
    m = str(folder)

    def run(name: str, row: dict, flop_of=None) -> dict:
        res = _run_row(len(out) + 1, name, row | ({"threads": threads} if threads else {}), progress)
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
            cands = _forward_candidates(sel, chosen)
        if "reference" in rows:
            run("reference: unet_256 fp32 eager, tiled 256², no overlap, batch 1",
                {"kind": "tiled", "model": str(ref), "precision": "fp32", "tile": 256, "overlap": 0,
                 "batch": 1, "raster": str(reference_raster or raster)}, (ref, 256))
        # torch.compile (inductor) takes minutes to compile, so only when asked for by name
        compiled = {"backend": "torch", "precision": "fp32", "compile": True, "holdout": None}
        for c in (cands if "forward" in rows else []) + ([compiled] if "compiled" in rows else []):
            run(_forward_name(c, tile), {"kind": "forward", "model": m, "tile": tile, "holdout": holdout,
                                         **{k: v for k, v in c.items() if k != "gate"}}, (folder, tile))
            if not c.get("compile"):
                out[-1]["gate"] = c.get("gate", "accepted")
        if "tiled" in rows:
            for c, why in ((chosen, "chosen"), ({"backend": "torch", "precision": "fp32"}, "torch fp32")):
                if why == "torch fp32" and c == chosen:
                    continue
                run(f"tiled predict {_size(raster)}, {c['backend']} {c['precision']} ({why}), overlap {overlap} + blend",
                    {"kind": "tiled", "model": m, "raster": str(raster), "holdout": holdout, **c},
                    (folder, tile))
        for r in rss_rasters if "rss" in rows else ():
            run(f"tiled predict {_size(r)}, {chosen['backend']} (RSS)",
                {"kind": "tiled", "model": m, "raster": str(r), **chosen}, (folder, tile))
    return _with_ratios(out)


def _planned_tile(spec, raster: Path) -> tuple[int, int]:
    """The tile ``predict`` plans for ``raster``, the file read as ``predict`` reads it (a bundle's
    training sensor is no requirement on it)."""
    from bandbridge.inference.core.interpret import interpret
    from bandbridge.inference.core.predictor import PredictOptions, plan_file
    plan = plan_file(spec, Path(raster), interpret(raster, spec).apply(PredictOptions()))[2]
    return plan.tile_h, plan.tile_w


def _run_row(k: int, name: str, row: dict, progress) -> dict:
    """Row ``k`` measured in its own process, ``progress`` hearing its start, a heartbeat and its end."""
    if progress:
        progress(f"[{k}] {name} …")
    t0 = time.perf_counter()
    with heartbeat(progress, lambda s: f"[{k}] {name}: running, {s:.0f} s"):
        res = row_in_subprocess(row) | {"name": name, "kind": row["kind"]}
    if progress:
        said = f"{res['mpix_s']:.3f} MPix/s" if "mpix_s" in res else \
            f"refused: {res['why']}" if res.get("status") == "refused" else res.get("choice", "done")
        progress(f"[{k}] {name}: {said} ({time.perf_counter() - t0:.0f} s)")
    return res


def _forward_candidates(sel: dict, chosen: dict) -> list[dict]:
    """Every available candidate of the selection, with its gate's word: also one the selection's
    time-bounded probe skipped (a loaded machine), since measuring it is what bench is for."""
    return [{"backend": r["backend"], "precision": r["precision"], "gate": r["status"]}
            for r in (sel["record"] or {}).get("candidates", [])
            if "mpix_s" in r or r["status"] == "skipped"] or [chosen]


def _forward_name(c: dict, tile: tuple) -> str:
    if c.get("compile"):
        return f"raw forward {tile[0]}×{tile[1]}, torch compiled"
    gate = {"accepted": "", "skipped": " (not gated: the selection's probe ran out of time)"}.get(
        c.get("gate", "accepted"), f" ({c.get('gate')} by the gate)")
    return f"raw forward {tile[0]}×{tile[1]}, {c['backend']} {c['precision']}{gate}"


def _with_ratios(out: list[dict]) -> list[dict]:
    """The rows with their speed against the reference row and, for a tiled row, against the same
    backend's raw forward on the same tiles."""
    ref_speed = next((r["mpix_s"] for r in out if r["name"].startswith("reference")), None)
    for r in out:
        if ref_speed and "mpix_s" in r:
            r["vs_reference"] = r["mpix_s"] / ref_speed
        if r["kind"] == "tiled" and not r["name"].startswith("reference"):
            raw = next((f["mpix_s"] for f in out if f["kind"] == "forward" and f["backend"] == r["backend"]
                        and f["precision"] == r["precision"] and f.get("tile") == r.get("tile")), None)
            # a forward on other tiles is no measure of this row's overhead (speed per pixel depends on the tile)
            if raw:
                r["vs_raw"] = r["mpix_s"] / raw
    return out


def _size(path: Path) -> str:
    import rasterio
    with rasterio.open(path) as src:
        return f"{src.height}×{src.width}"
