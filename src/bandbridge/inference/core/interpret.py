"""Reading a user's file: one interpretation for every entry point (predict, compare, timeseries,
the web demo), printed as one line and overridden by ``--bands``, ``--band-names``, ``--scaling``.

- Band roles: ``--band-names``; else the file's band descriptions (or band-file names); else its
  colour interpretation (red/green/blue, gray, alpha; a palette is expanded to RGB by the reader);
  else by count: 1 band gray, 3 bands R,G,B, 4 bands R,G,B,NIR (NAIP order). The model's input
  bands are found by role; a model trained on bands without roles falls back to its own selection.
- Scaling: from the data type and a decimated look at the values (:func:`detect_scaling`).
- Refusal: when the values cannot be what the model was trained on (8-bit imagery into a
  reflectance model or the reverse; more than ``MAX_SATURATED`` of valid pixels beyond the
  scaling's range), naming the ``--scaling`` or model that fits.

A model's training-time band names are a fact about its training data, not a requirement on the
user's file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bandbridge.bands import (FAMILY, FOLDER_BANDS, ROLES_BY_COUNT, SCALINGS, Scaling, band_role,
                              canonical_band_name, get_scaling)
from bandbridge.data.reader import raster_info, read_decimated, select_bands
from bandbridge.errors import BandbridgeError
from bandbridge.radiometry import STATS_MAX_SIDE
from bandbridge.inference.core.options import InputReading
from bandbridge.spec import ZOO_ALIASES, ModelSpec, read_spec, zoo_models

MAX_SATURATED = 0.01  # fraction of valid pixels allowed beyond the scaling's range
LOOK_SIDE = STATS_MAX_SIDE  # pixels a side: the image statistics' read, one decoding for both
_RAW = Scaling("raw", 0.0, 1.0, units="stored values")
@dataclass(frozen=True)
class Overrides:
    """What the user said about the file (``None``: detect)."""

    bands: tuple[str | int, ...] | None = None  # --bands: names or 0-based indices, model order
    band_names: tuple[str, ...] | None = None  # --band-names: one name per band of the file
    scaling: str | None = None  # --scaling
    vmin: float | None = None  # --vmin/--vmax for --scaling minmax (raw units)
    vmax: float | None = None


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

    @property
    def family(self) -> str:
        return FAMILY.get(self.scaling, "")


@dataclass
class Interpretation:
    """How to feed one file to one model."""

    bands: list[int]  # 0-based file band per model input band
    names: list[str]  # their names (roles where known): output descriptions, index roles
    scaling: str
    vmin: float | None
    vmax: float | None
    sensor: str | None  # band-folder naming (landsat8 …) kept for reading
    note: str  # one line: what was assumed

    def apply(self, opts):
        """``PredictOptions`` that read the file this way."""
        return replace(opts, read=InputReading(bands=list(self.bands), names=list(self.names),
                                               scaling=self.scaling, vmin=self.vmin, vmax=self.vmax,
                                               sensor=self.sensor))


def _roles(info, n: int, values: np.ndarray | None) -> tuple[list[str], str]:
    """(role per band, how it was decided) from descriptions, colour interpretation or count."""
    by_name = [band_role(b) for b in info.bands]
    described = any(info.descriptions)
    if any(r != "other" for r in by_name) and (described or not info.colorinterp):
        unread = [d for d, r in zip(info.descriptions, by_name) if d and r == "other"]
        how = "band descriptions" if described else "band names"
        return by_name, how + (f"; not understood: {_quoted(unread)}" if unread else "")
    roles, how = _roles_without_names(info, n, values)
    if described:  # descriptions there, none understood: say which, never "without descriptions"
        how = (f"{how.replace(' without descriptions', '')}; the band descriptions "
               f"{_quoted([d or '' for d in info.descriptions])} name no band bandbridge knows")
    return roles, how


def _quoted(names) -> str:
    return ", ".join(f"'{d}'" for d in names)


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
_BY_TAGS = {(1e-4, 0.0): "reflectance_10000", (1e-3, 0.0): "reflectance_1000",
            (2.75e-5, -0.2): "landsat_c2", (2e-5, -0.1): "landsat_l1_toa"}
DARK_10000 = 1000  # below this 99th percentile in every band, × 10000 reflectance is implausible


def scaling_from_tags(scales, offsets) -> str | None:
    """The scaling the file's own GDAL scale/offset state, when they are one of :data:`_BY_TAGS`
    (the same on every band); None when unset (1, 0) or not one we know."""
    pairs = {(float(s), float(o)) for s, o in zip(scales, offsets)}
    if len(pairs) != 1 or pairs == {(1.0, 0.0)}:
        return None
    (s, o), = pairs
    return next((name for (ts, to), name in _BY_TAGS.items()
                 if abs(s - ts) <= 1e-6 * ts and abs(o - to) <= 1e-9), None)


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
            bright = float(np.percentile(np.atleast_2d(v), 99, axis=-1).max())
            if bright < DARK_10000:  # ARCSI writes × 1000: read as × 10000 it is a black scene
                why += (f" — CHECK: no band's 99th percentile reaches 0.1 reflectance so (brightest "
                        f"{bright:.0f}); if the product is reflectance × 1000 (ARCSI), pass "
                        "--scaling reflectance_1000")
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
    cols = []
    for i in range(n):
        view = read_decimated(path, _RAW, [i], max_side=LOOK_SIDE, sensor=sensor)
        cols.append(view.data[0, view.mask])
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
    tagged = scaling_from_tags([info.scales[i] for i in data], [info.offsets[i] for i in data]) \
        if len(info.scales) == n else None  # a palette's one index band became three
    if tagged:
        scaling, why = tagged, (f"{info.dtype} with the file's scale {info.scales[data[0]]:g} and "
                                f"offset {info.offsets[data[0]]:g}: {tagged}")
    else:
        scaling, why = detect_scaling(info.dtype, values[data], path)
    return Look(str(path), names, roles, how, info.dtype, scaling, why, values,
                info.crs is not None, tagged is not None)


def _resolve_bands(look: Look, tokens, need: int, model: str) -> list[int]:
    """``--bands`` tokens (0-based indices, band names or roles) → file band indices."""
    n = len(look.names)
    out = []
    for t in tokens:
        s = str(t).strip()
        if s.isdigit():
            if int(s) >= n:
                raise BandbridgeError(f"--bands {s}: {look.path} has {n} bands (0-based indices "
                                      f"0–{n - 1})")
            out.append(int(s))
            continue
        key = canonical_band_name(s)
        hits = [i for i, (a, r) in enumerate(zip(look.names, look.roles)) if key == a or s.lower() == r]
        if not hits:
            raise BandbridgeError(f"--bands {s}: {look.path} has no band of that name; its bands are "
                                  f"{_describe(look)} (or give 0-based indices)")
        out.append(hits[0])
    if len(set(out)) != len(out):
        raise BandbridgeError(f"--bands {','.join(map(str, tokens))} selects a band twice; give "
                              "each input band once")
    if len(out) != need:
        raise BandbridgeError(f"--bands selects {len(out)} bands but {model} takes {need}")
    return out


def _describe(look: Look) -> str:
    return ", ".join(f"{i}={a}" + (f" ({r})" if r not in ("other", a.lower()) else "")
                     for i, (a, r) in enumerate(zip(look.names, look.roles)))


def _by_role(look: Look, spec: ModelSpec) -> tuple[list[int] | None, str]:
    need = [band_role(b) for b in spec.input_names]
    if "other" in need:
        return None, ""
    if [r for r in look.roles if r != "alpha"] == ["gray"] and set(need) <= {"red", "green", "blue"}:
        g = look.roles.index("gray")
        return [g] * len(need), "the gray band as " + ", ".join(need)
    if all(r in look.roles for r in need):
        return [look.roles.index(r) for r in need], ""
    return None, ""


def _model_selection(path, spec: ModelSpec) -> list[int] | None:
    """The model's own training-time selection (names via its sensor), if this file has it."""
    sel = spec.input
    try:
        info = raster_info(path, sel.band_names, sel.sensor, sel.bands)
        return select_bands(info.bands, sel.bands, path)
    except BandbridgeError:
        return None


