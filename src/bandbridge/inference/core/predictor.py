"""Stream a raster through a backend tile by tile and write the result window by window.

Memory is bounded by one strip of tiles (tile rows × raster width), not by the raster: each strip
is read once (a windowed read), its tiles run in batches, ``Σ w·pred`` (weights that sum to 1) accumulates in a strip-high
buffer, and the rows no later strip can touch are written.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import rasterio
from rasterio.windows import Window

from bandbridge.bands import INDICES, band_role, find_role, get_scaling, is_single_nir
from bandbridge.config import BandSel
from bandbridge.data.reader import raster_info, read_decimated, read_raster, return_large_buffers, select_bands
from bandbridge.errors import BandbridgeError
from bandbridge.spec import ModelSpec
from bandbridge.radiometry import guard_note, image_stats
from bandbridge.inference.core.confidence import error_plan
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.core.tiling import (TilePlan, axis_weights, column_blocks, on_block_rows,
                                              plan_tiles, weigh)
from bandbridge.inference.core.outputs import opened
from bandbridge.inference.core.writer import (block_span, encode, model_tag, output_profile, physical_note,
                                              resolve_dtype, stored_units, tag_bands, tag_units)


@dataclass
class PredictStats:
    path: Path
    tiles: int
    seconds: float
    megapixels: float
    extra_outputs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a user must know about this output
    tile: int = 0  # the tile size it ran with (px; the plan's record: jobs/plan.PredictPlan.decided)

    @property
    def mpix_per_s(self) -> float:
        return self.megapixels / max(self.seconds, 1e-9)


def default_batch(tile_h: int, tile_w: int) -> int:
    """Tiles per forward when ``batch_size`` is not given: about 1 MPix, at most 16 tiles."""
    return max(1, min(16, 2**20 // (tile_h * tile_w)))


def forward_px(side: int) -> int:
    """Input pixels of one forward on tiles of ``side`` at the default batch."""
    return default_batch(side, side) * side * side


def strip_bytes_per_px(spec: ModelSpec) -> float:
    """Bytes the predictor holds per input pixel of a tile-high strip of a column block: float32
    input and its mask three times (the strip computed, the next one read ahead, the one the
    writer holds), one batch of stacked tiles, the float32 prediction three times (the
    accumulator, the rows handed to the writer, their encoding) and the encoding's two float32
    temporaries and its integer result (72 B for 3 bands in, 1 out); ``grow_tiles`` plans with it."""
    ci, co = spec.in_channels, spec.out_channels * spec.scale ** 2
    return 3 * (4 * ci + 1) + 4 * ci + 3 * 4 * co + (2 * 4 + 1) * co


def _fill_margin(data: np.ndarray, h: int, w: int) -> np.ndarray:
    """Replicate row ``h − 1`` and column ``w − 1`` into the margin past the raster (the
    generator's own padding does the same), in place on ``(C, H', W')``."""
    if data.shape[1] > h:
        data[:, h:] = data[:, h - 1:h]
    if data.shape[2] > w:
        data[:, :, w:] = data[:, :, w - 1:w]
    return data


def plan_file(spec: ModelSpec, src: Path, opts: PredictOptions):
    """(input band selection, raster header, tile plan) for predicting ``src``: the options'
    tile/overlap or the model's, on the generator's stride lattice."""
    sel, read = spec.input.model_copy(), opts.read  # the model's selection, or the interpretation's
    if read.bands is not None:
        sel = sel.model_copy(update={"bands": read.bands, "sensor": read.sensor, "band_names": None})
    if read.scaling is not None:
        sel = sel.model_copy(update={"scaling": read.scaling, "vmin": read.vmin, "vmax": read.vmax})
    info = raster_info(src, sel.band_names, sel.sensor, sel.bands)
    n = len(sel.bands) if sel.bands is not None else len(info.bands)
    if n != spec.in_channels:
        raise BandbridgeError(f"{src}: the model takes {spec.in_channels} input bands but "
                              f"{n} are selected; use --bands")
    tile = opts.tile or spec.config.inference.tile
    overlap = spec.config.inference.overlap if opts.overlap is None else opts.overlap
    return sel, info, plan_tiles(info.height, info.width, tile, overlap, spec.size_multiple)


def predict_file(backend: Callable[[np.ndarray], np.ndarray], spec: ModelSpec, src: str | Path,
                 out: str | Path, opts: PredictOptions | None = None,
                 progress: Callable[[int], None] | None = None, layout: tuple | None = None) -> PredictStats:
    """Predict ``src`` into the GeoTIFF ``out`` (and index rasters beside it). ``layout``:
    :func:`plan_file`'s answer for ``src`` and ``opts`` where the caller has it (a predict plan)."""
    opts = opts or PredictOptions()
    return_large_buffers()
    src, out = Path(src), Path(out)
    sel, info, plan = layout or plan_file(spec, src, opts)
    scaling = get_scaling(sel.scaling, sel.vmin, sel.vmax)
    s = spec.scale
    if opts.append and s > 1:
        raise BandbridgeError("--append needs input and output on one grid; not for super-resolution")
    dtype = resolve_dtype(opts.dtype, spec.target)
    in_names = input_names(info, sel, opts)
    index_fns = index_plan(opts.indices, spec, in_names)
    r0, r1, transform = _strip_window(opts, info, src)
    H, W = (r1 - r0) * s, info.width * s
    names = (in_names if opts.append else []) + [f"synthetic_{n}" for n in spec.target_names]
    roles = [band_role(b) for b in (in_names if opts.append else []) + spec.target_names]
    error_fn = error_plan(spec, dtype) if opts.confidence else None
    extras = [*index_fns, *(["error"] if error_fn else [])]
    paths = [out] + [out.with_name(f"{out.stem}_{k}{out.suffix or '.tif'}") for k in extras]
    t0 = time.perf_counter()
    co = None if opts.cog else opts.creation  # a COG gets them when it is made (below)
    prof = output_profile(info.crs, transform, H, W, len(names), dtype, s, co)
    single = output_profile(info.crs, transform, H, W, 1, "float32", s, co)
    stats = raster_stats(spec, src, sel, scaling)
    notes = guard_notes(spec, stats)
    ran = [0]  # tiles run (fewer than the plan's where ``opts.strip.only`` leaves some out)
    # GDAL keeps written blocks in its cache (bounded): peak RSS stays flat in the raster's size;
    # every input block is read once per strip, so nothing is lost.
    with opened(paths, prof, single, opts.replace, opts.cog, opts.creation, lambda r: _describe(
            r, spec, src, sel, dtype, names, roles, paths, index_fns, error_fn, notes)) as rasters:
        locate = contexter(info, spec, opts.sensor, stats) if spec.uses_context else None
        # Writing (compression) runs in a thread beside the next strip's compute; at most one
        # strip waits, so memory stays bounded.
        with ThreadPoolExecutor(1) as writer:
            pending = None
            for cols, left, right in column_blocks(plan, opts.strip.block_px, block_span(prof, s, "x")):
                rows = _stream(backend, spec, src, sel, scaling, plan, cols, left, right, opts,
                               progress, locate, (r0, r1), ran)
                for a, b, pred, x, valid in on_block_rows(rows, block_span(prof, s, "y"), r0, s):
                    if pending is not None:
                        pending.result()
                    win = Window(left * s, (a - r0) * s, (right - left) * s, (b - a) * s)
                    pending = writer.submit(write_strip, rasters, index_fns, win, pred, x, valid,
                                            opts.append, lambda v, ok: encode(v, ok, dtype), error_fn)
            if pending is not None:
                pending.result()
    secs = time.perf_counter() - t0
    scale, offset, units = stored_units(spec.target, dtype, True)  # the error raster's, in a phrase
    flat = error_fn.flat_note(units if (scale, offset) == (1.0, 0.0) else "(stored values)") if error_fn else None
    if flat:
        notes = [*notes, flat]
    return PredictStats(out, ran[0] if opts.strip.only else plan.n_tiles, secs, (r1 - r0) * info.width / 1e6, paths[1:], notes,
                        opts.tile or spec.config.inference.tile)


def _strip_window(opts: PredictOptions, info, src: Path):
    """``(r0, r1, transform)``: the rows of ``opts.strip`` (the whole raster by default) and their
    transform, a strip being written as its own georeferenced raster; refused outside ``src``."""
    r0, r1 = opts.strip.rows or (0, info.height)
    if not 0 <= r0 < r1 <= info.height:
        raise BandbridgeError(f"rows {r0}:{r1} lie outside {src} ({info.height} rows)")
    return r0, r1, info.transform if info.transform is None or r0 == 0 else \
        rasterio.windows.transform(Window(0, r0, info.width, r1 - r0), info.transform)


def _describe(r, spec: ModelSpec, src: Path, sel: BandSel, dtype: str, names: list[str], roles: list[str],
              paths: list[Path], index_fns: dict, error_fn, notes: list[str]) -> None:
    """Name and tag the opened outputs ``r``: band names, roles and units (the input's ``sel`` for
    appended input bands), the companions, each index's and the error's own, the model and
    source, and whether the model's output faded (``notes``)."""
    n_out = len(spec.target_names)
    r.main.descriptions = tuple(names)
    tag_bands(r.main, roles)
    r.main.update_tags(bandbridge_units=physical_note(spec.target, dtype))
    tag_units(r.main, [sel] * (len(names) - n_out) + [spec.target] * n_out, dtype)
    if paths[1:]:  # the companions, named in the output: a STAC Item lists them all
        r.main.update_tags(bandbridge_companions=",".join(p.name for p in paths[1:]))
    for d, k in zip(r.extras, index_fns):
        d.descriptions = (k,)
    if error_fn:
        r.extras[-1].descriptions = (error_fn.description,)
        tag_units(r.extras[-1], [spec.target], dtype, difference=True)  # × the output's factor
        r.extras[-1].update_tags(bandbridge_confidence=error_fn.fitted)
    for d in [r.main, *r.extras]:  # marks our outputs, so a rerun on the folder never reads them as inputs
        d.update_tags(bandbridge_model=model_tag(spec), bandbridge_source=src.name)
    fade = fade_of(spec)
    if fade:  # the output says whether the model's own output was kept
        r.main.update_tags(**{fade[0]: notes[0] if notes else GUARD_KEPT})


def write_strip(rasters, index_fns: dict, win: Window, pred: np.ndarray, x: np.ndarray,
                valid: np.ndarray, append: bool, store: Callable[[np.ndarray, np.ndarray], np.ndarray],
                error_fn=None) -> None:
    """One window of a prediction: ``pred (Co, h, w)`` (after ``x (Ci, h, w)`` with ``append``)
    stored by ``store(values, valid)``, and the extras: each index of ``x`` and the output, then
    the expected error."""
    stack = np.concatenate([x, pred]) if append else pred
    rasters_extra = [fn(*[x[i] for i in idx], pred[0]) for fn, idx in index_fns.values()]
    if error_fn is not None:
        rasters_extra.append(error_fn(x, pred))
        error_fn.count(rasters_extra[-1], valid)
    rasters.write(win, store(stack, valid), rasters_extra, valid)


def input_names(info, sel: BandSel, opts: PredictOptions) -> list[str]:
    """Names of the selected input bands: the interpretation's, else the file's own."""
    if opts.read.names is not None:
        return list(opts.read.names)
    idx = select_bands(info.bands, sel.bands, "input")
    if sel.bands is None:
        return [info.bands[i] for i in idx]
    return [info.bands[i] if str(b).isdigit() else str(b) for b, i in zip(sel.bands, idx)]


def index_plan(indices, spec: ModelSpec, names: list[str]) -> dict:
    """{name: (fn, input band positions)} for the requested indices of input bands ``names``;
    needs a NIR output."""
    if not indices:
        return {}
    tn = spec.target_names
    if not is_single_nir(tn):
        raise BandbridgeError(f"--index needs a model whose output is one NIR band; "
                              f"{spec.name} makes {', '.join(tn)}")
    out = {}
    for k in indices:
        if k not in INDICES:
            raise BandbridgeError(f"--index {k}: unknown index; choose from {', '.join(sorted(INDICES))}")
        fn, roles = INDICES[k]
        idx = [find_role(names, r) for r in roles if r != "nir"]
        if any(i is None for i in idx):
            raise BandbridgeError(f"--index {k} needs input bands with roles "
                                  f"{', '.join(roles[:-1])}; the input bands are {', '.join(names)} "
                                  "(name them with --band-names)")
        out[k] = (fn, idx)
    return out


def raster_stats(spec: ModelSpec, src: Path, sel: BandSel, scaling) -> list[float]:
    """The input's per-image statistics from one decimated read of the whole raster (never per
    tile: every tile is normalised alike), for generators that normalise their input or guard
    their residual."""
    if not spec.n_stats:
        return []
    view = read_decimated(src, scaling, sel.bands, band_names=sel.band_names, sensor=sel.sensor)
    if not view.mask.any():
        raise BandbridgeError(f"{src}: no valid pixels (every pixel is nodata or NaN); there is "
                              "nothing to predict")
    return [float(v) for v in image_stats(view.data, view.mask)]


GUARD_KEPT = "inside the training images' range: the model's output, unfaded"


def fade_of(spec: ModelSpec) -> tuple[str, dict] | None:
    """``(output tag, ranges)`` of what fades the model's output on images unlike training's: the
    floor's fallback ranges (``bandbridge_fallback``) or else the residual's guard
    (``bandbridge_guard``); None when neither."""
    if spec.fallback_ranges:
        return "bandbridge_fallback", spec.fallback_ranges
    if spec.residual_guard:
        return "bandbridge_guard", spec.residual_guard
    return None


def guard_notes(spec: ModelSpec, stats: list[float]) -> list[str]:
    """The line on this image where it falls back to the floor or the residual's guard fades the
    model's residual (a floor's fallback first)."""
    fade = fade_of(spec)
    if not fade or not stats:
        return []
    note = guard_note(np.asarray(stats), fade[1], spec.input_names, spec.floor)
    return [note] if note else []


def contexter(info, spec: ModelSpec, sensor: str | None, stats: list[float]):
    """(row, col) → context row (lat, lon, GSD m, sensor index, image statistics) of a pixel."""
    from bandbridge.data.context import context_row, pixel_latlon
    if info.crs is None or info.transform is None:
        return lambda r, c: context_row(float("nan"), float("nan"), None, sensor, spec.sensors) + stats
    res = abs(info.transform.a)

    def row(r: float, c: float) -> list[float]:
        lat, lon = pixel_latlon(info.crs, info.transform, r, c)
        gsd = res if info.crs.is_projected else res * 111_320 * np.cos(np.radians(lat))
        return context_row(lat, lon, gsd, sensor, spec.sensors) + stats
    return row


def _wanted(only: str, r: int, cols: tuple[int, ...], th: int, tw: int) -> list[int]:
    """The tile columns of row ``r`` whose extent holds a nonzero pixel of the raster ``only``."""
    with rasterio.open(only) as m:
        band = m.read(1, window=Window(cols[0], r, cols[-1] + tw - cols[0], th), boundless=True, fill_value=0)
    return [c for c in cols if band[:, c - cols[0]:c - cols[0] + tw].any()]


def _stream(backend, spec: ModelSpec, src: Path, sel: BandSel, scaling, plan: TilePlan,
            cols: tuple[int, ...], left: int, right: int, opts: PredictOptions, progress, locate,
            span: tuple[int, int], ran: list[int]):
    """Yield ``(row0, row1, pred, input, valid)`` for consecutive finished row ranges of the
    column block whose tiles start at ``cols``, cut to the block's columns ``[left, right)``:
    pred ``(Co, h·s, w·s)``, input ``(Ci, h, w)``, valid ``(h·s, w·s)``. Only the tile rows touching
    the rows ``span`` = (r0, r1) run and only those rows are yielded: a strip equals the same rows
    of the whole raster's prediction (same tiles, same weights). ``ran[0]`` counts the tiles run."""
    s = spec.scale
    th, tw = plan.tile_h, plan.tile_w
    H, W, c0 = plan.height, plan.width, cols[0]
    bw = cols[-1] + tw - c0  # block width, input pixels
    # Σ w·pred in float32 with weights that already sum to 1 (``axis_weights``): no weight sum,
    # no division, and only the tiles' edge bands are multiplied.
    acc = np.zeros((spec.out_channels, th * s, bw * s), np.float32)
    r0, r1 = span
    rows = [r for r in plan.rows if r < r1 and r + th > r0]
    w_row = dict(zip(rows, axis_weights(rows, th, plan.overlap_h, spec.halo, s)))
    w_col = dict(zip(cols, axis_weights(cols, tw, plan.overlap_w, spec.halo, s)))
    bs = opts.batch_size or default_batch(th, tw)
    a, b = left - c0, right - c0  # the block's own columns, relative

    def read(r: int):
        if opts.strip.only is not None and not _wanted(opts.strip.only, r, cols, th, tw):  # no tile runs here:
            # nothing read, the rows written as no data
            return SimpleNamespace(data=np.zeros((spec.in_channels, th, bw), np.float32), mask=np.zeros((th, bw), bool))
        return read_raster(src, scaling, sel.bands, window=(r, c0, th, bw),
                           band_names=sel.band_names, sensor=sel.sensor)

    for k, (r, strip) in enumerate(zip(rows, _read_ahead(read, rows))):
        x = _fill_margin(strip.data, H - r, W - c0)
        run = cols if opts.strip.only is None else _wanted(opts.strip.only, r, cols, th, tw)
        if progress and len(run) < len(cols):
            progress(len(cols) - len(run))
        tiles = [x[:, :, c - c0:c - c0 + tw] for c in run]
        ran[0] += len(tiles)
        for b0 in range(0, len(tiles), bs):
            part = run[b0:b0 + bs]  # each tile's context: its centre's lat/lon, the GSD, the sensor
            ctx = None if locate is None else [locate(r + th / 2, c + tw / 2) for c in part]
            y = _forward(backend, np.stack(tiles[b0:b0 + bs]), ctx, spec, src)
            for j, c in enumerate(part):
                acc[:, :, (c - c0) * s:(c - c0 + tw) * s] += weigh(y[j], w_row[r], w_col[c])
            if progress:
                progress(len(part))
        nxt = min(rows[k + 1] if k + 1 < len(rows) else H, H, r1)
        done = (nxt - r) * s  # rows of this strip no later strip touches
        lo = max(r0 - r, 0)  # rows above the span: not complete here, not written
        if nxt > r + lo:
            pred = acc[:, lo * s:done, a * s:b * s].copy()
            valid = strip.mask[lo:nxt - r, a:b]
            if s > 1:
                valid = valid.repeat(s, 0).repeat(s, 1)
            yield r + lo, nxt, pred, x[:, lo:nxt - r, a:b], valid
        if k + 1 < len(rows):  # move the unfinished rows (the overlap) to the top, clear the rest
            keep = acc.shape[1] - done
            acc[:, :keep] = acc[:, done:]  # numpy copies overlapping ranges safely
            acc[:, keep:] = 0


def _read_ahead(read: Callable, rows: list[int]):
    """``read(r)`` for each of ``rows``, the next read (and decompressed) in a thread while this one computes."""
    reader = ThreadPoolExecutor(1)
    try:
        ahead = reader.submit(read, rows[0])
        for k in range(len(rows)):
            strip = ahead.result()
            if k + 1 < len(rows):
                ahead = reader.submit(read, rows[k + 1])
            yield strip
    finally:
        reader.shutdown(wait=True, cancel_futures=True)


def _forward(backend, batch: np.ndarray, ctx: list | None, spec: ModelSpec, src: Path) -> np.ndarray:
    """The backend on one batch of tiles (with their context rows where the model takes them),
    float32 and writable; refused when of other bands than the spec's or not finite."""
    y = backend(batch) if ctx is None else backend(batch, np.array(ctx, np.float32))
    if y.shape[1] != spec.out_channels:
        raise BandbridgeError(f"the model produced {y.shape[1]} bands, its spec says {spec.out_channels}")
    if not np.isfinite(y).all():  # valid or not, the input is finite (margins replicated)
        raise BandbridgeError(f"{spec.folder}: the model produced NaN or infinite values from {src}; its weights "
                              "are damaged or it overflows on this input: reinstall or re-bundle the model")
    y = np.asarray(y, np.float32)
    return y if y.flags.writeable else y.copy()  # a runtime's own output buffer: weigh a copy
