"""How the commands read their inputs and run their engine: one definition of each flag, and groups of flags a
command takes as one parameter (:func:`flag_groups`)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import typing
from typing import Annotated, Callable, Optional

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
Backend = Annotated[str, typer.Option("--backend", help="auto (fastest that passes the precision gate; measured once, cached), torch, onnx or openvino")]
Precision = Annotated[str, typer.Option("--precision", help="auto (gated), or fp32, bf16 or int8 (forced, no gate)")]
Threads = Annotated[Optional[int], typer.Option("--threads", help="CPU threads the model runs on (default: all cores; with --workers, the cores shared out among the workers)")]
Workers = Annotated[Optional[int], typer.Option("--workers", help="predict on a local Dask cluster of N worker processes")]
Scheduler = Annotated[Optional[str], typer.Option("--scheduler", help="predict on an existing Dask cluster (tcp://HOST:8786)")]
Retries = Annotated[int, typer.Option("--retries", help="with --workers/--scheduler: retries of a failed file")]
Summary = Annotated[Optional[str], typer.Option("--summary", help="with --workers/--scheduler: summary CSV (default: bandbridge-summary.csv beside the outputs)")]


def flag_groups(command: Callable) -> Callable:
    """``command`` as typer is to read it: each parameter annotated with a dataclass (a *group*) stands for the
    group's fields, in their order at its place, each field's ``Annotated[type, typer.Option(...)]`` and default read
    as typer reads a parameter's; the command is called with the group built from the flags given.

    A command with many flags (``fill``, ``sharpen``) takes those that travel together as one parameter while its
    ``--help`` and flags stay as they were. Typer reads a command's parameters by ``inspect.signature`` (which
    stops at ``__signature__``) and ``typing.get_type_hints`` (which reads ``__annotations__``): both are set to
    the flat form. Every parameter is keyword-only there, as typer calls a command by keyword, so a group's
    required field (no default) may follow a flag with one; two flags of one name are refused by ``inspect``."""
    signature = inspect.signature(command, eval_str=True)
    groups, flat = {}, []
    for p in signature.parameters.values():
        if not (isinstance(p.annotation, type) and dataclasses.is_dataclass(p.annotation)):
            flat.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        groups[p.name] = p.annotation
        hints = typing.get_type_hints(p.annotation, include_extras=True)  # the group's own module's names
        flat += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=_default(f),
                                   annotation=hints[f.name]) for f in dataclasses.fields(p.annotation)]

    @functools.wraps(command)
    def run(**flags):
        for name, group in groups.items():
            flags[name] = group(**{f.name: flags.pop(f.name) for f in dataclasses.fields(group)})
        return command(**flags)
    run.__signature__ = signature.replace(parameters=flat)
    run.__annotations__ = {p.name: p.annotation for p in flat}
    return run


def _default(field: dataclasses.Field):
    """A group's field's default as a parameter's: its value, a fresh one from its factory (a list flag's ``[]``),
    or none (a required flag)."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return inspect.Parameter.empty


@dataclasses.dataclass(frozen=True)
class EngineFlags:
    """How a fit made for one run (``fill``, ``sharpen``) is served: ``predict``'s engine flags, as one group."""
    backend: Backend = "auto"
    precision: Precision = "auto"
    threads: Threads = None
    workers: Workers = None
    scheduler: Scheduler = None
    retries: Retries = 2
    summary: Summary = None


@dataclasses.dataclass(frozen=True)
class ReadingFlags:
    """How an input's bands are read where its file does not say (``--bands`` … ``--vmax``), as one group."""
    bands: Bands = None
    band_names: BandNames = None
    scaling: Scaling = None
    vmin: Vmin = None
    vmax: Vmax = None

    def overrides(self):
        """``inference/core/interpret.Overrides`` of these flags, as :func:`overrides` makes them."""
        return overrides(self.bands, self.band_names, self.scaling, self.vmin, self.vmax)


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


def engine_options(flags: EngineFlags):
    """How a fit made for one run (``fill``, ``sharpen``) is served: ``jobs/predict.Engine``,
    each bad flag refused in one line, as ``predict`` refuses the same flags."""
    from bandbridge.cli.app import fail
    from bandbridge.inference.jobs.distributed import check_cluster_flags
    from bandbridge.inference.jobs.predict import Cluster, Engine
    from bandbridge.inference.runtime.backends import check_choice
    f = flags
    check_cluster_flags(f.workers, f.scheduler, f.retries, None, f.summary, False)
    check_choice(f.backend, f.precision)
    if f.threads is not None and f.threads < 1:
        fail(f"--threads {f.threads}: must be at least 1")
    return Engine(backend=f.backend, precision=f.precision, threads=f.threads,
                  cluster=Cluster(workers=f.workers, scheduler=f.scheduler, retries=f.retries, summary=f.summary))