def suggest_model(spec: ModelSpec, family: str) -> str | None:
    """A bundled model with this model's input and output roles that reads ``family`` values."""
    roles = ([band_role(b) for b in spec.input_names], [band_role(b) for b in spec.target_names])
    for name, folder in zoo_models().items():
        if name in ZOO_ALIASES or folder == spec.folder:
            continue
        other = read_spec(folder)
        if ((([band_role(b) for b in other.input_names], [band_role(b) for b in other.target_names])
             == roles) and FAMILY.get(other.input.scaling) == family):
            return name
    return None


def _choose_scaling(look: Look, spec: ModelSpec, name: str) -> str:
    """The model's scaling, or the detected one of the same family (uint8 ↔ uint16 imagery,
    reflectance × 10000 ↔ reflectance); refuses values of another family."""
    m = spec.input.scaling
    fm, fd = FAMILY.get(m), look.family
    if look.tagged and (fd == fm or fm is None or not fd):
        return look.scaling  # the file states its own scale: that, not the model's or a guess
    if fm is None:  # landsat, SAR DN, minmax: detection cannot tell; the saturation check remains
        return m
    if fd and fd != fm:
        other = suggest_model(spec, fd)
        hint = (f"use -m {other} (it reads {fd})" if other else
                f"use a model trained on {fd}") + f", or force --scaling {m}"
        if fm == "8-bit imagery" and fd == "reflectance":
            p99 = float(np.percentile(look.values, 99))
            hint = (f"use -m {other} (it reads reflectance)" if other else
                    "use a model trained on reflectance") + \
                f", or stretch with --scaling minmax --vmin 0 --vmax {p99:.4g}"
        raise BandbridgeError(f"{look.path}: the values look like {fd} ({look.why}) but {name} "
                              f"reads {fm} (scaling {m}); {hint}")
    return look.scaling if fd == fm else m


