"""The baselines cloud-gap practitioners run from a place's other dates, for ``bandbridge gaps``: the **median
composite** of the clear dates before the scene and **temporal linear interpolation** between the nearest clear
dates before and after it (FORCE, gdalcubes ``fill_time``, GRASS ``t.rast.gapfill``), each date's pixels taken
where its SCL says clear. A series is ``(days (T,), values (T, C, H, W))``, NaN where not clear or not valid.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from bandbridge.inference.place.fill_read import read_layer

MEDIAN_DAYS = 90  # the composite's season before the scene (a judgement, set before any run: a
# season is what composites are made over; never tuned on this protocol)


def day(label: str) -> int:
    """A date label's day number (``2018-06-03…`` → days since 1970)."""
    return int(np.datetime64(label[:10], "D").astype(np.int64))


@lru_cache(maxsize=4)  # one sample's cube, read once per worker process for all its cases
def read_series(items: tuple[str, ...], bands: tuple[int, ...] | None = None, scale: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """The series of cube steps ``items`` (``cube.nc@DATE#scl…``, in time order): day numbers and
    values ``(T, C, H, W)`` (``bands`` of each, times ``scale``), NaN where not clear by its SCL."""
    days, values = [], []
    for item in items:
        lay = read_layer(item, "")
        v = lay.values if bands is None else lay.values[list(bands)]
        clear = lay.clear if lay.clear is not None else np.ones(v.shape[1:], bool)
        values.append(np.where(clear, v * scale, np.nan).astype(np.float32))
        days.append(day(item.split("@", 1)[1]))
    return np.array(days), np.stack(values)


def median_composite(days: np.ndarray, values: np.ndarray, scene: int, since: int) -> np.ndarray:
    """Per pixel the median of the clear dates of the :data:`MEDIAN_DAYS` before ``scene`` (day
    numbers), reaching back to day ``since`` where that is further (the pair's earlier date: every
    pixel it is clear at has a value); ``(C, H, W)``, NaN where no date is clear."""
    take = (days < scene) & (days >= min(scene - MEDIAN_DAYS, since))
    with warnings.catch_warnings():  # a pixel clear on no date: NaN, said by the value itself
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values[take], axis=0)


def nearest(days: np.ndarray, values: np.ndarray, scene: int, after: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel the nearest clear date before (or after) ``scene``: its values ``(C, H, W)`` and
    its day number ``(H, W)`` (NaN where none)."""
    order = np.flatnonzero(days > scene) if after else np.flatnonzero(days < scene)[::-1]
    out = np.full(values.shape[1:], np.nan, np.float32)
    when = np.full(values.shape[2:], np.nan)
    for i in order:  # nearest first: a pixel keeps the first date clear at it
        take = np.isnan(when) & np.isfinite(values[i]).all(0)
        out[:, take] = values[i][:, take]
        when[take] = days[i]
    return out, when


def interpolation(days: np.ndarray, values: np.ndarray, scene: int) -> tuple[np.ndarray, np.ndarray]:
    """Temporal linear interpolation at ``scene`` between each pixel's nearest clear dates before
    and after it; where a side has none, the nearest clear date on the other (``(C, H, W)``), and
    where both sides have one ``(H, W)``."""
    (b, tb), (a, ta) = nearest(days, values, scene, False), nearest(days, values, scene, True)
    both = np.isfinite(tb) & np.isfinite(ta)
    w = np.where(both, (scene - tb) / np.where(both, ta - tb, 1), 0.0)  # the later date's weight
    out = np.where(both, b + w * (a - b), np.where(np.isfinite(tb), b, a)).astype(np.float32)
    return out, both
