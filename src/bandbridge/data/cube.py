"""NetCDF/Zarr datacubes read through xarray + rioxarray: one time step, like any raster.

A *cube reference* says what to read: ``CUBE.nc[@DATE][#scl[=FILE]][#grid=FILE]``

- ``@DATE``: the time step whose ISO time starts with DATE (``2018-05-01`` or
  ``2018-05-01T10:53:28``); left out for a cube without time (or with a single step).
- ``#scl``: pixels the Sentinel-2 scene classification (SCL) does not call clear are invalid;
  clear = 4 vegetation, 5 bare soil, 6 water, 11 snow. ``#scl=FILE``: SCL from a companion cube
  with the same time steps, resampled (nearest) onto this grid (WorldCereal's 20 m file).
- ``#grid=FILE``: this cube resampled (nearest) onto FILE's grid (20 m S1 onto 10 m S2).

FILE is relative to the cube's folder. Bands are the variables on the cube's y/x grid (a variable
with one more dimension, e.g. ``bands``, gives one band per label), named by
:func:`canonical_band_name` after dropping an openEO collection prefix (``S2-L2A-B04`` → ``B04``,
``S1-SIGMA0-VV`` → ``VV``). xarray decodes ``scale_factor``/``_FillValue`` (fill → NaN); NaN and
a ``nodata``/``_FillValue``/``missing_value`` attribute left undecoded are invalid. xarray and
rioxarray are imported only here, on first use (``pip install 'bandbridge[cube]'``).

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

import re
import warnings
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bandbridge.bands import canonical_band_name
from bandbridge.errors import BandbridgeError

SCL_CLEAR = (4, 5, 6, 11)  # vegetation, bare soil, water, snow/ice
_REF = re.compile(r"^(?P<path>.+?\.(?:nc|nc4|zarr))(?=@|#|$)(?:@(?P<date>[^#]*))?"
                  r"(?P<opts>(?:#[^#]*)*)$", re.IGNORECASE)
_OPENEO_PREFIX = re.compile(r"S[12]-[A-Z0-9]+-(.+)")


@dataclass(frozen=True)
class CubeRef:
    """A parsed cube reference (see the module docstring)."""

    path: Path
    date: str | None = None
    scl: str | None = None  # None: no cloud mask; "": the cube's own SCL; else a companion file
    grid: str | None = None

    def file(self, name: str) -> Path:
        """A companion file named in an option, relative to the cube's folder."""
        p = Path(name)
        return p if p.is_absolute() else self.path.parent / p

    def __str__(self) -> str:
        s = str(self.path) + (f"@{self.date}" if self.date else "")
        if self.scl is not None:
            s += "#scl" + (f"={self.scl}" if self.scl else "")
        return s + (f"#grid={self.grid}" if self.grid else "")


@dataclass(frozen=True)
class CubeInfo:
    """Header of a cube time step: output grid size, band names, georeference, the dtype of its values as read."""

    height: int
    width: int
    bands: list[str]
    crs: Any
    transform: Any
    dtype: str


@dataclass(frozen=True)
class _Band:
    name: str
    var: str
    index: dict  # {extra dimension: position}, e.g. {"bands": 3}


def is_cube(path: str | Path) -> bool:
    """True for a NetCDF/Zarr path or cube reference (``x.nc``, ``x.nc@2018-05-01#scl``)."""
    return _REF.match(str(path)) is not None


def input_ref(item: str) -> Path | None:
    """An input argument that is a cube reference (``cube.nc@DATE``, a ``.zarr`` store), as the
    path the reader takes; None for anything else. A missing cube file or a Zarr store without
    its reader is one line here, before any work."""
    if not is_cube(item):
        return None
    ref = parse_ref(item)
    if not ref.path.exists():
        raise BandbridgeError(f"{ref.path}: no such datacube file" +
                              (f" (for '{item}')" if str(ref.path) != item else "") +
                              "; check the path")
    if ref.path.suffix.lower() == ".zarr":
        import importlib.util
        if importlib.util.find_spec("zarr") is None:
            raise BandbridgeError(f"{ref.path}: reading Zarr stores needs zarr: pip install zarr "
                                  "(and 'bandbridge[cube]')")
    return Path(item)


def parse_ref(path: str | Path) -> CubeRef:
    """Split a cube reference into file, date and options."""
    m = _REF.match(str(path))
    if not m:
        raise BandbridgeError(f"{path}: not a datacube path (.nc, .nc4 or .zarr)")
    scl = grid = None
    for opt in filter(None, m.group("opts").split("#")):
        key, eq, val = opt.partition("=")
        if key == "scl":
            scl = val
        elif key == "grid" and val:
            grid = val
        else:
            raise BandbridgeError(f"{path}: unknown cube option '#{opt}'; use #scl, #scl=FILE "
                                  "or #grid=FILE")
    return CubeRef(Path(m.group("path")), m.group("date") or None, scl, grid)


