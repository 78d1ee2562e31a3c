"""Serving and shipping models, and this machine: demo, export, bench, cache."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bandbridge.cli.app import err, fail, out


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
    model: str = typer.Argument(..., help="run folder or model bundle"),
    format_: str = typer.Option("onnx", "--format", help="onnx"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="output folder"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing export in the folder"),
    qgis: bool = typer.Option(False, "--qgis", help="also write <name>-deepness.onnx for the QGIS Deepness plugin"),
) -> None:
    """Export a generator (ONNX with dynamic batch/height/width, model.yaml, metadata.json)."""
    if format_ != "onnx":
        fail(f"--format {format_}: unknown; only onnx is supported")
    from bandbridge.inference.interop.qgis import export_with_qgis
    from bandbridge.inference.runtime.export import export_onnx
    folder = (export_with_qgis if qgis else export_onnx)(model, output, overwrite=overwrite)
    out.print(f"exported to {folder}")
    for p in sorted(folder.glob("*-deepness.onnx")) if qgis else []:
        out.print(f"QGIS Deepness model: {p}")


def bench(
    model: str = typer.Option(..., "--model", "-m", help="bundled model name, run folder or model bundle"),
    raster: Optional[str] = typer.Option(None, "--raster", help="raster to predict (default: an 8192² NAIP mosaic for 8-bit models, a 10980² Sentinel-2 mosaic otherwise)"),
    data: str = typer.Option("../shared/data", "--data", help="the data folder the default rasters are tiled from"),
    holdout: Optional[str] = typer.Option(None, "--holdout", help="held-out file with real targets (accuracy per row)"),
    rss_sizes: str = typer.Option("4096,20000", "--rss-sizes", help="sides of the mosaics whose peak RSS is measured ('' for none)"),
    reference_raster: Optional[str] = typer.Option(None, "--reference-raster", help="raster for the slow reference row (default: a 2048² mosaic)"),
    threads: Optional[int] = typer.Option(None, "--threads"),
    rows: str = typer.Option("probe,select,reference,forward,tiled,rss", "--rows", help="any of probe, select, reference, forward, compiled (torch.compile; slow to build), tiled, rss"),
    json_out: Optional[str] = typer.Option(None, "--json", help="also write the rows as JSON"),
) -> None:
    """Speed, memory and held-out accuracy of inference, each row in its own process, as ratios
    to a reference. Default rasters are built once in the temp folder from real scenes."""
    import json
    import tempfile
    from bandbridge.bench import bench as run, format_rows, make_mosaic, make_s2_mosaic
    from bandbridge.spec import read_spec, resolve_model_folder
    from bandbridge.fileio import check_writable
    known = ("probe", "select", "reference", "forward", "compiled", "tiled", "rss")
    wanted = tuple(r.strip() for r in rows.split(",") if r.strip())
    if not wanted or any(r not in known for r in wanted):
        fail(f"--rows {rows}: name rows among {', '.join(known)}")
    if threads is not None and threads < 1:
        fail(f"--threads {threads}: must be at least 1")
    try:
        sizes = [int(v) for v in rss_sizes.split(",") if v.strip()]
    except ValueError:
        sizes = [0]
    if any(v < 256 for v in sizes):
        fail(f"--rss-sizes {rss_sizes}: give sides in pixels, at least 256, like 4096,20000 ('' for none)")
    for flag, f in (("--holdout", holdout), ("--raster", raster), ("--reference-raster", reference_raster)):
        if f is not None and not Path(f).is_file():
            fail(f"{flag} {f}: no such file")
    if json_out is not None:
        if Path(json_out).is_dir():
            fail(f"--json {json_out} is a folder; name a .json file")
        if not Path(json_out).parent.is_dir():
            fail(f"--json {json_out}: no folder {Path(json_out).parent}; create it or choose another path")
        check_writable(Path(json_out).parent, "--json")
    spec = read_spec(resolve_model_folder(model))
    eight_bit = spec.input.scaling == "uint8"
    tmp = Path(tempfile.gettempdir())
    needs = [raster is None,  # the tile the rows run is planned on it
             reference_raster is None and "reference" in wanted, bool(sizes) and "rss" in wanted]
    scenes = [Path(data) / "nir_naip_opengeos"] if eight_bit else \
        [Path(data) / "nir_s2_majortom", Path(data) / "nir_s2_riotilerpds" / "S2A_29RKH_20200219_L2A_100m"]
    missing = [d for d in scenes if not d.is_dir()]
    if any(needs) and missing:
        fail(f"--data {data}: {missing[0]} not found; the default rasters are tiled from it: pass "
              "--data with the dev data, or --raster/--reference-raster and --rss-sizes ''")

    def mosaic(size: int) -> Path:
        kind = "naip" if eight_bit else "s2"
        p = tmp / f"bandbridge-{kind}-mosaic-{size}.tif"
        if not p.exists():
            out.print(f"building {p} from the real {kind.upper()} scenes in {data} …", highlight=False)
            if eight_bit:
                make_mosaic(Path(data) / "nir_naip_opengeos", p, size)
            else:
                make_s2_mosaic([Path(data) / "nir_s2_majortom",
                                Path(data) / "nir_s2_riotilerpds" / "S2A_29RKH_20200219_L2A_100m"], p, size)
        return p
    main_raster = Path(raster) if raster else mosaic(8192 if eight_bit else 10980)
    ref_raster = Path(reference_raster) if reference_raster else mosaic(2048)
    rss = tuple(mosaic(v) for v in sizes) if "rss" in wanted else ()
    res = run(Path(model), main_raster, holdout, rss, ref_raster, threads, wanted,
              progress=lambda line: err.print(line, highlight=False, markup=False))
    typer.echo(format_rows(res))
    if json_out:
        from bandbridge.fileio import atomic_write_bytes
        atomic_write_bytes(Path(json_out), json.dumps(res, indent=1).encode())


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
        n, size = clear()
        out.print(f"removed {n} cache entr{'y' if n == 1 else 'ies'} ({size / 1e6:.1f} MB) from {where}",
                  highlight=False)
        return
    rows = entries()
    out.print(f"cache: {where} (BANDBRIDGE_CACHE moves it)", highlight=False)
    for r in rows:
        what = f"{r['model']}: {r['choice']}" + (f", measured {r['measured'][:10]}" if r["measured"] else "")
        out.print(f"  {r['kind']:7s} {what}  ({r['bytes'] / 1e6:.1f} MB)", highlight=False)
    if not rows:
        out.print("  empty", highlight=False)
