"""``bandbridge predict`` as two functions: :func:`make_jobs` checks every flag, every input's
interpretation and every output path before any work (so a mistake costs nothing and leaves
nothing), then :func:`run_predict` predicts file by file."""

from __future__ import annotations

import dataclasses
import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from bandbridge.data.reader import RASTER_SUFFIXES, raster_info
from bandbridge.data.reads import Reads, check_output_file, read_by
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_writable, is_temporary
from bandbridge.inference.runtime.backends import Chosen, check_choice
from bandbridge.inference.core.interpret import Interpretation, Overrides, check_scaling_flags, interpret
from bandbridge.inference.core.look import look_at
from bandbridge.inference.core.confidence import error_plan
from bandbridge.inference.core.predictor import PredictOptions, PredictStats, index_plan, plan_file, predict_file
from bandbridge.inference.jobs.tiles import mpix_per_model
from bandbridge.inference.core.route import route_model
from bandbridge.policy import probes
from bandbridge.spec import ModelSpec, read_spec
from bandbridge.inference.core.writer import (DTYPES, PICTURES, check_creation_options, check_output_name, check_picture,
                                              resolve_dtype)

@dataclass
class Job:
    """One input, the model that reads it, how, and where its outputs go."""

    src: Path
    dst: Path
    spec: ModelSpec
    reading: Interpretation
    opts: PredictOptions
    note: str  # one line: the routing (if any) and what was assumed about the file
    size: tuple[int, int] = (0, 0)  # (rows, columns) of the input, read while planning
    planned_bytes: float | None = None  # the peak resident size a large job was planned under
    layout: tuple | None = None  # predictor.plan_file's (bands, header, tiles), computed once its tile is decided


def _bandbridge_output(p: Path) -> bool:
    """Whether ``p`` is a raster this tool wrote (tagged by the predictor); a pipe or device is
    not (never opened here: the reader refuses it in one line)."""
    import warnings
    if not p.is_file():
        return False
    try:
        import rasterio
        with warnings.catch_warnings(), rasterio.Env(), rasterio.open(p) as src:
            warnings.simplefilter("ignore")  # a PNG's NotGeoreferencedWarning is no news here
            return "bandbridge_model" in src.tags()
    except Exception:  # noqa: BLE001 - an unreadable file is no output of ours; the reader says why
        return False


def expand_inputs(items: list[str]) -> tuple[list[Path], int]:
    """``(files, skipped)``: files, folders (their rasters, except hidden/partial files and
    earlier outputs of this tool) and globs; a band folder (``B02.tif``, …) is one input."""
    from bandbridge.inference.interop.stac import check_json_input, is_output_item, is_stac_item, item_to_vrt
    files: list[Path] = []
    skipped = 0
    for it in items:
        p = Path(it)
        if is_stac_item(p):  # a STAC Item: its red, green, blue assets stacked into a VRT
            files.append(item_to_vrt(p))
            continue
        from bandbridge.data.cube_ref import input_ref
        ref = input_ref(it)
        if ref is not None:  # a datacube: cube.nc@DATE, a .zarr store
            files.append(ref)
            continue
        if p.is_dir() and not any(q.suffix.lower() == ".tif" and q.stem.startswith("B")
                                  for q in p.iterdir()):
            found = [q for q in sorted(p.iterdir())
                     if q.suffix.lower() in RASTER_SUFFIXES and not is_temporary(q) and not q.is_dir()]
        elif glob.has_magic(it):
            found = sorted(Path(q) for q in glob.glob(it) if not is_temporary(Path(q)))
        elif p.exists() or "[" in it:
            check_json_input(p)
            files.append(p)
            continue
        else:
            raise BandbridgeError(f"{it}: no such file, folder or glob")
        for q in found:  # a rerun must not eat its outputs, nor the Items --stac wrote beside them
            stac = is_stac_item(q)
            if is_output_item(q) or (not stac and _bandbridge_output(q)):
                skipped += 1
            else:
                files.append(item_to_vrt(q) if stac else q)
    if not files:
        raise BandbridgeError(f"no input rasters in {', '.join(items)}" +
                              (f" ({skipped} earlier outputs of bandbridge skipped)" if skipped else ""))
    return files, skipped