def _xarray(p: Path):
    try:
        import rioxarray  # noqa: F401  (registers the .rio accessor)
        import xarray as xr
    except ImportError:
        raise BandbridgeError(f"{p}: reading NetCDF/Zarr datacubes needs xarray, rioxarray and "
                              "netCDF4: pip install 'bandbridge[cube]'") from None
    return xr


@lru_cache(maxsize=16)
def _dataset(path: str, mtime_ns: int, raw: bool):
    p = Path(path)
    xr = _xarray(p)
    engine = "zarr" if p.suffix.lower() == ".zarr" else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. 'bounds' attributes that name no variable
            return xr.open_dataset(p, engine=engine, mask_and_scale=not raw, decode_coords="all")
    except (OSError, ValueError, RuntimeError, ImportError) as e:
        hint = " (Zarr stores need `pip install zarr`)" if engine else ""
        raise BandbridgeError(f"{p}: cannot open as a datacube ({e}){hint}") from None


def _open(p: Path, raw: bool = False):
    """The xarray Dataset of ``p`` (kept open, cached); ``raw``: undecoded (for class bands)."""
    if not p.exists():
        raise BandbridgeError(f"{p}: file not found; check the path (or --data root)")
    return _dataset(str(p), p.stat().st_mtime_ns, raw)


def _time_dim(ds) -> str | None:
    for d in ds.dims:
        if d in ds.coords and np.issubdtype(ds[d].dtype, np.datetime64):
            return str(d)
    return None


def _spatial(ds, p: Path) -> tuple[str, str]:
    from rioxarray.exceptions import MissingSpatialDimensionError
    try:
        return ds.rio.y_dim, ds.rio.x_dim
    except MissingSpatialDimensionError:
        raise BandbridgeError(f"{p}: no x/y (or lon/lat) dimensions; not a raster datacube"
                              ) from None


def _band_name(label: str) -> str:
    m = _OPENEO_PREFIX.fullmatch(label.strip().upper())
    return canonical_band_name(m.group(1) if m else label)


def _bands(ds, p: Path) -> list[_Band]:
    y, x = _spatial(ds, p)
    t = _time_dim(ds)
    out: list[_Band] = []
    for v, da in ds.data_vars.items():
        if y not in da.dims or x not in da.dims:
            continue
        extra = [d for d in da.dims if d not in (y, x, t)]
        if not extra:
            out.append(_Band(_band_name(str(v)), str(v), {}))
        elif len(extra) == 1:
            d = extra[0]
            labels = ([lab.decode() if isinstance(lab, bytes) else str(lab) for lab in ds[d].values]
                      if d in ds.coords else [f"{v}_{i}" for i in range(da.sizes[d])])
            out += [_Band(_band_name(lab), str(v), {d: i}) for i, lab in enumerate(labels)]
    if not out:
        raise BandbridgeError(f"{p}: no variable on the cube's {y}/{x} grid")
    return out


def _iso(times) -> list[str]:
    return [str(np.datetime_as_string(t, unit="s")) for t in times]


def date_labels(times) -> list[str]:
    """Short labels of time steps: ``YYYY-MM-DD``, or the full second where a day has several."""
    iso = _iso(times)
    n = Counter(s[:10] for s in iso)
    return [s[:10] if n[s[:10]] == 1 else s for s in iso]


def _is_date(text: str) -> bool:
    try:
        np.datetime64(text[:10])
        return len(text) >= 10
    except ValueError:
        return False


