"""Serving and shipping models, and this machine: demo, export, bench, cache."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bandbridge.cli.app import command_line, err, fail, model_named, out


def demo(
    model: list[str] = typer.Option([], "--model", "-m", help="models to offer (default: all bundled)"),
    host: str = typer.Option("127.0.0.1", "--host", help="bind address (localhost unless told otherwise)"),
    port: int = typer.Option(7860, "--port"),
) -> None:
    """Serve the web demo (Gradio): upload an image, get the synthetic band and its GeoTIFF."""
    try:
        from bandbridge.demo.app import serve
    except ImportError:
        fail("the demo needs gradio: pip install 'bandbridge[demo]'")
    serve(model or None, host, port)


def export(
    legacy: Optional[str] = typer.Argument(None, hidden=True, metavar="", help="the model (deprecated: -m)"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="bundled model name, run folder or model bundle"),
    format_: str = typer.Option("onnx", "--format", help="onnx"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="output folder"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing export in the folder"),
    qgis: bool = typer.Option(False, "--qgis", help="also write <name>-deepness.onnx for the QGIS Deepness plugin"),
) -> None:
    """Export a generator (ONNX with dynamic batch/height/width, model.yaml, metadata.json)."""
    if format_ != "onnx":
        fail(f"--format {format_}: unknown; only onnx is supported")
    model = model_named(model, legacy, "export")
    from bandbridge.spec import ZOO_ROUTES
    if model in ZOO_ROUTES and not Path(model).exists():  # a route picks its bundle by a file: none here
        routes = ZOO_ROUTES[model]
        err.print(f"{model} → {next(iter(routes.values()))} (a route's first bundle; predict picks one by the "
                  f"file: {', '.join(f'{b} for {k}' for k, b in routes.items())}; -m names one)", highlight=False)
    from bandbridge.inference.interop.qgis import export_with_qgis
    from bandbridge.inference.runtime.export import export_onnx
    folder = (export_with_qgis if qgis else export_onnx)(model, output, overwrite=overwrite)
    out.print(f"exported to {folder}")
    for p in sorted(folder.glob("*-deepness.onnx")) if qgis else []:
        out.print(f"QGIS Deepness model: {p}")


def bench(
    model: str = typer.Option(..., "--model", "-m", help="bundled model name, run folder or model bundle"),
    raster: Optional[str] = typer.Option(None, "--raster", help="raster to predict (default: an 8192² NAIP mosaic for 8-bit models, an 8192² Sentinel-1 mosaic for SAR models, a 10980² Sentinel-2 mosaic otherwise)"),
    data: str = typer.Option("../shared/data", "--data", help="the data folder the default rasters are tiled from"),
    holdout: Optional[str] = typer.Option(None, "--holdout", help="held-out file with real targets (accuracy per row)"),
    rss_sizes: str = typer.Option("4096,20000", "--rss-sizes", help="sides of the mosaics whose peak RSS is measured ('' for none)"),
    reference_raster: Optional[str] = typer.Option(None, "--reference-raster", help="raster for the slow reference row (default: a 2048² mosaic)"),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads each measured row runs on (default: all cores)"),
    rows: str = typer.Option("probe,select,reference,forward,tiled,rss", "--rows", help="any of probe, select, reference, forward, compiled (torch.compile; slow to build), tiled, rss"),
    json_out: Optional[str] = typer.Option(None, "--json", help="also write the rows as JSON"),
) -> None:
    """Speed, memory and held-out accuracy of inference, each row in its own process, as ratios
    to a reference. Default rasters are built once in the temp folder from real scenes."""
    import json
    from bandbridge.bench import run_bench
    from bandbridge.bench_report import format_rows
    res = run_bench(model, raster, data, holdout, rss_sizes, reference_raster, threads, rows, json_out,
                    say=lambda line: out.print(line, highlight=False),
                    progress=lambda line: err.print(line, highlight=False, markup=False))
    typer.echo(format_rows(res))
    if json_out:
        from bandbridge.bench_report import record
        from bandbridge.fileio import atomic_write_bytes
        atomic_write_bytes(Path(json_out), json.dumps(record(res, command_line(), threads), indent=1).encode())


def cache(
    action: str = typer.Argument("list", help="list (what is cached, where) or clear (remove it all)"),
) -> None:
    """The per-user cache: backend choices measured on this machine and ONNX graphs (fp32, int8)
    built from bundles. `clear` makes the next large job measure again."""
    from bandbridge.inference.runtime.cache import cache_dir, clear, entries
    if action not in ("list", "clear"):
        fail(f"cache {action}: unknown action; use `bandbridge cache list` or `bandbridge cache clear`")
    where = cache_dir(create=False)
    if action == "clear":
        n, size, left = clear()
        out.print(f"removed {n} cache entr{'y' if n == 1 else 'ies'} ({size / 1e6:.1f} MB) from {where}"
                  + (f"; left {left} file(s) bandbridge did not write" if left else ""), highlight=False)
        return
    rows = entries()
    out.print(f"cache: {where} (BANDBRIDGE_CACHE moves it)", highlight=False)
    for r in rows:
        what = f"{r['model']}: {r['choice']}" + (f", measured {r['measured'][:16]}" if r["measured"] else "") \
            + (f" under load {r['load']:.2f} per core" if r.get("load") is not None else "") \
            + (f"; provisional ({r['provisional']}): measured again at the next large job"
               if r.get("provisional") else "")
        out.print(f"  {r['kind']:7s} {what}  ({r['bytes'] / 1e6:.1f} MB)", highlight=False)
    if not rows:
        out.print("  empty", highlight=False)