def check_predict_flags(opts: PredictOptions, ov: Overrides, backend: str, precision: str,
                threads: int | None) -> None:
    """Flags that are wrong whatever the files: each refusal names its flag."""
    for flag, v in (("--tile", opts.tile), ("--batch-size", opts.batch_size), ("--threads", threads)):
        if v is not None and v < 1:
            raise BandbridgeError(f"{flag} {v}: must be at least 1")
    if opts.overlap is not None and opts.overlap < 0:
        raise BandbridgeError(f"--overlap {opts.overlap}: must be 0 or more")
    if opts.tile is not None and opts.overlap is not None and 2 * opts.overlap >= opts.tile:
        raise BandbridgeError(f"--overlap {opts.overlap}: must be less than half of --tile "
                              f"{opts.tile}")
    if opts.dtype not in DTYPES:
        raise BandbridgeError(f"--dtype {opts.dtype}: unknown; choose one of {', '.join(DTYPES)}")
    check_choice(backend, precision)
    if ov.bands is not None:
        toks = [str(b).strip() for b in ov.bands]
        if "" in toks:
            raise BandbridgeError(f"--bands {','.join(toks)}: an empty entry; list bands like 0,1,2")
        # a band named twice is the file's business: a one-band file may feed every input
        # (interpret._resolve_bands refuses it for a file of more bands)
    if ov.band_names is not None and "" in [b.strip() for b in ov.band_names]:
        raise BandbridgeError("--band-names has an empty entry; give one name per band, e.g. "
                              "red,green,blue,nir")
    check_scaling_flags(ov.scaling, ov.vmin, ov.vmax)


def _check_for_model(spec: ModelSpec, opts: PredictOptions, reading: Interpretation, src: Path,
                     size: tuple[int, int]) -> None:
    spec.check_size(src, size[0], size[1], opts.tile)
    name = spec.name
    if opts.sensor is not None:
        if not spec.sensors:
            raise BandbridgeError(f"--sensor {opts.sensor}: {name} has no sensor conditioning; "
                                  "drop --sensor (to name the file's bands, use --band-names)")
        if opts.sensor not in spec.sensors:
            raise BandbridgeError(f"--sensor {opts.sensor}: {name} knows {', '.join(spec.sensors)}")
    if opts.append and spec.scale > 1:
        raise BandbridgeError(f"--append needs input and output on one grid; {name} enlarges "
                              f"×{spec.scale}")
    tile = opts.tile or spec.config.inference.tile
    overlap = spec.config.inference.overlap if opts.overlap is None else opts.overlap
    if 2 * overlap >= tile and (opts.tile is not None or opts.overlap is not None):
        given = f"--overlap {overlap}" if opts.overlap is not None else f"--tile {tile}"
        raise BandbridgeError(f"{given}: the overlap ({overlap}) must be less than half of the tile "
                              f"({tile}{'' if opts.tile else ', the model default'}); change --tile or --overlap")
    if opts.overlap is not None and opts.overlap >= min(size):
        raise BandbridgeError(f"--overlap {opts.overlap}: larger than {src} ({size[0]}×{size[1]} "
                              "pixels); choose a smaller overlap")
    index_plan(opts.indices, spec, reading.names)
    if opts.confidence:
        error_plan(spec, "float32")  # refuses a model without an error model, before any work


def make_jobs(inputs: list[str], model: str, output: str, opts: PredictOptions,
                 ov: Overrides = Overrides(), overwrite: bool = False, backend: str = "auto",
                 precision: str = "auto", threads: int | None = None,
                 failures: list[tuple[Path, str]] | None = None, reads: list[str] = ()) -> tuple[list[Job], int]:
    """Check everything and decide every input's model, reading and outputs; ``(jobs, earlier
    outputs skipped)``; ``reads``: the other names the run reads (a reference and its mask), never an
    output, as every input's files are not. Nothing is written. With ``failures`` (a list), a file that cannot be
    predicted is appended there with its one-line reason instead of stopping the whole run."""
    check_predict_flags(opts, ov, backend, precision, threads)
    files, skipped = expand_inputs(inputs)
    dest = Path(output)
    _not_into_an_input(inputs, dest)
    picture = dest.suffix.lower() in PICTURES  # an 8-bit photo model's output as PNG or JPEG
    if picture and len(files) != 1:
        raise BandbridgeError(f"--output {dest}: {len(files)} inputs need an output folder (GeoTIFFs); "
                              "a picture output takes one input")
    check_output_name(dest)
    single = len(files) == 1 and (picture or dest.suffix.lower() in (".tif", ".tiff"))
    if not single:
        if dest.suffix.lower() in (".tif", ".tiff"):
            raise BandbridgeError(f"--output {dest}: {len(files)} inputs need an output folder, not a "
                                  ".tif file")
        if dest.exists() and not dest.is_dir():
            raise BandbridgeError(f"--output {dest} is a file; give a folder for the outputs")
        check_writable(dest, "--output")
    read = read_by([*files, *reads])  # every file the run reads, named or implied (once for all outputs): never an output
    specs: dict[Path, ModelSpec] = {}
    jobs, taken = [], {}
    for f in files:
        try:
            jobs.append(_plan_one(f, model, dest, single, opts, ov, overwrite, read, specs, taken))
        except BandbridgeError as e:
            if failures is None:
                raise
            failures.append((f, str(e)))
    # -co against the driver and every type written (the outputs', float32 for index rasters)
    dtypes = {resolve_dtype(opts.dtype, j.spec.target) for j in jobs} | \
        ({"float32"} if opts.indices or opts.confidence else set())
    check_creation_options(opts.creation, opts.cog, dtypes)
    return jobs, skipped


