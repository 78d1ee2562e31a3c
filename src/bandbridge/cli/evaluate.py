"""Models scored against real targets: evaluate, report, compare, timeseries."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from bandbridge.cli.app import command_line, fail, model_named, out, renamed
from bandbridge.cli.options import (BandNames, Bands, CreationOptions, Overwrite, ReadingFlags, Scaling, Vmax, Vmin,
                                    flag_groups, overrides)
from bandbridge.cli.progress import bars


def evaluate(
    model: str = typer.Option(..., "--model", "-m", help="run folder, model bundle or .ckpt"),
    data: Optional[str] = typer.Option(None, "--data", help="data root (default: the model's)"),
    split: str = typer.Option("test", "--split", help="train, val or test"),
    recipe: list[str] = typer.Option([], "--recipe", help="evaluate on these data recipes instead (cross-sensor)"),
    out_dir: Optional[str] = typer.Option(None, "--output", "-o", help="folder for per_image.csv, summary.json, metrics.md"),
    fid_weights: Optional[str] = typer.Option(None, "--fid-weights", help="local FID Inception weights (pt_inception-2015-12-05-6726825d.pth)"),
    old_out: Optional[str] = typer.Option(None, "--out", hidden=True),
) -> None:
    """Score a model and its baselines on a held-out split; prints the table."""
    from bandbridge.evaluation.evaluate import evaluate as run
    out_dir = renamed(out_dir, old_out, "-o", "--out", "bandbridge evaluate")
    if split not in ("train", "val", "test"):
        fail(f"--split {split}: choose train, val or test")
    if out_dir is None:  # RUN/eval/<split>, or RUN/eval/recipes/<recipe>/<split> for other data
        p = Path(model)
        base = p / "eval" if (p / "model").is_dir() else Path("runs") / "eval" / p.name
        out_dir = str(base / "recipes" / "+".join(recipe) / split if recipe else base / split)
    with quiet_libraries(), bars() as add:
        res = run(model, data, split, recipe or None, out_dir, fid_weights, progress=add)
    for line in res.summary["protocol"]["inputs"]:
        out.print(line, highlight=False)
    typer.echo(res.table)
    out.print(f"written to {out_dir}")


def report(
    legacy: Optional[str] = typer.Argument(None, hidden=True, metavar="", help="the model (deprecated: -m)"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="run folder (runs/<name>/<timestamp>), model bundle or bundled model name"),
    data: Optional[str] = typer.Option(None, "--data", help="data root (default: the model's)"),
    split: str = typer.Option("test", "--split", help="train, val or test"),
    fid_weights: Optional[str] = typer.Option(None, "--fid-weights", help="local FID Inception weights (pt_inception-2015-12-05-6726825d.pth)"),
    out_dir: Optional[str] = typer.Option(None, "--output", "-o", help="report folder (default: RUN/report, or reports/<name> for a bundle)"),
    old_out: Optional[str] = typer.Option(None, "--out", hidden=True),
) -> None:
    """Write report.md and report.html for a model: metrics with baselines, sample grids, and a
    run's loss curves."""
    from bandbridge.evaluation.report import write_report
    model = model_named(model, legacy, "report")
    out_dir = renamed(out_dir, old_out, "-o", "--out", "bandbridge report")
    if split not in ("train", "val", "test"):
        fail(f"--split {split}: choose train, val or test")
    with quiet_libraries():
        path = write_report(model, data, split, fid_weights, out_dir)
    out.print(f"report: {path} (and {path.with_suffix('.html').name} beside it)", highlight=False)


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Scoring without third-party FutureWarnings (torchmetrics' API moves, by the dozen in one
    evaluation): they are for those libraries' maintainers, not for a user of this tool."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def compare(
    input_: str = typer.Argument(..., help="a raster holding the input bands (and the real target bands, "
                                 "without TARGET)"),
    target: Optional[str] = typer.Argument(None, help="a second file holding the real target on the "
                                           "input's grid (SAR and optical, RGB and thermal)"),
    model: str = typer.Option("rgb2nir", "--model", "-m", help="bundled model name, run folder or bundle"),
    output: str = typer.Option("out/compare", "--output", "-o", help="output folder"),
    overwrite: Overwrite = False, bands: Bands = None, band_names: BandNames = None, scaling: Scaling = None,
    vmin: Vmin = None, vmax: Vmax = None, creation: CreationOptions = [],
) -> None:
    """Predict a raster whose real target is known (in the file or a second one): synthetic
    GeoTIFF, NDVI GeoTIFF, comparison PNG, and the metrics against the real band."""
    from bandbridge.evaluation.compare import compare as run
    from bandbridge.inference.core.interpret import check_scaling_flags
    from bandbridge.inference.core.writer import parse_creation_options
    check_scaling_flags(scaling, vmin, vmax)
    with quiet_libraries():
        res = run(model, input_, output, overrides(bands, band_names, scaling, vmin, vmax), overwrite,
                  parse_creation_options(creation), target)
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


