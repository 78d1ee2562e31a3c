"""The ``bandbridge`` command: parses, calls one function, prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bandbridge.errors import BandbridgeError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Translate imagery across sensors with conditional GANs.")
err = Console(stderr=True, soft_wrap=True)  # one message, one line, however narrow the terminal
out = Console(soft_wrap=True)


def _fail(message: str) -> None:
    _error(message)
    raise typer.Exit(2)


@app.command()
def presets() -> None:
    """List the presets, one line each."""
    from bandbridge.config import preset_dict, preset_names
    for name in preset_names():
        out.print(f"[bold]{name:24s}[/] {preset_dict(name).get('description', '')}", highlight=False,
                  no_wrap=True, overflow="ellipsis")


@app.command()
def models() -> None:
    """List the bundled models (usable as --model NAME anywhere a model is taken)."""
    import yaml
    from bandbridge.spec import ZOO_ALIASES, zoo_models
    found = zoo_models()
    if not found:
        out.print("no bundled models in this installation")
    for name, d in found.items():
        if name in ZOO_ALIASES:
            out.print(f"[bold]{name:14s}[/] = {ZOO_ALIASES[name]}", highlight=False)
            continue
        meta = yaml.safe_load((d / "model.yaml").read_text())
        cfg, mb = meta["config"], sum(f.stat().st_size for f in d.iterdir()) / 1e6
        psnr = (meta.get("val_metrics") or {}).get("val/psnr")
        src = cfg["data"]["sources"][0]
        out.print(f"[bold]{name:14s}[/] {src['input'].get('bands')} → {src['target'].get('bands')}  "
                  f"{cfg['model']['generator']['name']}, {mb:.1f} MB" +
                  (f", val PSNR {psnr:.1f} dB" if psnr else "") + f"  ({d / 'MODEL_CARD.md'})",
                  highlight=False)


@app.command()
def train(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="preset name (see `bandbridge presets`)"),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config file (may set `base: PRESET`)"),
    data: Optional[str] = typer.Option(None, "--data", help="data root the sources' paths are relative to"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override, e.g. --set train.max_epochs=5"),
    resume: Optional[str] = typer.Option(None, "--resume", help="continue a run folder exactly"),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="fine-tune from a .ckpt or model bundle"),
    runs: str = typer.Option("runs", "--runs", help="folder for runs/<name>/<timestamp>"),
    devices: Optional[str] = typer.Option(None, "--devices", help="Lightning devices (e.g. 2, auto)"),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="cpu, gpu, auto"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Lightning strategy (ddp, ...)"),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", help="nodes for multi-node DDP"),
) -> None:
    """Train a conditional GAN; writes runs/<name>/<timestamp>/ (config, checkpoints, TensorBoard, model)."""
    from bandbridge.config import apply_overrides, build_config, load_config
    from bandbridge.workflows import runner
    extra = [f"train.{k}={v}" for k, v in (("devices", devices), ("accelerator", accelerator),
                                           ("strategy", strategy), ("num_nodes", num_nodes))
             if v is not None]
    if resume:
        if preset or config:
            _fail("--resume continues a run with its own config; drop --preset/--config "
                  "(use --set to change e.g. train.max_epochs)")
        d = runner.run_config_for_resume(resume)
        if data:
            d = apply_overrides(d, [f"data.root={data}"])
        cfg = build_config(apply_overrides(d, [*extra, *set_]))
    else:
        cfg = load_config(preset, config, [*extra, *set_], data)
    run_dir = runner.train(cfg, runs, resume=resume, init_from=init_from)
    out.print(runner.summary_line(run_dir), highlight=False)
    out.print(f"run folder: {run_dir}")


@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", "-m", help="run folder, model bundle or .ckpt"),
    data: Optional[str] = typer.Option(None, "--data", help="data root (default: the model's)"),
    split: str = typer.Option("test", "--split", help="train, val or test"),
    recipe: list[str] = typer.Option([], "--recipe", help="evaluate on these data recipes instead (cross-sensor)"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="folder for per_image.csv, summary.json, metrics.md"),
    fid_weights: Optional[str] = typer.Option(None, "--fid-weights", help="local FID Inception weights (pt_inception-2015-12-05-6726825d.pth)"),
) -> None:
    """Score a model and its baselines on a held-out split; prints the table."""
    from bandbridge.evaluation.evaluate import evaluate as run
    if split not in ("train", "val", "test"):
        _fail(f"--split {split}: choose train, val or test")
    if out_dir is None:
        p = Path(model)
        out_dir = str(p / "eval" / split if (p / "model").is_dir() else Path("runs") / "eval" / p.name / split)
    res = run(model, data, split, recipe or None, out_dir, fid_weights)
    for line in res.summary["protocol"]["inputs"]:
        out.print(line, highlight=False)
    typer.echo(res.table)
    out.print(f"written to {out_dir}")


@app.command()
def loso(
    preset: str = typer.Option(..., "--preset", "-p", help="preset to train in every fold"),
    recipes: str = typer.Option(..., "--recipes", help="comma-separated data recipes (one fold each)"),
    fold: list[str] = typer.Option([], "--fold", help="NAME=HELD,OUT or NAME=TRAIN,…>HELD,… (instead of one per recipe)"),
    data: Optional[str] = typer.Option(None, "--data", help="data root"),
    set_: list[str] = typer.Option([], "--set", "-s", help="override for every fold's training"),
    out_dir: str = typer.Option(..., "--out", help="folder for runs/, folds/ and loso.md/.csv/.json"),
) -> None:
    """Leave-one-source-out: train without each source, score it next to the baselines."""
    from bandbridge.workflows.loso import run_loso
    names = [r.strip() for r in recipes.split(",") if r.strip()]
    summary = run_loso(preset, names, out_dir, data, set_, fold)
    typer.echo((Path(out_dir) / "loso.md").read_text())
    out.print(f"{len(summary['folds'])} folds written to {out_dir}")


@app.command()
def report(
    run_dir: str = typer.Argument(..., help="run folder (runs/<name>/<timestamp>)"),
    data: Optional[str] = typer.Option(None, "--data", help="data root (default: the run's)"),
    split: str = typer.Option("test", "--split"),
    fid_weights: Optional[str] = typer.Option(None, "--fid-weights"),
) -> None:
    """Write report.md and report.html for a run: loss curves, metrics with baselines, sample grids."""
    from bandbridge.evaluation.report import write_report
    path = write_report(run_dir, data, split, fid_weights)
    out.print(f"report: {path}")


def _rate_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} tiles/s" if task.speed else "… tiles/s")
    return RateColumn()



def _inputs(items: list[str]) -> list[Path]:
    from bandbridge.inference.jobs.job import expand_inputs
    files, skipped = expand_inputs(items)
    if skipped:
        out.print(f"skipped {skipped} earlier output(s) of bandbridge among the inputs", highlight=False)
    return files


# How predict, compare and timeseries read their inputs: one definition of each flag.
Overwrite = Annotated[bool, typer.Option("--overwrite", help="replace existing output files")]
Bands = Annotated[Optional[str], typer.Option("--bands", help="input bands in the model's order (0-based indices, names or roles), e.g. 0,1,2")]
BandNames = Annotated[Optional[str], typer.Option("--band-names", help="a name for every band of the file(s), e.g. red,green,blue,nir")]
Scaling = Annotated[Optional[str], typer.Option("--scaling", help="override the detected input scaling")]
Vmin = Annotated[Optional[float], typer.Option("--vmin", help="--scaling minmax: raw value that maps to 0")]
Vmax = Annotated[Optional[float], typer.Option("--vmax", help="--scaling minmax: raw value that maps to 1")]


def _overrides(bands: Optional[str], band_names: Optional[str], scaling: Optional[str],
               vmin: Optional[float], vmax: Optional[float]):
    from bandbridge.inference.core.interpret import Overrides
    split = (lambda v: None if v is None else tuple(t.strip() for t in v.split(",")))
    return Overrides(split(bands), split(band_names), scaling, vmin, vmax)


@app.command()
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
    bands: Bands = None,
    band_names: BandNames = None,
    scaling: Scaling = None,
    vmin: Vmin = None,
    vmax: Vmax = None,
    sensor: Optional[str] = typer.Option(None, "--sensor", help="sensor name, for models conditioned on sensor/GSD"),
    threads: Optional[int] = typer.Option(None, "--threads"),
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
    from bandbridge.inference.interop.stac import write_item
    opts = PredictOptions(tile, overlap, batch_size, dtype, append,
                          tuple(k.strip() for k in index.split(",")) if index else (), cog,
                          sensor=sensor)
    distributed = workers is not None or scheduler is not None
    from bandbridge.inference.jobs.distributed import check_flags as check_dask_flags
    check_dask_flags(workers, scheduler, retries, strips, summary)
    failed: list = []
    jobs, skipped = plan_predict(inputs, model, output, opts, _overrides(bands, band_names, scaling, vmin, vmax),
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


@app.command()
def compare(
    input_: str = typer.Argument(..., help="a raster holding the input bands and the real target bands"),
    model: str = typer.Option("rgb2nir", "--model", "-m", help="bundled model name, run folder or bundle"),
    output: str = typer.Option("out/compare", "--output", "-o", help="output folder"),
    overwrite: Overwrite = False,
    bands: Bands = None,
    band_names: BandNames = None,
    scaling: Scaling = None,
    vmin: Vmin = None,
    vmax: Vmax = None,
) -> None:
    """Predict a raster whose real target is known: synthetic+input GeoTIFF, NDVI GeoTIFF,
    comparison PNG, and the metrics against the real band."""
    from bandbridge.evaluation.compare import compare as run
    from bandbridge.inference.core.interpret import check_scaling_flags
    check_scaling_flags(scaling, vmin, vmax)
    res = run(model, input_, output, _overrides(bands, band_names, scaling, vmin, vmax), overwrite)
    if res["route"]:
        typer.echo(res["route"])
    typer.echo(f"backend: {res['backend']}; metrics vs the real band "
               f"(units: {res['units']}, data range {res['data_range']:g}):")
    base = res["baseline_metrics"]
    typer.echo(f"  {'metric':10s} {'model':>10s}" + (f" {'linear':>10s}" if base else ""))
    for k, v in res["metrics"].items():
        typer.echo(f"  {k:10s} {v:10.4f}" + (f" {base[k]:10.4f}" if base else ""))
    if base:
        typer.echo(f"  linear = the per-pixel linear baseline, fitted on {res['baseline_fitted_on']}")
    typer.echo("written:\n  " + "\n  ".join(res["files"]))


@app.command()
def demo(
    model: list[str] = typer.Option([], "--model", "-m", help="models to offer (default: all bundled)"),
    host: str = typer.Option("127.0.0.1", "--host", help="bind address (localhost unless told otherwise)"),
    port: int = typer.Option(7860, "--port"),
) -> None:
    """Serve the web demo (Gradio): upload an image, get the synthetic band and its GeoTIFF."""
    try:
        from bandbridge.demo.app import serve
    except ImportError:
        _fail("the demo needs gradio: pip install 'bandbridge[demo]'")
    serve(model or None, host, port)


@app.command()
def timeseries(
    inputs: list[str] = typer.Argument(..., help="dated rasters (files, folders or globs)"),
    model: str = typer.Option("rgb2nir", "--model", "-m", help="an NIR model (bundled name, run, bundle)"),
    output: str = typer.Option("out/timeseries", "--output", "-o", help="folder for the CSV and PNG"),
    bbox: Optional[str] = typer.Option(None, "--bbox", help="xmin,ymin,xmax,ymax in the files' CRS"),
    polygon: Optional[str] = typer.Option(None, "--polygon", help="GeoJSON file (geometry or feature)"),
    wgs84: bool = typer.Option(False, "--wgs84", help="bbox/polygon are lon/lat (EPSG:4326)"),
    overwrite: Overwrite = False,
    bands: Bands = None,
    band_names: BandNames = None,
    scaling: Scaling = None,
    vmin: Vmin = None,
    vmax: Vmax = None,
) -> None:
    """Mean NDVI per date from synthetic NIR (and real NIR where present): CSV + PNG."""
    import json
    from bandbridge.evaluation.timeseries import Region, ndvi_timeseries
    region = None
    if bbox or polygon:
        geom = None
        if polygon:
            try:
                g = json.loads(Path(polygon).read_text())
            except (OSError, json.JSONDecodeError) as e:
                _fail(f"{polygon}: cannot read GeoJSON ({e})")
            g = g.get("features", [g])[0] if g.get("type") == "FeatureCollection" else g
            geom = g.get("geometry", g)
        try:
            box = tuple(float(v) for v in bbox.split(",")) if bbox else None
        except ValueError:
            box = ()
        if box is not None and len(box) != 4:
            _fail(f"--bbox '{bbox}' must be xmin,ymin,xmax,ymax")
        region = Region(box, geom, wgs84)
    from bandbridge.inference.core.interpret import check_scaling_flags
    check_scaling_flags(scaling, vmin, vmax)
    rows = ndvi_timeseries(model, _inputs(inputs), output, region,
                           _overrides(bands, band_names, scaling, vmin, vmax), overwrite,
                           lambda note: out.print(note, highlight=False))
    typer.echo("date        pixels    NDVI synthetic  NDVI real")
    for r in rows:
        typer.echo(f"{r['date']}  {r['pixels']:8d}  {r['ndvi_synthetic']:+.3f}          {r['ndvi_real']:+.3f}")
    typer.echo(f"written: {Path(output) / 'ndvi_timeseries.csv'}, {Path(output) / 'ndvi_timeseries.png'}")


@app.command()
def export(
    model: str = typer.Argument(..., help="run folder or model bundle"),
    format_: str = typer.Option("onnx", "--format", help="onnx"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="output folder"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing export in the folder"),
    qgis: bool = typer.Option(False, "--qgis", help="also write <name>-deepness.onnx for the QGIS Deepness plugin"),
) -> None:
    """Export a generator (ONNX with dynamic batch/height/width, model.yaml, metadata.json)."""
    if format_ != "onnx":
        _fail(f"--format {format_}: unknown; only onnx is supported")
    from bandbridge.inference.interop.qgis import export_with_qgis
    from bandbridge.inference.runtime.export import export_onnx
    folder = (export_with_qgis if qgis else export_onnx)(model, output, overwrite=overwrite)
    out.print(f"exported to {folder}")
    for p in sorted(folder.glob("*-deepness.onnx")) if qgis else []:
        out.print(f"QGIS Deepness model: {p}")


@app.command()
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
        _fail(f"--rows {rows}: name rows among {', '.join(known)}")
    if threads is not None and threads < 1:
        _fail(f"--threads {threads}: must be at least 1")
    try:
        sizes = [int(v) for v in rss_sizes.split(",") if v.strip()]
    except ValueError:
        sizes = [0]
    if any(v < 256 for v in sizes):
        _fail(f"--rss-sizes {rss_sizes}: give sides in pixels, at least 256, like 4096,20000 ('' for none)")
    for flag, f in (("--holdout", holdout), ("--raster", raster), ("--reference-raster", reference_raster)):
        if f is not None and not Path(f).is_file():
            _fail(f"{flag} {f}: no such file")
    if json_out is not None:
        if Path(json_out).is_dir():
            _fail(f"--json {json_out} is a folder; name a .json file")
        if not Path(json_out).parent.is_dir():
            _fail(f"--json {json_out}: no folder {Path(json_out).parent}; create it or choose another path")
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
        _fail(f"--data {data}: {missing[0]} not found; the default rasters are tiled from it: pass "
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


@app.command()
def cache(
    action: str = typer.Argument("list", help="list (what is cached, where) or clear (remove it all)"),
) -> None:
    """The per-user cache: backend choices measured on this machine and ONNX graphs (fp32, int8)
    built from bundles. `clear` makes the next large job measure again."""
    from bandbridge.inference.runtime.cache import cache_dir, clear, entries
    if action not in ("list", "clear"):
        _fail(f"cache {action}: unknown action; use `bandbridge cache list` or `bandbridge cache clear`")
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


def main() -> None:
    """Run the CLI: a mistake (ours or a flag's) is one line and exit code 2; Ctrl-C and SIGTERM
    unwind alike (every temporary file removed) and exit 130 / 143."""
    import signal

    from bandbridge.fileio import Terminated
    got: list[int] = []

    interrupted: list[int] = []

    def on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
        got.append(signum)
        raise Terminated()

    def on_sigint(signum, frame):  # noqa: ARG001 - as Python's own, but remembered (see below)
        interrupted.append(signum)
        raise KeyboardInterrupt
    try:
        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (embedded use)
        pass
    try:
        code = app(standalone_mode=False)
    except BandbridgeError as e:
        _error(str(e))
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except SystemExit as e:  # Lightning turns an interrupt during fit into sys.exit(1)
        if not (got or interrupted) and type(e).__name__ != "SIGTERMException":
            raise
        if not interrupted:
            got.append(signal.SIGTERM)
        code = 130
    except Exception as e:  # click's own refusals (typer vendors click: matched by shape)
        from bandbridge.fileio import disk_full_message
        full = disk_full_message(e)
        if full:  # a full disk: one line (outputs are temporary until complete)
            _error(full)
            sys.exit(2)
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            sys.exit(2)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _error(f"{e.format_message()}{where}")
        sys.exit(2)
    if code == 130:
        err.print(f"interrupted ({'SIGTERM' if got else 'Ctrl-C'}); partial outputs removed",
                  highlight=False)
        sys.exit(143 if got else 130)
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str) -> None:
    from rich.markup import escape  # a message may hold brackets: pip install 'bandbridge[onnx]'
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
