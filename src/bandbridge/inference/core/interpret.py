"""How to feed a user's file to one model: one interpretation for every entry point (predict,
compare, timeseries, the web demo), printed as one line and overridden by ``--bands``,
``--band-names``, ``--scaling``.

- Bands: the model's input bands are found by role among those
  :func:`~bandbridge.inference.core.look.look_at` saw; a model trained on bands without roles
  falls back to its own selection.
- Scaling: the model's, or the detected one of the same family.
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

from bandbridge.bands import (FAMILY, FOLDER_BANDS, SCALINGS, Scaling, band_role, canonical_band_name,
                              get_scaling)
from bandbridge.data.cube_ref import is_cube
from bandbridge.data.reader import raster_info, select_bands
from bandbridge.data.seen import unlike, well_formed
from bandbridge.errors import BandbridgeError, BandChoiceError
from bandbridge.inference.core.advice import asked_name, band_file_folder, power_of_ten, seen_from_the_ground
from bandbridge.inference.core.doubts import by_colour, divided_8bit, divided_8bit_phrase
from bandbridge.inference.core.look import Look, look_at
from bandbridge.inference.core.options import InputReading
from bandbridge.policy import FLAT_SPREAD, MAX_SATURATED, SATURATED, percent
from bandbridge.spec import ZOO_ALIASES, ZOO_ROUTES, ModelSpec, read_spec, zoo_models

# reflectance stored as integers: which scale a file holds is a guess from its values (ARCSI
# writes × 1000, ESA × 10000), so a model read the way its pairs were read (adapt --scaling) keeps it
INTEGER_REFLECTANCE = {"reflectance_1000", "reflectance_10000"}


@dataclass(frozen=True)
class Overrides:
    """What the user said about the file (``None``: detect)."""

    bands: tuple[str | int, ...] | None = None  # --bands: names or 0-based indices, model order
    band_names: tuple[str, ...] | None = None  # --band-names: one name per band of the file
    scaling: str | None = None  # --scaling
    vmin: float | None = None  # --vmin/--vmax for --scaling minmax (raw units)
    vmax: float | None = None


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


def _resolve_bands(look: Look, tokens, need: int, model: str) -> list[int]:
    """``--bands`` tokens (0-based indices, band names or roles) → file band indices."""
    n = len(look.names)
    out = []
    for t in tokens:
        s = str(t).strip()
        if s.isdigit():
            if int(s) >= n:
                raise BandChoiceError(f"--bands {s}: {look.path} has {n} bands (0-based indices "
                                      f"0–{n - 1})")
            out.append(int(s))
            continue
        key = canonical_band_name(s)
        hits = [i for i, (a, r) in enumerate(zip(look.names, look.roles)) if key == a or s.lower() == r]
        if not hits:
            raise BandChoiceError(f"--bands {s}: {look.path} has no band of that name; its bands are "
                                  f"{_describe(look)} (or give 0-based indices)")
        out.append(hits[0])
    if len(set(out)) != len(out) and len([r for r in look.roles if r != "alpha"]) > 1:
        # a one-band file may feed its band to every input, when the user says so
        raise BandChoiceError(f"--bands {','.join(map(str, tokens))} selects a band twice; give "
                              "each input band once")
    if len(out) != need:
        raise BandChoiceError(f"--bands selects {len(out)} bands but {model} takes {need}")
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
        # a model fed one band as several inputs in training (gray images as RGB, as rgb2thermal's TNO
        # pairs) knows gray input; colour it never lacked is refused unless --bands says so
        if not any(s.input.bands is not None and len(set(map(str, s.input.bands))) < len(s.input.bands)
                   for s in spec.config.data.sources):
            why = f"{look.path}: one band, but {asked_name(spec)} takes {len(need)} ({', '.join(need)})"
            if folder := band_file_folder(look.path, need):  # one of several band files: their folder
                raise BandChoiceError(f"{why}; {folder}")
            raise BandChoiceError(
                f"{why} and was made from colour images; that band copied into all of them gives a "
                f"{', '.join(spec.target_names)} without the colour it reads — pass --bands "
                f"{','.join([str(g)] * len(need))} to predict from it anyway, or give the colour bands")
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


PHOTO = "photo"  # 8-bit values in a file without a CRS (a route's key, inference/core/route.py)


def suggest_model(spec: ModelSpec | None, family: str, photo: bool = False) -> str | None:
    """A bundled model that reads ``family`` values: with ``spec``, one with its input and output
    roles (else any); for a ``photo`` (8-bit, no CRS) the model a route sends photos to first, as
    ``-m rgb2nir`` would pick."""
    roles = ([band_role(b) for b in spec.input_names], [band_role(b) for b in spec.target_names]) if spec else None
    found = []
    for name, folder in zoo_models().items():
        if name in ZOO_ALIASES or (spec is not None and folder == spec.folder):
            continue
        other = read_spec(folder)
        mine = ([band_role(b) for b in other.input_names], [band_role(b) for b in other.target_names])
        if (roles is None or mine == roles) and FAMILY.get(other.input.scaling) == family:
            found.append(name)
    routed = {b for routes in ZOO_ROUTES.values() for k, b in routes.items() if k == (PHOTO if photo else family)}
    return next((n for n in found if n in routed), found[0] if found else None)


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
        photo = fd == "8-bit imagery" and not look.georeferenced
        other = suggest_model(spec, fd, photo)
        hint = (f"use -m {other} (it reads {fd}{', and photos' if photo and 'photo' in other else ''})" if other else
                f"use a model trained on {fd}") + f", or force --scaling {m}"
        if fm == "8-bit imagery" and fd == "reflectance":
            p99 = float(np.percentile(look.values, 99))
            arcsi = " --scaling reflectance_1000" if look.dark is not None else ""  # × 1000: its CHECK
            hint = (f"use -m {other}{arcsi} (it reads reflectance)" if other else
                    "use a model trained on reflectance") + \
                f", or stretch with --scaling minmax --vmin 0 --vmax {p99:.4g}"
        raise BandbridgeError(f"{look.path}: the values look like {fd} ({look.why}) but {name} "
                              f"reads {fm} (scaling {m}); {hint}")
    if fd == fm and {look.scaling, m} <= INTEGER_REFLECTANCE and not look.tagged:
        return m  # ×1000 or ×10000 the values cannot tell (the file's own scale/offset can)
    return look.scaling if fd == fm else m


def _valid(look: Look, bands: list[int], scaling: Scaling) -> np.ndarray:
    """The picked ``bands`` of the look's values ``(len(bands), n)``, less pixels a zero-is-nodata scaling skips."""
    v = np.atleast_2d(look.values)[bands]
    return v[:, (v != 0).any(0)] if scaling.zero_is_nodata else v