@flag_groups
def timeseries(
    inputs: list[str] = typer.Argument(..., help="dated rasters (files, folders or globs)"),
    model: str = typer.Option("rgb2nir", "--model", "-m", help="an NIR model (bundled name, run, bundle)"),
    output: str = typer.Option("out/timeseries", "--output", "-o", help="folder for the CSV and PNG"),
    bbox: Optional[str] = typer.Option(None, "--bbox", help="xmin,ymin,xmax,ymax in the files' CRS"),
    polygon: Optional[str] = typer.Option(None, "--polygon", help="GeoJSON file (geometry or feature)"),
    wgs84: bool = typer.Option(False, "--wgs84", help="bbox/polygon are lon/lat (EPSG:4326)"),
    overwrite: Overwrite = False, reading: ReadingFlags = ReadingFlags(),
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
                fail(f"{polygon}: cannot read GeoJSON ({e})")
            g = g.get("features", [g])[0] if g.get("type") == "FeatureCollection" else g
            geom = g.get("geometry", g)
        try:
            box = tuple(float(v) for v in bbox.split(",")) if bbox else None
        except ValueError:
            box = ()
        if box is not None and len(box) != 4:
            fail(f"--bbox '{bbox}' must be xmin,ymin,xmax,ymax")
        region = Region(box, geom, wgs84)
    from bandbridge.inference.core.interpret import check_scaling_flags
    from bandbridge.inference.jobs.job import expand_inputs
    check_scaling_flags(reading.scaling, reading.vmin, reading.vmax)
    files, skipped = expand_inputs(inputs)
    if skipped:
        out.print(f"skipped {skipped} earlier output(s) of bandbridge among the inputs", highlight=False)
    with bars() as add:
        rows = ndvi_timeseries(model, files, output, region, reading.overrides(), overwrite,
                               lambda note: out.print(note, highlight=False), progress=add)
    typer.echo("date        pixels    NDVI synthetic  NDVI real")
    for r in rows:
        typer.echo(f"{r['date']}  {r['pixels']:8d}  {r['ndvi_synthetic']:+.3f}          {r['ndvi_real']:+.3f}")
    typer.echo(f"written: {Path(output) / 'ndvi_timeseries.csv'}, {Path(output) / 'ndvi_timeseries.png'}")


def wald(
    data: str = typer.Option(..., "--data", help="the development data root (NAIP dates, Sentinel-2 20 m composites, VHR scenes)"),
    output: str = typer.Option(..., "--output", "-o", help="folder for wald.json and wald.md (the project's record: docs/results)"),
    model: str = typer.Option("rgb2nir", "--model", "-m", help="the model whose zero-shot output is the row to beat"),
    only: Optional[str] = typer.Option(None, "--only", help="only the cases whose name or kind holds this text"),
    work: Optional[str] = typer.Option(None, "--work", help="folder for the inputs, references and outputs written (default: a temporary folder, removed after)"),
) -> None:
    """Score `predict --reference` by Wald's protocol: each image's band, made coarse, is the
    reference; the full-resolution band is the truth. Beside the upsampled reference, the
    coarse-fit linear map, the zero-shot bundle and the in-scene oracle."""
    from bandbridge.evaluation.wald import run_wald, save
    if not Path(data).is_dir():
        fail(f"--data {data}: no such folder; give the development data root")
    from bandbridge.fileio import check_writable
    check_writable(Path(output), "--output")  # before minutes of work, not after
    import tempfile
    with quiet_libraries(), tempfile.TemporaryDirectory(prefix="bandbridge-wald-") as tmp:
        done = run_wald(data, work or tmp, model, say=lambda s: out.print(s, highlight=False), only=only)
    if not done:
        fail(f"--data {data}: none of the cases' files is there{f' (or matches --only {only})' if only else ''}")
    if all("refused" in c.notes for c in done):  # nothing measured: no record, and not a success
        fail(f"every case was refused ({len(done)}); the first: {done[0].notes['refused']}")
    out.print(f"written to {save(done, output, command_line())}", highlight=False)
