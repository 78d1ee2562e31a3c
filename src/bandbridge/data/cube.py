"""NetCDF/Zarr datacubes read: one time step's window, like any raster (a reference names it:
:mod:`bandbridge.data.cube_ref`), with its valid pixels; and every time step's usable fraction.

xarray decodes ``scale_factor``/``_FillValue`` (fill → NaN); NaN and a
``nodata``/``_FillValue``/``missing_value`` attribute left undecoded are invalid.

Pairing (config ``Source``): either ``files`` (each cube holds input and target bands, e.g. S2
RGB→NIR) or ``input_files``/``target_files`` (e.g. S1 and S2 cubes of one site, matched by
``pair_key``, a regex whose first group is searched in the path; default: the cube's folder):
each usable target date is paired with the nearest input date within ``pair_days`` (days), and
the input is resampled (nearest) onto the target's grid when they differ. A step is usable when
at least ``min_clear`` of its pixels are valid and, with ``cloud_mask: SCL``, clear by the
Sentinel-2 scene classification (4 vegetation, 5 bare soil, 6 water, 11 snow); cloudy pixels of
kept steps are masked. ``cloud_mask_file`` is a glob (in the target cube's folder) of a companion
cube holding SCL when the target cube has none. Item ids are ``<cube path>@<date>``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bandbridge.data.cube_dataset import (cube_bands, date_labels, iso_times, open_cube, spatial_dims,
                                          step_index, time_dim)
from bandbridge.data.cube_ref import CubeRef, parse_ref
from bandbridge.bands import clear
from bandbridge.errors import BandbridgeError

BLOCK_BYTES = 256 * 2**20  # step_fractions reads a block of time steps at once: at most this much
# (float32 values and the valid mask; 32 steps of a 64² WorldCereal cube are 2 MB, one step of a
# 10980² tile 1.9 GB, read one at a time)
BLOCK_STEPS = 32


def _onto(da, template, box: dict | None, p: Path):
    """``da`` (2-D) cut to ``box`` (its own grid) or resampled onto ``template`` (nearest)."""
    if box is not None:
        return da.isel(box)
    from rasterio.enums import Resampling
    if da.rio.crs is None or template.rio.crs is None:
        raise BandbridgeError(f"{p}: resampling onto another grid needs a CRS on both cubes")
    return da.rio.reproject_match(template, resampling=Resampling.nearest)


def _valid(a: np.ndarray, da) -> np.ndarray:
    ok = np.isfinite(a)
    for key in ("nodata", "_FillValue", "missing_value"):
        v = da.attrs.get(key)
        if v is not None and np.isscalar(v) and np.isfinite(v):
            ok &= a != np.float32(v)
    return ok


def _clear(ref: CubeRef, ds, k, template, box: dict | None) -> np.ndarray:
    """Bool ``([T,] h, w)`` of the window: True where SCL says clear at step(s) ``k``."""
    src_path = ref.file(ref.scl) if ref.scl else ref.path
    src = open_cube(src_path, raw=True)  # a class band: never scaled or filled with NaN
    band = next((b for b in cube_bands(src, src_path) if b.name == "SCL"), None)
    if band is None:
        raise BandbridgeError(f"{src_path}: no SCL band for the cloud mask; set the source's "
                              "cloud_mask_file to the cube that holds it")
    sel = dict(band.index)
    t, ts = time_dim(src), time_dim(ds)
    if t is not None:
        want = np.atleast_1d(ds[ts].values[k]) if ts else src[t].values[:1]
        have = {v: i for i, v in enumerate(src[t].values)}
        missing = [v for v in want if v not in have]
        if missing or (ts is None and src.sizes[t] != 1):
            raise BandbridgeError(f"{src_path}: no SCL time step at "
                                  f"{iso_times(missing[:1])[0] if missing else 'this cube'}")
        idx = [have[v] for v in want]
        sel[t] = idx if np.ndim(k) else idx[0]
    da = _onto(src[band.var].isel(sel), template, box if not ref.scl else None, src_path)
    return clear(np.asarray(da.values), "SCL")


def read_cube(ref: CubeRef, sel: list[int], window: tuple[int, int, int, int] | None,
              steps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decoded stored values float32 ``(C, [T,] h, w)`` of bands ``sel`` (indices into
    :func:`~bandbridge.data.cube_dataset.cube_info` bands) and valid ``([T,] h, w)``: the referenced
    step, or ``steps``. ``window``: ``(row, col, height, width)`` on the output grid, boundless
    (outside: 0, invalid)."""
    ds = open_cube(ref.path)
    bands, t = cube_bands(ds, ref.path), time_dim(ds)
    if bad := [i for i in sel if not 0 <= i < len(bands)]:
        raise BandbridgeError(f"{ref.path}: has {len(bands)} band(s) ({', '.join(b.name for b in bands)}), no band "
                              f"{bad[0] + 1}; give a cube that holds the bands asked for")
    k = steps if steps is not None and t else step_index(ds, ref)
    g = open_cube(ref.file(ref.grid)) if ref.grid else ds
    (y, x), (H, W) = spatial_dims(g, ref.path), g.rio.shape
    r0, c0, h, w = window or (0, 0, H, W)
    lead = (len(k),) if np.ndim(k) else ()
    raw = np.zeros((len(sel), *lead, h, w), np.float32)
    valid = np.zeros((*lead, h, w), bool)
    ra, rb, ca, cb = max(r0, 0), min(r0 + h, H), max(c0, 0), min(c0 + w, W)
    if rb <= ra or cb <= ca:
        return raw, valid
    inner = (..., slice(ra - r0, rb - r0), slice(ca - c0, cb - c0))
    cut = {y: slice(ra, rb), x: slice(ca, cb)}
    tmpl = g[cube_bands(g, ref.path)[0].var]
    tmpl = tmpl.isel({d: 0 for d in tmpl.dims if d not in (y, x)}).isel(cut)
    box = None if ref.grid else cut
    ok = np.ones((*lead, rb - ra, cb - ca), bool)
    for j, i in enumerate(sel):
        b = bands[i]
        da = _onto(ds[b.var].isel({**b.index, **({t: k} if t else {})}), tmpl, box, ref.path)
        try:
            a = np.asarray(da.values, dtype=np.float32)
        except (ValueError, TypeError) as e:
            raise BandbridgeError(f"{ref.path}: cannot decode variable '{b.var}' ({e})") from None
        ok &= _valid(a, da)
        raw[j][inner] = a
    if ref.scl is not None:
        ok &= _clear(ref, ds, k, tmpl, box)
    valid[inner] = ok
    raw[:, ~valid] = 0.0
    return raw, valid