def _check_range(look: Look, bands: list[int], scaling: Scaling, who: str, fix: str) -> None:
    """Refuse when more than MAX_SATURATED of valid pixels lie above the range of a scaling other
    than the detected one (the detected one fits by construction); ``who`` names the scaling's
    source (a flag, a model, a recipe), ``fix`` ends the message."""
    if scaling.clip is None or scaling.name == look.scaling:
        return
    v = look.values[bands]
    if scaling.zero_is_nodata:
        v = v[:, (v != 0).any(0)]
    if v.size == 0:
        return
    frac = float((v > scaling.clip[1]).any(0).mean())
    if frac > MAX_SATURATED:
        raise BandbridgeError(
            f"{look.path}: {frac:.0%} of valid pixels exceed the range of {who} {scaling.name} "
            f"(up to {scaling.clip[1]:g}) and would saturate; the values look like {look.why}: "
            f"{fix}")


def check_declared(path: str | Path, sel, label: str) -> str:
    """Evaluation data declares its bands and scaling (a recipe's ``BandSel``): the same look at
    the values as predict's, refusing a declared scaling that would saturate them (a scaling
    that merely differs from the model's is cross-sensor evaluation, and allowed). Returns one
    line of what was seen."""
    from bandbridge.data import cube
    if cube.is_cube(str(path)):
        return f"{label}: datacube, scaling {sel.scaling} as declared"
    look = look_at(path, None, sel.sensor)
    bands = select_bands(raster_info(path, sel.band_names, sel.sensor, sel.bands).bands, sel.bands, path)
    _check_range(look, bands, get_scaling(sel.scaling, sel.vmin, sel.vmax),
                 f"the data source '{label}''s scaling", f"declare scaling: {look.scaling} for it")
    return f"{label}: {Path(str(path)).name}: {look.why}; read as {sel.scaling} as declared"


def interpret(path: str | Path, spec: ModelSpec, ov: Overrides = Overrides(),
              look: Look | None = None) -> Interpretation:
    """How to read ``path`` for ``spec`` (see the module docstring); the note says it in a line."""
    name = spec.name
    folder_sensor = spec.input.sensor if (Path(str(path)).is_dir()
                                          and spec.input.sensor in FOLDER_BANDS) else None
    look = look or look_at(path, ov.band_names, folder_sensor)
    n = spec.in_channels
    extra = ""
    if ov.bands is not None:
        bands, how = _resolve_bands(look, ov.bands, n, name), "--bands"
    else:
        bands, extra = _by_role(look, spec)
        how = look.how
        if bands is None:
            bands, how = _model_selection(path, spec), f"{name}'s own band selection"
        if bands is None or len(bands) != n:
            need = ", ".join(spec.input_names)
            raise BandbridgeError(
                f"{path}: {name} takes {n} band{'s' * (n > 1)} ({need}) but found no such roles "
                f"among the file's {len(look.names)} bands [{_describe(look)}] ({look.how}); pick "
                "them with --bands (0-based indices, model order) or name every band with "
                "--band-names")
    names = [look.roles[i] if look.roles[i] not in ("other", "alpha") else look.names[i]
             for i in bands]
    if ov.scaling is not None:
        scaling, why = ov.scaling, "--scaling"
        s = get_scaling(ov.scaling, ov.vmin, ov.vmax)
        _check_range(look, bands, s, "--scaling", f"use --scaling {look.scaling}")
    else:
        scaling = _choose_scaling(look, spec, name)
        s = get_scaling(scaling, spec.input.vmin, spec.input.vmax)
        why = look.why
        _check_range(look, bands, s, f"{name}'s scaling",
                     f"use --scaling {look.scaling} or a model for such values")
    vmin, vmax = (ov.vmin, ov.vmax) if ov.scaling is not None else (spec.input.vmin, spec.input.vmax)
    picked = ", ".join(dict.fromkeys(f"{i}={b}" for i, b in zip(bands, names)))
    note = (f"{Path(str(path)).name}: band{'s' * (len(set(bands)) > 1)} {picked} ({how}"
            f"{'; ' + extra if extra else ''}), "
            f"scaling {s.name} ({why})")
    return Interpretation(bands, names, scaling, vmin, vmax, folder_sensor, note)


def check_scaling_flags(scaling: str | None, vmin: float | None, vmax: float | None) -> None:
    """``--scaling``/``--vmin``/``--vmax`` that name a scaling this tool has, with its range."""
    if scaling is None:
        if vmin is not None or vmax is not None:
            raise BandbridgeError("--vmin/--vmax go with --scaling minmax (or sar_db); add "
                                  "--scaling")
        return
    if scaling not in SCALINGS and scaling != "minmax":
        raise BandbridgeError(f"--scaling {scaling}: unknown; choose one of "
                              f"{', '.join(sorted([*SCALINGS, 'minmax']))}")
    if scaling == "minmax" and (vmin is None or vmax is None):
        raise BandbridgeError("--scaling minmax needs --vmin and --vmax (the raw values that map "
                              "to 0 and 1)")
    try:
        get_scaling(scaling, vmin, vmax)
    except BandbridgeError as e:
        raise BandbridgeError(f"--scaling {scaling} --vmin {vmin} --vmax {vmax}: {e}") from None