def _check_range(look: Look, bands: list[int], scaling: Scaling, who: str, fix: str) -> None:
    """Refuse when more than ``policy.MAX_SATURATED`` of valid pixels lie above the range of a scaling other than
    the detected one (which fits by construction); ``who`` names the scaling's source, ``fix`` ends the message."""
    if scaling.clip is None or scaling.name == look.scaling:
        return
    v = _valid(look, bands, scaling)
    if v.size == 0:
        return
    frac = float((v > scaling.clip[1]).any(0).mean())
    if frac > MAX_SATURATED:
        raise BandbridgeError(
            f"{look.path}: {frac:.0%} of valid pixels exceed the range of {who} {scaling.name} "
            f"(up to {scaling.clip[1]:g}; at most {percent(MAX_SATURATED)} may) and would saturate; the "
            f"values look like {look.why}: "
            f"{fix}")


def check_declared(path: str | Path, sel, label: str, seen: dict | None = None,
                   model: str = "the model") -> str:
    """Training and evaluation data declare their bands and scaling (a recipe's ``BandSel``): the
    same look at the values as predict's, refusing a declared scaling that would saturate them
    (a scaling that merely differs from the model's is cross-sensor evaluation, and allowed).
    Returns one line of what was seen, with predict's CHECK phrases: a declared scaling the
    values or the file's own scale/offset contradict, doubtful input (:func:`doubtful`) and
    values unlike what ``model``'s training inputs held (``seen``: its ``inputs_seen``)."""
    if is_cube(str(path)):
        return f"{label}: datacube, scaling {sel.scaling} as declared"
    look = look_at(path, None, sel.sensor)
    info = raster_info(path, sel.band_names, sel.sensor, sel.bands)
    bands = select_bands(info.bands, sel.bands, path)
    s = get_scaling(sel.scaling, sel.vmin, sel.vmax)
    _check_range(look, bands, s, f"the data source '{label}''s scaling",
                 f"declare scaling: {look.scaling} for it")
    doubts = [d for d in [contradicted(look, sel.scaling)] if d]
    try:
        doubts += doubtful(look, bands, [info.bands[i] for i in bands])
    except BandbridgeError as e:  # one constant image of a source is named, not a refusal of all
        doubts.append(str(e).split(": ", 1)[-1])
    doubts += unlike_pairs(look, bands, s, seen, model)
    return (f"{label}: {Path(str(path)).name}: {look.why}; read as {sel.scaling} as declared"
            + "".join(f" — CHECK: {d}" for d in doubts))