@lru_cache(maxsize=64)
def _fractions(path: str, mtime_ns: int, sel: tuple[int, ...], zero_is_nodata: bool
               ) -> tuple[tuple[str, Any, float], ...]:
    ref = replace(parse_ref(path), date=None, grid=None)
    ds = open_cube(ref.path)
    t = time_dim(ds)
    if t is None:
        raw, valid = read_cube(ref, list(sel), None)
        if zero_is_nodata:
            valid &= (raw != 0).any(0)
        return (("", None, float(valid.mean())),)
    times = ds[t].values
    h, w = ds.rio.shape
    block = int(max(1, min(BLOCK_STEPS, BLOCK_BYTES // max(1, h * w * (4 * len(sel) + 1)))))
    frac = []
    for s in range(0, len(times), block):  # blocks of time steps bound the memory
        raw, valid = read_cube(ref, list(sel), None, np.arange(s, min(s + block, len(times))))
        if zero_is_nodata:
            valid &= (raw != 0).any(0)
        frac += valid.mean(axis=(-2, -1)).tolist()
    return tuple(zip(date_labels(times), times, frac))


def step_fractions(path: str | Path, sel: list[int], zero_is_nodata: bool = False
                   ) -> list[tuple[str, Any, float]]:
    """``(date label, time, usable fraction)`` of every time step of the cube ``path`` on its own
    grid: the fraction of pixels where bands ``sel`` are valid (and clear, with ``#scl``).
    The label is ``""`` and the time None for a cube without time."""
    p = parse_ref(path).path
    if not p.exists():
        raise BandbridgeError(f"{p}: file not found; check the path (or --data root)")
    return list(_fractions(str(path), p.stat().st_mtime_ns, tuple(sel), zero_is_nodata))
