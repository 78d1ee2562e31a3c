"""What a user's file holds, before any model is chosen: one look at its header and one
decimated read, for every entry point (predict, compare, timeseries, the web demo).

- Band roles: ``--band-names``; else the file's band descriptions (or band-file names); else its
  colour interpretation (red/green/blue, gray, alpha; a palette is expanded to RGB by the reader);
  else by count: 1 band gray, 3 bands R,G,B, 4 bands R,G,B,NIR (NAIP order).
- Scaling: the file's own GDAL scale/offset (:func:`scaling_from_tags`), else from the data type
  and a decimated look at the values (:func:`detect_scaling`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bandbridge.bands import FAMILY, ROLES_BY_COUNT, Scaling, band_role, canonical_band_name
from bandbridge.data.reader import raster_info, read_decimated
from bandbridge.errors import BandbridgeError
from bandbridge.policy import DARK_10000
from bandbridge.radiometry import STATS_MAX_SIDE

LOOK_SIDE = STATS_MAX_SIDE  # pixels a side: the image statistics' read, one decoding for both
_RAW = Scaling("raw", 0.0, 1.0, units="stored values")


@dataclass
class Look:
    """What a file holds, before any model is chosen."""

    path: str
    names: list[str]  # one per band of the file
    roles: list[str]  # one per band ('alpha' for transparency, 'other' when unknown)
    how: str  # where the roles came from
    dtype: str
    scaling: str  # the scaling the values look like
    why: str  # e.g. "uint16, 99th percentile 3012: reflectance × 10000"
    values: np.ndarray  # (bands, n) raw values of the decimated look's valid pixels
    georeferenced: bool = True  # the file has a coordinate system (a photo has none)
    tagged: bool = False  # the scaling is the file's own GDAL scale/offset, not a guess
    dark: float | None = None  # read as reflectance × 10000 by a guess, the brightest band's 99th
    # percentile where it is a black scene (:func:`dark_as_10000`): × 1000 more likely

    @property
    def family(self) -> str:
        return FAMILY.get(self.scaling, "")


def _roles(info, n: int, values: np.ndarray | None) -> tuple[list[str], str]:
    """(role per band, how it was decided) from descriptions, colour interpretation or count."""
    by_name = [band_role(b) for b in info.bands]
    described = any(info.descriptions)
    if any(r != "other" for r in by_name) and (described or not info.colorinterp):
        unread = ", ".join(f"'{d}'" for d, r in zip(info.descriptions, by_name) if d and r == "other")
        how = "band descriptions" if described else "band names"
        return by_name, how + (f"; not understood: {unread}" if unread else "")
    roles, how = _roles_without_names(info, n, values)
    if described:  # descriptions there, none understood: say which, never "without descriptions"
        said = ", ".join(f"'{d or ''}'" for d in info.descriptions)
        how = f"{how.replace(' without descriptions', '')}; the band descriptions {said} name no band bandbridge knows"
    return roles, how


def _roles_without_names(info, n: int, values: np.ndarray | None) -> tuple[list[str], str]:
    """Roles from the colour interpretation, else by count."""
    ci = list(info.colorinterp)
    if ci[:3] == ["red", "green", "blue"]:
        roles = ["red", "green", "blue"] + ["other"] * (n - 3)
        if n == 4:  # RGBA, or NAIP's R,G,B,NIR tagged alpha by some writers: an alpha holds 0/max
            binary = values is not None and np.isin(values[3], (0, values[3].max())).all()
            alpha = ci[3] == "alpha" and (info.driver != "GTiff" or binary)
            roles[3] = "alpha" if alpha else "nir"
        return roles, "colour interpretation"
    if n == 2 and ci == ["gray", "alpha"]:
        return ["gray", "alpha"], "colour interpretation"
    if n in ROLES_BY_COUNT:
        return list(ROLES_BY_COUNT[n]), f"by count: {n} band{'s' * (n > 1)} without descriptions"
    return ["other"] * n, f"{n} bands without descriptions"


# GDAL scale/offset a product writes (physical = stored × scale + offset) → the scaling it means.
_BY_TAGS = {(1e-4, 0.0): "reflectance_10000", (1e-4, -0.1): "reflectance_10000_offset",
            (1e-3, 0.0): "reflectance_1000",
            (2.75e-5, -0.2): "landsat_c2", (2e-5, -0.1): "landsat_l1_toa"}


def stated_tags(scales, offsets) -> set[tuple[float, float]]:
    """The ``(scale, offset)`` pairs a file's bands state, without the unset ``(1, 0)``."""
    return {(float(s), float(o)) for s, o in zip(scales, offsets)} - {(1.0, 0.0)}


def scaling_from_tags(scales, offsets) -> str | None:
    """The scaling the file's own GDAL scale/offset state, when they are one of :data:`_BY_TAGS`
    (the same on every band); None when unset (1, 0) or not one we know."""
    pairs = {(float(s), float(o)) for s, o in zip(scales, offsets)}
    if len(pairs) != 1 or not stated_tags(scales, offsets):
        return None
    (s, o), = pairs
    return next((name for (ts, to), name in _BY_TAGS.items()
                 if abs(s - ts) <= 1e-6 * ts and abs(o - to) <= 1e-9), None)


def dark_as_10000(dtype: str, v: np.ndarray) -> float | None:
    """The brightest band's 99th percentile of integer values ``v`` (``(bands, n)``) where it is
    below :data:`DARK_10000` — read as reflectance × 10000 a black scene, as ARCSI's × 1000 is —
    else None."""
    if np.dtype(dtype).kind not in "ui" or not v.size:
        return None
    bright = float(np.percentile(np.atleast_2d(v), 99, axis=-1).max())
    return bright if bright < DARK_10000 else None