def _not_into_an_input(inputs: list[str], dest: Path) -> None:
    """Refuse ``-o`` that is a folder the run takes its inputs from (a folder, a band folder, a glob's): its
    outputs would go among its inputs (issue 98), where a rerun or another tool would take them for inputs."""
    if not dest.is_dir():
        return
    for it in inputs:
        folder = Path(it) if Path(it).is_dir() else Path(it).parent if glob.has_magic(it) else None
        if folder is not None and folder.resolve() == dest.resolve():
            raise BandbridgeError(f"--output {dest}: the folder the inputs are read from ({it}); the outputs would go "
                                  f"among them: give another folder (e.g. {dest.resolve().name}_out)")


def _plan_one(f: Path, model: str, dest: Path, single: bool, opts: PredictOptions, ov: Overrides,
              overwrite: bool, files: Reads, specs: dict, taken: dict) -> Job:
    """One input's job (model, reading, output), or the BandbridgeError that refuses it."""
    look = look_at(f, ov.band_names)
    folder, route_note = route_model(model, f, ov, look)
    spec = specs.setdefault(folder, read_spec(folder))
    reading = interpret(f, spec, ov, look)
    info = raster_info(f)
    _check_for_model(spec, opts, reading, f, (info.height, info.width))
    stem = f.stem.replace("[", "_").replace("]", "")
    dst = dest if single else dest / f"{stem}_{spec.name}.tif"
    if dst in taken:
        raise BandbridgeError(f"{f} and {taken[dst]} would both be written to {dst}; predict "
                              "them into separate folders")
    taken[dst] = f
    picture = "" if dst.suffix.lower() not in PICTURES else check_picture(  # the stretch, the georeference left
        dst, resolve_dtype(opts.dtype, spec.target), spec.out_channels + (len(reading.bands) if opts.append else 0),
        opts, info.crs)
    extra = [dst.with_name(f"{dst.stem}_{k}{dst.suffix}")
             for k in [*opts.indices, *(["error"] if opts.confidence else [])]]
    for p in [dst, *extra]:
        check_output_file(p, files, overwrite)
    note = (f"{route_note}; " if route_note else "") + reading.note + picture
    if opts.append and (left := [b for i, b in enumerate(look.names) if i not in reading.bands
                                 and look.roles[i] != "alpha"]):
        # --append copies the bands the model reads, not the file's others (a real NIR among them)
        note += (f"; --append: the output holds the bands read ({', '.join(look.names[i] for i in reading.bands)}) "
                 f"and the synthetic one; the file's {', '.join(left)} {'is' if len(left) == 1 else 'are'} not copied")
    return Job(f, dst, spec, reading, dataclasses.replace(reading.apply(opts), replace=overwrite), note,
               (info.height, info.width))


def prepare_backends(jobs: list[Job], backend: str = "auto", precision: str = "auto",
                     threads: int | None = None, compile: bool = False,
                     announce: Callable[[str], None] | None = None,
                     decisions: dict | None = None) -> dict[Path, Chosen]:
    """One backend per model of the jobs, decided before any prediction: measured (and cached)
    only where the model's jobs make a large run (``policy.probes``), announced through
    ``announce``; otherwise the cached choice or the reference. ``decisions``: the plan's
    (jobs/plan.py), carried out as made. Each has ``.choice``."""
    from bandbridge.inference.runtime.select import make_backend
    specs, mpix = mpix_per_model(jobs)
    return {folder: make_backend(spec, backend, precision, threads, compile,
                                 probe=probes(mpix[folder]), announce=announce,
                                 decision=(decisions or {}).get(folder))
            for folder, spec in specs.items()}


def run_predict(jobs: list[Job], backends: dict[Path, Chosen],
                progress: Callable[[Job, int], Callable[[int], None]] | None = None
                ) -> Iterator[tuple[Job, PredictStats, Chosen]]:
    """Predict each job with its model's backend (``prepare_backends``); yields
    ``(job, stats, backend)``. ``progress`` gets the job and its tile count and returns the
    per-batch callback."""
    for job in jobs:
        run = backends[job.spec.folder]
        layout = job.layout or plan_file(job.spec, job.src, job.opts)
        tick = progress(job, layout[2].n_tiles) if progress else None
        stats = predict_file(run, job.spec, job.src, job.dst, dataclasses.replace(job.opts), tick, layout)
        yield job, stats, run
