"""`bandbridge predict`: rasters of any size, here or on a Dask cluster. The command parses its flags, builds
their option objects once (the prediction's ``PredictOptions``, the cluster's ``Cluster``, the reference's
``ReferenceOptions``), calls one function (inference/jobs/predict.predict, or with ``--reference``
inference/place/reference.predict_with_reference on the reference kind's ``Request``) and prints what comes back."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bandbridge.cli.app import err, out
from bandbridge.cli.options import (Backend, BandNames, Bands, CreationOptions, Overwrite, Precision, Retries, Scaling,
                                    Scheduler, Summary, Threads, Vmax, Vmin, Workers, overrides)
from bandbridge.cli.progress import bars

Inputs = Annotated[list[str], typer.Argument(help="files, folders or globs (GeoTIFF, PNG, JPEG, GIF, TIFF, .npy)")]
Model = Annotated[str, typer.Option("--model", "-m", help="a bundled model's name (bandbridge models lists them: rgb2nir, sar2optical, …), a run folder, a model bundle or an ONNX export")]
Output = Annotated[str, typer.Option("--output", "-o", help="output .tif (one input) or folder")]
Tile = Annotated[Optional[int], typer.Option("--tile", help="tile size in input pixels")]
Overlap = Annotated[Optional[int], typer.Option("--overlap", help="overlap between tiles (blended)")]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", help="tiles per forward (default: ~1 MPix)")]
Dtype = Annotated[str, typer.Option("--dtype", help="auto, float32, uint16 (×10000), uint8 (×255)")]
Append = Annotated[bool, typer.Option("--append", help="write the input bands too (e.g. RGB + NIR)")]
Index = Annotated[Optional[str], typer.Option("--index", help="also write index rasters: ndvi,ndwi,evi")]
Cog = Annotated[bool, typer.Option("--cog", help="write Cloud-Optimized GeoTIFFs")]
Confidence = Annotated[bool, typer.Option("--confidence", help="also write <output>_error.tif: the expected absolute error per pixel, in the output's units (where not to trust it)")]
Sensor = Annotated[Optional[str], typer.Option("--sensor", help="sensor name, for models conditioned on sensor/GSD")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the generator (large jobs)")]
Strips = Annotated[Optional[int], typer.Option("--strips", help="with --workers/--scheduler: strips per raster (default: enough for every worker)")]
Reference = Annotated[Optional[str], typer.Option("--reference", help="a coarse or earlier raster (or band folder) of the band at the same place (Sentinel-2, Landsat, an older survey): the band is fitted to it self-supervised and written in its units; or found for you: stac, stac:COLLECTION, a STAC API URL[#COLLECTION] or a catalog.json")]
ReferenceMask = Annotated[Optional[str], typer.Option("--reference-mask", help="with --reference: a Sentinel-2 SCL or Landsat QA_PIXEL raster on the reference's grid (default: one in the reference file or beside it)")]
ReferenceDate = Annotated[Optional[str], typer.Option("--reference-date", help="with --reference: its acquisition date (YYYY-MM-DD), where its tags and name do not say it; with a STAC search, the date to search around (default: the input's)")]
ReferenceBand = Annotated[Optional[str], typer.Option("--reference-band", help="with --reference: the role of the band to read (nir, rededge, swir…; default: the model's output's)")]
Stac = Annotated[bool, typer.Option("--stac", help="write a STAC Item beside each output (<output>.json)")]
Preview = Annotated[Optional[str], typer.Option("--preview", metavar="PATH.png", help="also write a quicklook PNG of the output (its red, green and blue bands, else its first band in grey; the one display stretch; at most 1024 px on the long side)")]
PlanOnly = Annotated[bool, typer.Option("--plan", help="print every decision (model and route, reading and scaling, outputs, fallback, reference, tiles, backend) and exit without writing anything")]


def predict(inputs: Inputs, model: Model, output: Output, overwrite: Overwrite = False, backend: Backend = "auto",
            precision: Precision = "auto", tile: Tile = None, overlap: Overlap = None, batch_size: BatchSize = None,
            dtype: Dtype = "auto", append: Append = False, index: Index = None, cog: Cog = False,
            confidence: Confidence = False, creation: CreationOptions = [], bands: Bands = None,
            band_names: BandNames = None, scaling: Scaling = None, vmin: Vmin = None, vmax: Vmax = None,
            sensor: Sensor = None, threads: Threads = None, compile_: Compile = False, workers: Workers = None,
            scheduler: Scheduler = None, retries: Retries = 2, strips: Strips = None, summary: Summary = None,
            stac: Stac = False, reference: Reference = None, reference_mask: ReferenceMask = None,
            reference_date: ReferenceDate = None, reference_band: ReferenceBand = None,
            plan: PlanOnly = False, preview: Preview = None) -> None:
    """Predict rasters of any size tile by tile; GeoTIFF out with the input's georeference."""
    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.core.writer import parse_creation_options
    from bandbridge.inference.jobs import predict as jobs
    opts = PredictOptions(tile=tile, overlap=overlap, batch_size=batch_size, dtype=dtype, append=append,
                          indices=tuple(k.strip() for k in index.split(",")) if index else (), cog=cog,
                          creation=parse_creation_options(creation), sensor=sensor, confidence=confidence)
    cluster = jobs.Cluster(workers=workers, scheduler=scheduler, retries=retries, strips=strips, summary=summary)
    ref = None
    if reference or reference_mask or reference_date or reference_band:  # plain predict imports no fit (nor torch)
        from bandbridge.inference.place import kinds, reference as place  # the registered kind runs the request
        ref = place.reference_options(reference, reference_mask, reference_date, reference_band)
    ov = overrides(bands, band_names, scaling, vmin, vmax)
    said = dict(stac=stac, say=lambda line: out.print(line, highlight=False),
                bar=lambda: bars(unit=None if cluster.used else "tiles"), plan_only=plan)
    from bandbridge.inference.core.preview import previewed
    with previewed(preview, [*inputs, reference], output, overwrite, "predict", plan):  # checked first, written last
        if ref is None:
            done = jobs.predict(inputs, model, output, opts, ov, backend=backend, precision=precision,
                                threads=threads, compile=compile_, cluster=cluster, overwrite=overwrite, **said)
        else:
            engine = jobs.Engine(backend=backend, precision=precision, threads=threads, compile=compile_,
                                 cluster=cluster)
            request = place.Request(inputs, model, output, opts, ov, ref, overwrite)  # the kind's, built here
            done = place.predict_with_reference(request, engine=engine, kind=kinds.KINDS["reference"], **said)
    if plan:  # --plan: said, nothing written
        return
    from bandbridge.machine import process_seconds
    lines, failures = done.report(process_seconds())  # the process's wall time, as `time` says
    for line in failures:
        err.print(line, highlight=False, markup=False)
    for line in lines:
        out.print(line, highlight=False)
    if failures:
        raise typer.Exit(1)