def _step(ds, ref: CubeRef) -> int | None:
    """Index of the referenced time step (None for a cube without time)."""
    t = _time_dim(ds)
    if t is None:
        if ref.date:
            raise BandbridgeError(f"{ref.path}: the cube has no time dimension; drop '@{ref.date}'")
        return None
    iso = _iso(ds[t].values)
    if ref.date is None:
        if len(iso) == 1:
            return 0
        raise BandbridgeError(f"{ref.path}: {len(iso)} time steps ({iso[0][:10]} … "
                              f"{iso[-1][:10]}); read one as '{ref.path.name}@YYYY-MM-DD'")
    hits = [i for i, s in enumerate(iso) if s.startswith(ref.date)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        near = sorted(iso, key=lambda s: abs(np.datetime64(s[:10]) - np.datetime64(ref.date[:10]))
                      if len(ref.date) >= 10 else 0)[:2] if _is_date(ref.date) else iso[:2]
        raise BandbridgeError(f"{ref.path}: no time step at '{ref.date}'; the cube has "
                              f"{len(iso)} from {iso[0][:10]} to {iso[-1][:10]}, the nearest "
                              f"{' and '.join(sorted(n[:10] for n in near))}: read one as "
                              f"'{ref.path.name}@{near[0][:10]}'")
    raise BandbridgeError(f"{ref.path}: {len(hits)} time steps match '{ref.date}' "
                          f"({', '.join(iso[i] for i in hits)}); give the full time")


def cube_info(path: str | Path) -> CubeInfo:
    """Header of the cube step ``path`` (a reference); the grid is ``#grid``'s when given."""
    ref = parse_ref(path)
    ds = _open(ref.path)
    bands = _bands(ds, ref.path)
    if ref.date:
        _step(ds, ref)  # a wrong date fails here; the header itself needs none
    g = _open(ref.file(ref.grid)) if ref.grid else ds
    _spatial(g, ref.path)
    h, w = g.rio.shape
    first = ds[bands[0].var]
    # the values' type as read: a packed variable (scale_factor) is decoded to floats, which is
    # what detection must judge (uint16 would call reflectance 0.6 "8-bit values")
    return CubeInfo(h, w, [b.name for b in bands], g.rio.crs, g.rio.transform(), str(first.dtype))


def same_grid(a: str | Path, b: str | Path) -> bool:
    """True when two cubes have the same size, transform and CRS."""
    ia, ib = cube_info(parse_ref(a).path), cube_info(parse_ref(b).path)
    return ((ia.height, ia.width, ia.crs, ia.transform) ==
            (ib.height, ib.width, ib.crs, ib.transform))


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
    src = _open(src_path, raw=True)  # a class band: never scaled or filled with NaN
    band = next((b for b in _bands(src, src_path) if b.name == "SCL"), None)
    if band is None:
        raise BandbridgeError(f"{src_path}: no SCL band for the cloud mask; set the source's "
                              "cloud_mask_file to the cube that holds it")
    sel = dict(band.index)
    t, ts = _time_dim(src), _time_dim(ds)
    if t is not None:
        want = np.atleast_1d(ds[ts].values[k]) if ts else src[t].values[:1]
        have = {v: i for i, v in enumerate(src[t].values)}
        missing = [v for v in want if v not in have]
        if missing or (ts is None and src.sizes[t] != 1):
            raise BandbridgeError(f"{src_path}: no SCL time step at "
                                  f"{_iso(missing[:1])[0] if missing else 'this cube'}")
        idx = [have[v] for v in want]
        sel[t] = idx if np.ndim(k) else idx[0]
    da = _onto(src[band.var].isel(sel), template, box if not ref.scl else None, src_path)
    return np.isin(np.asarray(da.values), SCL_CLEAR)


def _read(ref: CubeRef, sel: list[int], window: tuple[int, int, int, int] | None,
          steps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw ``(C, [T,] h, w)`` and valid ``([T,] h, w)``: the referenced step, or ``steps``."""
    ds = _open(ref.path)
    bands, t = _bands(ds, ref.path), _time_dim(ds)
    k = steps if steps is not None and t else _step(ds, ref)
    g = _open(ref.file(ref.grid)) if ref.grid else ds
    (y, x), (H, W) = _spatial(g, ref.path), g.rio.shape
    r0, c0, h, w = window or (0, 0, H, W)
    lead = (len(k),) if np.ndim(k) else ()
    raw = np.zeros((len(sel), *lead, h, w), np.float32)
    valid = np.zeros((*lead, h, w), bool)
    ra, rb, ca, cb = max(r0, 0), min(r0 + h, H), max(c0, 0), min(c0 + w, W)
    if rb <= ra or cb <= ca:
        return raw, valid
    inner = (..., slice(ra - r0, rb - r0), slice(ca - c0, cb - c0))
    cut = {y: slice(ra, rb), x: slice(ca, cb)}
    tmpl = g[_bands(g, ref.path)[0].var]
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


def read_cube(path: str | Path, sel: list[int], window: tuple[int, int, int, int] | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Bands ``sel`` (indices into :func:`cube_info` bands) of one time step.

    window: ``(row, col, height, width)`` on the output grid, boundless (outside: 0, invalid).
    Returns decoded stored values float32 ``(C, h, w)`` and valid bool ``(h, w)``.
    """
    return _read(parse_ref(path), sel, window)


@lru_cache(maxsize=64)
def _fractions(path: str, mtime_ns: int, sel: tuple[int, ...], zero_is_nodata: bool
               ) -> tuple[tuple[str, Any, float], ...]:
    ref = replace(parse_ref(path), date=None, grid=None)
    ds = _open(ref.path)
    t = _time_dim(ds)
    if t is None:
        raw, valid = _read(ref, list(sel), None)
        if zero_is_nodata:
            valid &= (raw != 0).any(0)
        return (("", None, float(valid.mean())),)
    times = ds[t].values
    frac = []
    for s in range(0, len(times), 32):  # blocks of time steps bound the memory
        raw, valid = _read(ref, list(sel), None, np.arange(s, min(s + 32, len(times))))
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
