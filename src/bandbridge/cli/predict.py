"""`bandbridge predict`: rasters of any size, here or on a Dask cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bandbridge.cli.app import err, out
from bandbridge.cli.options import BandNames, Bands, CreationOptions, Overwrite, Scaling, Vmax, Vmin, overrides


def predict(
    inputs: list[str] = typer.Argument(..., help="files, folders or globs (GeoTIFF, PNG, JPEG, GIF, TIFF, .npy)"),
    model: str = typer.Option(..., "--model", "-m", help="run folder, model bundle or ONNX export"),
    output: str = typer.Option(..., "--output", "-o", help="output .tif (one input) or folder"),
    overwrite: Overwrite = False,
    backend: str = typer.Option("auto", "--backend", help="auto (fastest that passes the precision gate; measured once, cached), torch, onnx or openvino"),
    precision: str = typer.Option("auto", "--precision", help="auto (gated), fp32 or bf16 (forced, no gate)"),
    tile: Optional[int] = typer.Option(None, "--tile", help="tile size in input pixels"),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="overlap between tiles (blended)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="tiles per forward (default: ~1 MPix)"),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, uint16 (×10000), uint8 (×255)"),
    append: bool = typer.Option(False, "--append", help="write the input bands too (e.g. RGB + NIR)"),
    index: Optional[str] = typer.Option(None, "--index", help="also write index rasters: ndvi,ndwi,evi"),
    cog: bool = typer.Option(False, "--cog", help="write Cloud-Optimized GeoTIFFs"),
    confidence: bool = typer.Option(False, "--confidence", help="also write <output>_error.tif: the expected absolute error per pixel, in the output's units (where not to trust it)"),
    creation: CreationOptions = [],
    bands: Bands = None,
    band_names: BandNames = None,
    scaling: Scaling = None,
    vmin: Vmin = None,
    vmax: Vmax = None,
    sensor: Optional[str] = typer.Option(None, "--sensor", help="sensor name, for models conditioned on sensor/GSD"),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads the model runs on (default: all cores; with --workers, the cores shared out among the workers)"),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the generator (large jobs)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="predict on a local Dask cluster of N worker processes"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="predict on an existing Dask cluster (tcp://HOST:8786)"),
    retries: int = typer.Option(2, "--retries", help="with --workers/--scheduler: retries of a failed file"),
    strips: Optional[int] = typer.Option(None, "--strips", help="with --workers/--scheduler: strips per raster (default: enough for every worker)"),
    summary: Optional[str] = typer.Option(None, "--summary", help="with --workers/--scheduler: summary CSV (default: bandbridge-summary.csv beside the outputs)"),
    stac: bool = typer.Option(False, "--stac", help="write a STAC Item beside each output (<output>.json)"),
) -> None:
    """Predict rasters of any size tile by tile; GeoTIFF out with the input's georeference."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    import time

    from bandbridge.inference.jobs.job import plan_predict, prepare_backends, run_predict
    from bandbridge.inference.core.predictor import PredictOptions
    from bandbridge.inference.core.writer import parse_creation_options
    from bandbridge.inference.interop.stac import write_item
    opts = PredictOptions(tile=tile, overlap=overlap, batch_size=batch_size, dtype=dtype, append=append,
                          indices=tuple(k.strip() for k in index.split(",")) if index else (), cog=cog,
                          creation=parse_creation_options(creation), sensor=sensor, confidence=confidence)
    distributed = workers is not None or scheduler is not None
    from bandbridge.inference.jobs.distributed import check_flags as check_dask_flags
    check_dask_flags(workers, scheduler, retries, strips, summary, confidence)
    failed: list = []
    jobs, skipped = plan_predict(inputs, model, output, opts, overrides(bands, band_names, scaling, vmin, vmax),
                                 overwrite, backend, precision, threads, failed if distributed else None)
    if stac:  # every Item's path and geometry checked before the work
        from bandbridge.inference.interop.stac import check_items
        check_items(jobs, overwrite)
    if distributed:
        _predict_distributed(jobs, failed, skipped, output, backend, precision, threads, scheduler,
                             workers, retries, strips, summary, stac)
        return
    if skipped:
        out.print(f"skipped {skipped} earlier output(s) of bandbridge among the inputs", highlight=False)
    for job in jobs:
        out.print(job.note, highlight=False)
    t0 = time.perf_counter()
    runs = prepare_backends(jobs, backend, precision, threads, compile_,
                            announce=lambda line: out.print(line, highlight=False))
    for run in runs.values():  # once per model, before any work: what runs it and why
        out.print(f"backend: {run.choice}", highlight=False)
    mpix = 0.0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _rate_column(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        def progress(job, n):
            task = bar.add_task(job.src.name, total=n)
            return lambda k: bar.advance(task, k)
        for job, stats, run in run_predict(jobs, runs, progress):
            note = f"{run.name} {run.precision}"
            mpix += stats.megapixels
            items = [write_item(job.dst, job.src, job.spec)] if stac else []
            out.print(f"{job.dst}  {stats.tiles} tiles, {stats.megapixels:.2f} MPix in {stats.seconds:.1f} s "
                      f"({stats.mpix_per_s:.2f} MPix/s; {note})" + "".join(f"\n{p}" for p in stats.extra_outputs + items),
                      highlight=False)
            for line in stats.notes:  # e.g. the never-worse guard faded the model toward its baseline
                out.print(f"note: {job.src.name}: {line}", highlight=False)
    wall = time.perf_counter() - t0
    out.print(f"{len(jobs)} file(s), {mpix:.2f} MPix in {wall:.1f} s wall time ({mpix / max(wall, 1e-9):.2f} "
              "MPix/s; model loading, the check sample and any backend probe included)", highlight=False)


def _predict_distributed(jobs, failed, skipped, output, backend, precision, threads, scheduler,
                         workers, retries, strips, summary, stac) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from bandbridge.inference.jobs.distributed import run_distributed
    dest = Path(output)
    where = dest.parent if dest.suffix.lower() in (".tif", ".tiff") else dest
    path = Path(summary) if summary else where / "bandbridge-summary.csv"
    if skipped:
        out.print(f"skipped {skipped} earlier output(s) of bandbridge among the inputs", highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        def progress(n):
            task = bar.add_task("tasks", total=n)
            return lambda: bar.advance(task, 1)
        rows = run_distributed(jobs, backend, precision, threads, scheduler, workers, retries, strips,
                               path, failed, progress, announce=lambda line: out.print(line, highlight=False))
    bad = [r for r in rows if r["status"] != "ok"]
    by_dst = {str(j.dst): j for j in jobs}
    for r in rows:
        if r["status"] == "ok":
            out.print(f"{r['output']}  {r['mpix']:.2f} MPix in {r['seconds']:.1f} s", highlight=False)
            for line in filter(None, r.get("note", "").split(" | ")):  # the guard faded, as above
                out.print(f"note: {Path(r['file']).name}: {line}", highlight=False)
            if stac:
                from bandbridge.inference.interop.stac import write_item
                j = by_dst[r["output"]]
                out.print(str(write_item(j.dst, j.src, j.spec)), highlight=False)
    for r in bad:  # the reason usually names the file already
        why = r["error"] if r["error"].startswith(r["file"]) else f"{r['file']}: {r['error']}"
        err.print(f"failed: {why}", highlight=False, markup=False)
    from bandbridge.inference.jobs.distributed import log_path
    log = log_path(path)
    out.print(f"{len(rows) - len(bad)} of {len(rows)} files predicted; summary: {path}" +
              (f"; tracebacks and Dask log: {log}" if log.exists() else ""), highlight=False)
    if bad:
        raise typer.Exit(1)


def _rate_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} tiles/s" if task.speed else "… tiles/s")
    return RateColumn()
