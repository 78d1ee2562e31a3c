"""One name, several models: a bundled name like ``rgb2nir`` picks the model that fits the
kind of RGB a user holds — 8-bit aerial imagery (NAIP, true-colour products), an ordinary photo
(8-bit without a georeference: a phone or camera JPEG) or reflectance (Sentinel-2 L1C/L2A,
Landsat) — from what :func:`~bandbridge.inference.core.look.look_at` saw and whether the file
is georeferenced; for reflectance, the floor of the processing level the file's name states
(``spec.LEVEL_FLOORS``). Any model whose bundle holds its zero-shot floor (``spec.FLOOR_DIR``)
gives a file of another sensor — a radiometric depth none of its training pairs had — to that
floor wholly (:func:`floor_instead`)."""

from __future__ import annotations

from pathlib import Path

from bandbridge.errors import BandbridgeError
from bandbridge.bands import FAMILY, LEVEL_NAMES, level_in_name
from bandbridge.inference.core.interpret import PHOTO, Overrides, suggest_model
from bandbridge.inference.core.look import Look, look_at
from bandbridge.spec import (BUNDLE_META, FLOOR_DIR, LEVEL_FLOORS, ZOO_ROUTES, read_spec,
                             resolve_model_folder, zoo_models)


def route_model(model: str, src: str | Path, ov: Overrides = Overrides(),
                look: Look | None = None) -> tuple[Path, str | None]:
    """``(model folder, note)``: a routed name picks its model for ``src`` by the family of its
    values (or of ``--scaling``); any other model resolves as usual (no note). Either gives a
    file of another sensor to its floor (:func:`floor_instead`)."""
    folder, note = _routed(model, src, ov, look)
    if (folder / FLOOR_DIR / BUNDLE_META).exists():  # only then is the file's type asked
        look = look or look_at(src, ov.band_names)
        if (sub := floor_instead(folder, look.dtype)) is not None:
            return sub[0], "; ".join(n for n in (note, sub[1]) if n)
    return folder, note


def floor_instead(folder: str | Path, dtype: str) -> tuple[Path, str] | None:
    """``(the floor's folder, note)`` where ``folder``'s bundle holds its zero-shot floor
    (``FLOOR_DIR``) and a file stored as ``dtype`` comes from another sensor than its training
    pairs (``data/seen.another_sensor``); else None. The floor is what was chosen to carry to
    sources the model never saw; the model's own output is kept for its own kind of file."""
    from bandbridge.data.seen import another_sensor
    sub = Path(folder) / FLOOR_DIR
    if not (sub / BUNDLE_META).exists():
        return None
    spec = read_spec(folder)  # its floor checked there (spec.check_floor)
    why = another_sensor(spec.seen, dtype, spec.name)
    if why is None:
        return None
    kind = (spec.config.model.generator.floor or {}).get("kind", "linear")
    return sub, (f"{spec.name} → its zero-shot floor, the {kind} linear map ({why}; the floor is "
                 "chosen for sources the model never saw)")


def _routed(model: str, src: str | Path, ov: Overrides, look: Look | None) -> tuple[Path, str | None]:
    """:func:`route_model` before the floor: the model a routed name picks, or the one named."""
    if str(model) not in ZOO_ROUTES or Path(str(model)).exists():  # a path, or a name with no route
        return resolve_model_folder(model), None
    look = look or look_at(src, ov.band_names)
    family = FAMILY.get(ov.scaling, "") if ov.scaling else look.family  # of the values, or of --scaling
    family = PHOTO if family == "8-bit imagery" and not look.georeferenced else family  # no CRS: a photo
    routes = ZOO_ROUTES[str(model)]
    if family == PHOTO and routes.get(PHOTO) not in zoo_models():  # not installed: aerial 8-bit
        family = "8-bit imagery"
    if family not in routes:
        other = suggest_model(None, family) if family else None  # a model that reads these values
        raise BandbridgeError(f"{src}: {model} picks a model for {' or '.join(routes)}, but the "
                              f"values look like {family or look.why}; "
                              + (f"-m {other} reads {family}, or " if other else "")
                              + f"name a model with -m ({', '.join(routes.values())}) and set --scaling")
    name = routes[family]
    why = "8-bit values, no georeference: a photo" if family == PHOTO else family
    level = level_in_name(Path(src).name)  # the processing level the file's name states, else its folder's
    whose = "the file's" if level else "its folder's"  # (a product's band folder)
    level = level or (level_in_name(Path(src).parent.name) if Path(src).parent.name else None)
    if level and LEVEL_FLOORS.get(name, {}).get(level[0]) in zoo_models():
        name = LEVEL_FLOORS[name][level[0]]
        why += f", {LEVEL_NAMES[level[0]]}: {whose} name says '{level[1]}'"
    return resolve_model_folder(name), f"{model} → {name} (for {why})"