def too_dark(bright: float) -> str:
    """Why values whose brightest band reaches ``bright`` (:func:`dark_as_10000`) are doubtful."""
    return (f"read as reflectance × 10000, no band's 99th percentile reaches 0.1 (the brightest, "
            f"{bright:.0f}, is {bright / 1e4:.3g})")


def detect_scaling(dtype: str, v: np.ndarray, path) -> tuple[str, str]:
    """``(scaling, why)`` the raw values ``v`` (``(bands, n)`` valid pixels) look like."""
    kind = np.dtype(dtype).kind
    if dtype in ("uint8", "int8"):
        return "uint8", f"{dtype} values"
    p1, p99, top = (float(x) for x in np.percentile(v, (1, 99, 100)))
    if kind in "ui" and top <= 1:  # 0/1 only: a mask, or a cloud-masked date, not imagery
        raise BandbridgeError(f"{path}: its values are only 0 and 1 (a mask or an empty, masked "
                              "date; not imagery to translate); choose another file or date")
    if kind in "ui":
        if top <= 255 and p1 >= 0:
            return "uint8", f"{dtype} holding 8-bit values (max {top:.0f})"
        if p99 <= 15000 and p1 >= 0:
            why = f"{dtype}, 99th percentile {p99:.0f}: reflectance × 10000"
            if (bright := dark_as_10000(dtype, v)) is not None:
                why += (f" — CHECK: {too_dark(bright)}; if the product is reflectance × 1000 (ARCSI), "
                        "pass --scaling reflectance_1000")
            return "reflectance_10000", why
        if top <= 65535 and p1 >= 0:
            return "uint16", f"{dtype}, 99th percentile {p99:.0f}: 16-bit imagery"
    elif p1 >= -0.5 and p99 <= 1.5:
        return "reflectance", f"{dtype}, 99th percentile {p99:.3f}: reflectance"
    elif p1 < 0 and -60 <= p1 and p99 <= 15:
        return "sar_db", f"{dtype}, 1st–99th percentile {p1:.1f}…{p99:.1f}: backscatter in dB"
    elif p1 >= 0 and p99 <= 255.5:
        return "uint8", f"{dtype}, 99th percentile {p99:.1f}: 8-bit values"
    elif p1 >= 0 and p99 <= 15000:
        return "reflectance_10000", f"{dtype}, 99th percentile {p99:.0f}: reflectance × 10000"
    raise BandbridgeError(f"{path}: {dtype} values from {p1:g} to {p99:g} (1st–99th percentile) are "
                          "neither 8/16-bit imagery, reflectance nor dB; pass --scaling minmax "
                          f"--vmin {p1:g} --vmax {p99:g} (or another --scaling)")


def _values(path, n: int, sensor: str | None) -> np.ndarray:
    """``(n, k)`` raw values of valid pixels from one decimated read. A band folder mixes
    resolutions: its bands are read one by one and cut to a common length (no longer pixel-aligned,
    which percentiles do not need)."""
    if not Path(str(path)).is_dir():
        view = read_decimated(path, _RAW, max_side=LOOK_SIDE, sensor=sensor)
        return view.data[:, view.mask]
    views = [read_decimated(path, _RAW, [i], max_side=LOOK_SIDE, sensor=sensor) for i in range(n)]
    cols = [v.data[0, v.mask] for v in views]
    k = min(len(c) for c in cols)
    return np.stack([c[:k] for c in cols])


def look_at(path: str | Path, band_names: tuple[str, ...] | None = None,
            sensor: str | None = None) -> Look:
    """Band roles and the kind of values of ``path`` from its header and one decimated read."""
    info = raster_info(path, sensor=sensor)
    n = len(info.bands)
    if band_names is not None and len(band_names) != n:
        raise BandbridgeError(f"--band-names lists {len(band_names)} names but {path} has {n} "
                              f"bands; give one name per band")
    values = _values(path, n, sensor)
    if values.size == 0:
        raise BandbridgeError(f"{path}: no valid pixels (every pixel is nodata or NaN); there is "
                              "nothing to predict")
    if band_names is not None:
        names = [canonical_band_name(b) for b in band_names]
        roles, how = [band_role(b) for b in names], "--band-names"
    else:
        names = list(info.bands)
        roles, how = _roles(info, n, values)
    data = [i for i, r in enumerate(roles) if r != "alpha"] or list(range(n))
    scales, offsets = ([info.scales[i] for i in data], [info.offsets[i] for i in data]) \
        if len(info.scales) == n else ([], [])  # a palette's one index band became three
    tagged = scaling_from_tags(scales, offsets)
    if tagged:
        scaling, why = tagged, (f"{info.dtype} with the file's scale {info.scales[data[0]]:g} and "
                                f"offset {info.offsets[data[0]]:g}: {tagged}")
    else:
        scaling, why = detect_scaling(info.dtype, values[data], path)
        if stated := stated_tags(scales, offsets):  # tags that say something, but no scaling we know: said
            sc, of = sorted(stated)[0]
            why += (f" — CHECK: the file's scale/offset tags ({sc:g}, {of:g}) are not a pair bandbridge "
                    "knows, so they are not applied; state --scaling if the values need them")
    dark = dark_as_10000(info.dtype, values[data]) if not tagged and scaling == "reflectance_10000" else None
    return Look(str(path), names, roles, how, info.dtype, scaling, why, values,
                info.crs is not None, tagged is not None, dark)

