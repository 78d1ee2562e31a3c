"""How the commands read their inputs and run their engine: one definition of each flag."""

from __future__ import annotations

import math
from typing import Annotated, Optional

import typer

Overwrite = Annotated[bool, typer.Option("--overwrite", help="replace existing output files")]
Network = Annotated[bool, typer.Option("--network/--no-network", help="the bundled Sentinel-2 network as a route per "
                                       "band of runs guided by B02, B03, B04, B08, taken where it holds out better (off "
                                       "by default: its cost, in the plan)")]
Bands = Annotated[Optional[str], typer.Option("--bands", help="input bands in the model's order (0-based indices, names or roles), e.g. 0,1,2")]
BandNames = Annotated[Optional[str], typer.Option("--band-names", help="a name for every band of the file(s), e.g. red,green,blue,nir")]
Scaling = Annotated[Optional[str], typer.Option("--scaling", help="override the detected input scaling")]
Vmin = Annotated[Optional[float], typer.Option("--vmin", help="--scaling minmax: raw value that maps to 0")]
Vmax = Annotated[Optional[float], typer.Option("--vmax", help="--scaling minmax: raw value that maps to 1")]
CreationOptions = Annotated[list[str], typer.Option(
    "-co", "--co", metavar="NAME=VALUE",
    help="GDAL creation option of the output GeoTIFFs (GTiff, or COG with --cog), repeatable: "
         "-co COMPRESS=ZSTD -co BLOCKXSIZE=512; replaces bandbridge's own (deflate, 256² tiles)")]


SHIFT_FORM = "give auto, none, or X,Y: two numbers in the reference's own pixels (columns, rows), e.g. 0.5,0.5"


def reference_shift(value: str) -> str:
    """``--reference-shift``'s form checked as it is parsed: an empty value was taken as auto, and ``nan,0`` was told
    to warp the reference (``sharpen_shift.parse_shift`` checks the rest); each refused with the flag's form."""
    from bandbridge.errors import BandbridgeError
    v = (value or "").strip()
    if not v:
        raise BandbridgeError(f"--reference-shift '{value}': an empty value; {SHIFT_FORM}")
    try:
        numbers = [float(q) for q in v.split(",")]
    except ValueError:
        return value  # auto, none, or a form parse_shift refuses in its own words
    if not all(math.isfinite(n) for n in numbers):
        raise BandbridgeError(f"--reference-shift {value}: not a finite number; {SHIFT_FORM}")
    return value


def overrides(bands: Optional[str], band_names: Optional[str], scaling: Optional[str],
              vmin: Optional[float], vmax: Optional[float]):
    from bandbridge.inference.core.interpret import Overrides
    split = (lambda v: None if v is None else tuple(t.strip() for t in v.split(",")))
    return Overrides(split(bands), split(band_names), scaling, vmin, vmax)


def engine_options(backend: str, precision: str, threads: Optional[int], workers: Optional[int],
                   scheduler: Optional[str], retries: int, summary: Optional[str]):
    """How a fit made for one run (``fill``, ``sharpen``) is served: ``jobs/predict.Engine``,
    each bad flag refused in one line, as ``predict`` refuses the same flags."""
    from bandbridge.cli.app import fail
    from bandbridge.inference.jobs.distributed import check_cluster_flags
    from bandbridge.inference.jobs.predict import Cluster, Engine
    from bandbridge.inference.runtime.backends import check_choice
    check_cluster_flags(workers, scheduler, retries, None, summary, False)
    check_choice(backend, precision)
    if threads is not None and threads < 1:
        fail(f"--threads {threads}: must be at least 1")
    return Engine(backend=backend, precision=precision, threads=threads,
                         cluster=Cluster(workers=workers, scheduler=scheduler, retries=retries, summary=summary))