def source_firsts(pairs: list) -> list:
    """The first pair of each source of ``pairs`` (``data/datasets.LoadedPair``), in the order the sources first
    appear: what a source's reading is judged on."""
    return list(reversed({p.source.name: p for p in reversed(pairs)}.values()))


def reading_lines(pairs: list, seen: dict | None = None, model: str = "the model") -> list[str]:
    """:func:`check_declared`'s line for the first input file of each source of ``pairs``
    (``data/datasets.LoadedPair``), in the order the sources first appear."""
    return [check_declared(p.item.input_path, p.source.input, p.source.name, seen, model)
            for p in source_firsts(pairs)]


def contradicted(look: Look, declared: str) -> str | None:
    """Why the values (or the file's own scale/offset) say another scaling than ``declared``:
    another family, another stated scale, ×1000 against ×10000 or 8-bit against 16-bit; else None."""
    if declared == look.scaling or not look.scaling:
        return None
    pair = {declared, look.scaling}
    fd, fl = FAMILY.get(declared), FAMILY.get(look.scaling)
    if look.tagged and fd in (fl, None):
        why = "the file's own scale/offset says"
    elif (fd and fl and fd != fl) or pair <= INTEGER_REFLECTANCE or pair <= {"uint8", "uint16"}:
        why = "the values look like"
    else:
        return None
    return (f"declared {declared} but {why} {look.scaling} ({look.why.split(' — ')[0]}): check the "
            "source's scaling")


def interpret(path: str | Path, spec: ModelSpec, ov: Overrides = Overrides(),
              look: Look | None = None) -> Interpretation:
    """How to read ``path`` for ``spec`` (see the module docstring); the note says it in a line."""
    name = asked_name(spec)  # a bundle's floor, given a file of another sensor, by its bundle's name
    folder_sensor = spec.input.sensor if (Path(str(path)).is_dir()
                                          and spec.input.sensor in FOLDER_BANDS) else None
    look = by_colour(look or look_at(path, ov.band_names, folder_sensor))  # a BGR file's own order
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
            raise BandChoiceError(
                f"{path}: {name} takes {n} band{'s' * (n > 1)} ({need}) but found no such roles "
                f"among the file's {len(look.names)} bands [{_describe(look)}] ({look.how}); pick "
                "them with --bands (0-based indices, model order) or name every band with "
                "--band-names")
    names = [look.roles[i] if look.roles[i] not in ("other", "alpha") else look.names[i]
             for i in bands]
    if ov.scaling is not None:
        scaling, why = ov.scaling, "--scaling"
        if look.tagged and ov.scaling != look.scaling:  # obeyed, but said: the file states its own
            why += (f"; CHECK: the file's own scale/offset say {look.scaling} "
                    f"({look.why.split(': ')[0]}), --scaling {ov.scaling} overrides them")
        s = get_scaling(ov.scaling, ov.vmin, ov.vmax)
        _check_range(look, bands, s, "--scaling", f"use --scaling {look.scaling}")
    else:
        scaling = _choose_scaling(look, spec, name)
        power_of_ten(look, scaling)  # × 1000 read as × 10000 stops here, not at a black output
        s = get_scaling(scaling, spec.input.vmin, spec.input.vmax)
        why = look.why if scaling == look.scaling else (
            f"as {name} was made with; the values alone look like {look.scaling}: {look.why.split(' — ')[0]}"
            f" — --scaling {look.scaling} if that is what the file holds")
        _check_range(look, bands, s, f"{name}'s scaling",
                     f"use --scaling {look.scaling} or a model for such values")
    vmin, vmax = (ov.vmin, ov.vmax) if ov.scaling is not None else (spec.input.vmin, spec.input.vmax)
    try:
        doubts = doubtful(look, bands, names)
    except BandbridgeError:  # a constant image: if it is also too small for the model, that says more
        info = raster_info(path, sensor=folder_sensor)
        spec.check_size(path, info.height, info.width, None)
        raise
    if ov.scaling is None:  # a file unlike the model's own pairs (the user's --scaling settles it)
        doubts += unlike_pairs(look, bands, s, spec.seen, name)
        if divided_8bit(look, bands):
            doubts.append(divided_8bit_phrase(path, suggest_model(spec, "8-bit imagery", not look.georeferenced)))
    doubts += seen_from_the_ground(spec, look, name)
    picked = ", ".join(dict.fromkeys(f"{i}={b}" for i, b in zip(bands, names)))
    note = (f"{Path(str(path)).name}: band{'s' * (len(set(bands)) > 1)} {picked} ({how}"
            f"{'; ' + extra if extra else ''}), "
            f"scaling {s.name} ({why})" + "".join(f" — CHECK: {d}" for d in doubts))
    return Interpretation(bands, names, scaling, vmin, vmax, folder_sensor, note)


