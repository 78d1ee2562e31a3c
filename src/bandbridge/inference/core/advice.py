"""What a user is told about a file beside how it is read (``interpret``): the model named as the
user named it, the folder to give where one band file of a band folder was given, a scale a power
of ten off that stops the run, and a model made from pictures taken on the ground meeting a
georeferenced scene (issue 69).
"""

from __future__ import annotations

from pathlib import Path

from bandbridge.bands import band_role, canonical_band_name
from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.look import Look, too_dark
from bandbridge.spec import BUNDLE_META, FLOOR_DIR, ModelSpec, read_spec

# Training sources (recipe names) of pictures taken on the ground, never from above, and what
# they show: a model made from these alone has never seen an aerial or satellite scene.
GROUND_LEVEL = {"roadscene": "road scenes (RoadScene: FLIR ADAS dash-camera frames)",
                "roadscene_unpaired": "road scenes (RoadScene: FLIR ADAS dash-camera frames)",
                "msrs": "road scenes (MSRS)", "tno": "night scenes (TNO)",
                "m3svd": "campus, park and street video (M3SVD)",
                "epfl_photos": "camera photos (EPFL RGB-NIR)"}


def asked_name(spec: ModelSpec) -> str:
    """The model as the user named it: a bundle's zero-shot floor (``NAME/floor``, which a file
    of another sensor is given to) goes by its bundle's name."""
    folder = Path(spec.folder)
    if folder.name == FLOOR_DIR and (folder.parent / BUNDLE_META).exists():
        return read_spec(folder.parent).name
    return spec.name


def band_file_folder(path: str | Path, need: list[str]) -> str | None:
    """Where ``path`` is one band file of a band folder (``B04.tif``) and a model takes ``need``
    roles: the advice to give the folder (read as one image of its band files), else None."""
    from bandbridge.data.formats import band_files
    p = Path(str(path))
    role = band_role(canonical_band_name(p.stem))
    if not (p.is_file() and p.suffix.lower() == ".tif" and p.stem.startswith("B")) or role == "other":
        return None
    have = {band_role(b): f.name for b, f in band_files(p.parent).items()}
    if all(r in have for r in need):
        return (f"give the folder that holds the band files, {p.parent}, as one input: its "
                f"{', '.join(have[r] for r in need)} are read as one image")
    return (f"put the {', '.join(need)} band files (B04.tif, B03.tif, B02.tif …) in one folder and "
            "give that folder as one input: it is read as one image")


def power_of_ten(look: Look, scaling: str) -> None:
    """Refuse values read by a guess as reflectance × 10000 (``scaling``) that are a black scene
    so (``look.dark``): ARCSI's × 1000, a power of ten off. Called only where the user gave no
    ``--scaling``, which always wins."""
    if look.dark is None or scaling != look.scaling:
        return
    raise BandbridgeError(f"{look.path}: {too_dark(look.dark)}: it looks like reflectance × 1000 "
                          "(ARCSI's scale); pass --scaling reflectance_1000 (or --scaling "
                          "reflectance_10000 if it is a dark scene at ESA's scale, such as open water)")


def seen_from_the_ground(spec: ModelSpec, look: Look, name: str) -> list[str]:
    """A CHECK phrase where every training source of ``spec`` is pictures taken on the ground
    (:data:`GROUND_LEVEL`) and ``look``'s file is georeferenced (an aerial or satellite scene)."""
    sources = [s.name for s in spec.config.data.sources]
    if not look.georeferenced or not sources or any(s not in GROUND_LEVEL for s in sources):
        return []
    what = " and ".join(dict.fromkeys(GROUND_LEVEL[s] for s in sources))
    return [(f"{name} was trained on {what}, seen from the ground, never on an aerial or satellite "
             "scene such as this georeferenced one: what it makes of it is untested")]
