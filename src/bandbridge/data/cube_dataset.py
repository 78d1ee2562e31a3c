"""A NetCDF/Zarr datacube opened through xarray + rioxarray (kept open, cached) and what it holds:
its bands, time steps and grid.

Bands are the variables on the cube's y/x grid (a variable with one more dimension, e.g.
``bands``, gives one band per label), named by :func:`canonical_band_name` after dropping an
openEO collection prefix (``S2-L2A-B04`` → ``B04``, ``S1-SIGMA0-VV`` → ``VV``). xarray and
rioxarray are imported only here, on first use (``pip install 'bandbridge[cube]'``).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bandbridge.bands import canonical_band_name
from bandbridge.data.cube_ref import CubeRef, parse_ref
from bandbridge.errors import BandbridgeError

_OPENEO_PREFIX = re.compile(r"S[12]-[A-Z0-9]+-(.+)")


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
class CubeBand:
    """One band of a cube: a variable, or one label of its extra dimension."""

    name: str
    var: str
    index: dict  # {extra dimension: position}, e.g. {"bands": 3}


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


def open_cube(p: Path, raw: bool = False):
    """The xarray Dataset of ``p`` (kept open, cached); ``raw``: undecoded (for class bands)."""
    if not p.exists():
        raise BandbridgeError(f"{p}: file not found; check the path (or --data root)")
    return _dataset(str(p), p.stat().st_mtime_ns, raw)


def time_dim(ds) -> str | None:
    """The dataset's time dimension (datetime coordinates), if it has one."""
    for d in ds.dims:
        if d in ds.coords and np.issubdtype(ds[d].dtype, np.datetime64):
            return str(d)
    return None


def spatial_dims(ds, p: Path) -> tuple[str, str]:
    """The dataset's ``(y, x)`` dimension names; refuses a cube without them."""
    from rioxarray.exceptions import MissingSpatialDimensionError
    try:
        return ds.rio.y_dim, ds.rio.x_dim
    except MissingSpatialDimensionError:
        raise BandbridgeError(f"{p}: no x/y (or lon/lat) dimensions; not a raster datacube"
                              ) from None


def _band_name(label: str) -> str:
    m = _OPENEO_PREFIX.fullmatch(label.strip().upper())
    return canonical_band_name(m.group(1) if m else label)


def cube_bands(ds, p: Path) -> list[CubeBand]:
    """The bands of the dataset (see the module docstring), in variable order."""
    y, x = spatial_dims(ds, p)
    t = time_dim(ds)
    out: list[CubeBand] = []
    for v, da in ds.data_vars.items():
        if y not in da.dims or x not in da.dims:
            continue
        extra = [d for d in da.dims if d not in (y, x, t)]
        if not extra:
            out.append(CubeBand(_band_name(str(v)), str(v), {}))
        elif len(extra) == 1:
            d = extra[0]
            labels = ([lab.decode() if isinstance(lab, bytes) else str(lab) for lab in ds[d].values]
                      if d in ds.coords else [f"{v}_{i}" for i in range(da.sizes[d])])
            out += [CubeBand(_band_name(lab), str(v), {d: i}) for i, lab in enumerate(labels)]
    if not out:
        raise BandbridgeError(f"{p}: no variable on the cube's {y}/{x} grid")
    return out


def iso_times(times) -> list[str]:
    """Time steps as ISO strings to the second."""
    return [str(np.datetime_as_string(t, unit="s")) for t in times]


def date_labels(times) -> list[str]:
    """Short labels of time steps: ``YYYY-MM-DD``, or the full second where a day has several."""
    iso = iso_times(times)
    n = Counter(s[:10] for s in iso)
    return [s[:10] if n[s[:10]] == 1 else s for s in iso]


def _is_date(text: str) -> bool:
    try:
        np.datetime64(text[:10])
        return len(text) >= 10
    except ValueError:
        return False


def step_index(ds, ref: CubeRef) -> int | None:
    """Index of the referenced time step (None for a cube without time)."""
    t = time_dim(ds)
    if t is None:
        if ref.date:
            raise BandbridgeError(f"{ref.path}: the cube has no time dimension; drop '@{ref.date}'")
        return None
    iso = iso_times(ds[t].values)
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
    ds = open_cube(ref.path)
    bands = cube_bands(ds, ref.path)
    if ref.date:
        step_index(ds, ref)  # a wrong date fails here; the header itself needs none
    g = open_cube(ref.file(ref.grid)) if ref.grid else ds
    spatial_dims(g, ref.path)
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