def unlike_pairs(look: Look, bands: list[int], s: Scaling, seen: dict | None, model: str) -> list[str]:
    """The file against the values ``model``'s training inputs held (``seen``: its
    ``inputs_seen``): a CHECK phrase when, read with ``s``, they span another scale or range
    (naming both and the ``--scaling`` that settles it), or were read by a guess from a stored
    type it never saw; none for a bundle that records nothing."""
    if not well_formed(seen, len(bands)) or look.values.size == 0:
        return []
    clause = unlike(_valid(look, bands, s), s, seen, model, look.dtype)
    types = seen.get("dtypes") or []
    if clause is None and types and look.dtype not in types and not look.tagged:
        # values in range, but read by a guess from a type the model never saw
        clause = (f"stored as {look.dtype} where {model}'s pairs were {'/'.join(types)}; read "
                  f"as {s.name} by a guess from the values — --scaling names what the file holds")
    return [clause] if clause else []


def doubtful(look: Look, bands: list[int], names: list[str]) -> list[str]:
    """What makes the picked ``bands`` of ``look`` doubtful input, one phrase each: saturation
    (``policy.SATURATED`` or more of a band's pixels at its integer type's ceiling: clipped values, as in
    Sentinel-2 true-colour TCI images) and near-constant bands (spread below ``policy.FLAT_SPREAD`` of the
    type's range). Every band constant is refused: there is nothing to translate."""
    picked = list(dict.fromkeys(bands))  # each band once, in model order
    v = np.atleast_2d(look.values)[picked]
    kind = np.dtype(look.dtype).kind
    top = float(np.iinfo(look.dtype).max) if kind in "ui" else None
    # the value range a spread is measured against: the integer type's, else the scaling's
    span = (top - float(np.iinfo(look.dtype).min)) if top is not None else \
        {"reflectance": 1.0, "sar_db": 50.0}.get(look.scaling)
    label = dict(zip(bands, names))
    if not v.size:
        return []
    if all(float(b.min()) == float(b.max()) for b in v):
        raise BandbridgeError(f"{look.path}: every pixel holds the same value in each input band "
                              f"({', '.join(f'{x:g}' for x in v[:, 0])}): there is nothing for a model "
                              "to translate; check the file (an empty or fill-value tile?)")
    out = []
    if top is not None and top > 1:
        shares = {i: float((b >= top).mean()) for i, b in zip(picked, v)}
        hot = {i: f for i, f in shares.items() if f >= SATURATED}
        if hot:
            out.append(", ".join(f"{f:.0%} of band {i} ({label[i]})" for i, f in hot.items())
                       + f" at {top:.0f}, the {look.dtype} ceiling: clipped (saturated) input, so "
                       "the synthetic band is unreliable there (a display product such as a "
                       "true-colour TCI? use the sensor's reflectance bands)")
    p1, p99 = np.percentile(v, (1, 99), axis=-1)
    flat = [i for i, a, b in zip(picked, p1, p99) if span and (b - a) < FLAT_SPREAD * span]
    if flat:
        out.append(f"band{'s' * (len(flat) > 1)} {', '.join(f'{i} ({label[i]})' for i in flat)} "
                   f"nearly constant (the 1st–99th percentiles within {FLAT_SPREAD:.1%} of the value range): "
                   "little for a model to read")
    return out


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
