"""One name, several models: a bundled name like ``rgb2nir`` picks the model that fits the
kind of RGB a user holds — 8-bit aerial imagery (NAIP, true-colour products), an ordinary photo
(8-bit without a georeference: a phone or camera JPEG) or reflectance (Sentinel-2 L1C/L2A,
Landsat) — from what :func:`~bandbridge.inference.core.look.look_at` saw and whether the file
is georeferenced; for reflectance, the floor of the processing level the file's name states
(``spec.LEVEL_FLOORS``)."""

from __future__ import annotations

from pathlib import Path

from bandbridge.errors import BandbridgeError
from bandbridge.bands import FAMILY, LEVEL_NAMES, level_in_name
from bandbridge.inference.core.interpret import Overrides
from bandbridge.inference.core.look import Look, look_at
from bandbridge.spec import LEVEL_FLOORS, ZOO_ROUTES, resolve_model_folder, zoo_models

PHOTO = "photo"  # 8-bit values in a file without a CRS


def family_of(look: Look, scaling: str | None) -> str:
    """The family a route is chosen by: that of the values (or of ``--scaling``), and for 8-bit
    values without a coordinate system, ``photo``."""
    family = FAMILY.get(scaling, "") if scaling else look.family
    return PHOTO if family == "8-bit imagery" and not look.georeferenced else family


def is_routed(model: str) -> bool:
    return str(model) in ZOO_ROUTES and not Path(str(model)).exists()


def route_model(model: str, src: str | Path, ov: Overrides = Overrides(),
                look: Look | None = None) -> tuple[Path, str | None]:
    """``(model folder, note)``: a routed name picks its model for ``src`` by the family of its
    values (or of ``--scaling``); any other model resolves as usual (no note)."""
    if not is_routed(model):
        return resolve_model_folder(model), None
    look = look or look_at(src, ov.band_names)
    family = family_of(look, ov.scaling)
    routes = ZOO_ROUTES[str(model)]
    if family == PHOTO and routes.get(PHOTO) not in zoo_models():  # not installed: aerial 8-bit
        family = "8-bit imagery"
    if family not in routes:
        raise BandbridgeError(f"{src}: {model} picks a model for {' or '.join(routes)}, but the "
                              f"values look like {family or look.why}; name a model with -m "
                              f"({', '.join(routes.values())}) and set --scaling")
    name = routes[family]
    why = "8-bit values, no georeference: a photo" if family == PHOTO else family
    level = _level(Path(src))
    if level and LEVEL_FLOORS.get(name, {}).get(level[0]) in zoo_models():
        name = LEVEL_FLOORS[name][level[0]]
        why += f", {LEVEL_NAMES[level[0]]}: {level[2]} name says '{level[1]}'"
    return resolve_model_folder(name), f"{model} → {name} (for {why})"


def _level(src: Path) -> tuple[str, str, str] | None:
    """``(level, token, whose)``: the processing level the file's name states, else its
    folder's (a product's band folder)."""
    if said := level_in_name(src.name):
        return (*said, "the file's")
    if src.parent.name and (said := level_in_name(src.parent.name)):
        return (*said, "its folder's")
    return None
