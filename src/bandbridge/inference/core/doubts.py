"""What a file's reading line says beside the bands and scaling ``interpret`` chose, where the file
itself says otherwise or cannot be what it is read as (issue 77): colours a colour interpretation
orders otherwise than red, green, blue; 8-bit values divided by 255 read as reflectance; and an
input of one band given with a reference that holds the model's input bands (the two swapped).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from bandbridge.data.reader import raster_info
from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.advice import asked_name
from bandbridge.inference.core.look import Look
from bandbridge.policy import MIN_LEVELS
from bandbridge.spec import ModelSpec

COLOURS = ("red", "green", "blue")
LEVELS_8BIT = 255  # an 8-bit image divided by this is read as 0–1 floats
STEP_TOL = 1e-3  # of one 1/255 step: float32 rounding of k/255 stays far inside it


def by_colour(look: Look) -> Look:
    """``look`` with its colour roles from the file's colour interpretation where its roles were
    guessed by count and the colour interpretation names red, green and blue in another order (a
    BGR file); else ``look`` unchanged."""
    if not look.how.startswith("by count") or len(look.roles) < 3:
        return look
    try:
        ci = [c.name if hasattr(c, "name") else str(c) for c in raster_info(look.path).colorinterp]
    except BandbridgeError:
        return look
    if sorted(ci[:3]) != sorted(COLOURS) or tuple(ci[:3]) == COLOURS:
        return look
    return replace(look, roles=ci[:3] + list(look.roles[3:]), how=f"colour interpretation: {', '.join(ci[:3])}")


def divided_8bit(look: Look, bands: list[int]) -> bool:
    """Whether the picked ``bands`` of a float file read as reflectance hold only whole multiples
    of 1/255 (at least :data:`MIN_LEVELS` of them): 8-bit imagery divided by 255, not reflectance."""
    if np.dtype(look.dtype).kind != "f" or look.scaling != "reflectance":
        return False
    v = np.atleast_2d(look.values)[list(dict.fromkeys(bands))].astype(np.float64) * LEVELS_8BIT
    if not v.size or np.unique(v).size < MIN_LEVELS:
        return False
    return bool(np.abs(v - np.round(v)).max() < STEP_TOL and v.min() >= 0 and v.max() <= LEVELS_8BIT + STEP_TOL)


def divided_8bit_phrase(path: str | Path, other: str | None) -> str:
    """The CHECK phrase for :func:`divided_8bit`, naming the 8-bit model ``other`` where one is
    bundled. The fix stores the file as 8-bit: a float file read as 8-bit (``--scaling minmax``)
    would still go to a model's floor, as a stored depth its pairs never had."""
    name = Path(str(path))
    return ("every value is a whole multiple of 1/255: 8-bit imagery divided by 255, not reflectance? If so, "
            f"store it as 8-bit (gdal_translate -ot Byte -scale 0 1 0 255 {name.name} {name.stem}_8bit.tif) "
            f"and give that to {other or 'a model for 8-bit imagery'}")


def swap_advice(src: str | Path, reference: str | Path, spec: ModelSpec) -> str | None:
    """One line where ``src`` holds fewer bands than ``spec`` takes and ``reference`` holds at least
    as many (the input and the reference given the other way round); None otherwise, or where
    either header cannot be read (the refusal already given says more)."""
    try:
        have, theirs = len(raster_info(src).bands), len(raster_info(reference).bands)
    except BandbridgeError:
        return None
    need = spec.in_channels
    if have >= need or theirs < need:
        return None
    inputs = ", ".join(spec.input_names)
    return (f"{src}: {have} band{'s' * (have > 1)}, but {asked_name(spec)} takes {need} ({inputs}), and the "
            f"reference {Path(str(reference)).name} holds {theirs}: did you swap the input and the "
            f"reference? The input is the image to translate ({inputs}), --reference the coarse "
            f"{', '.join(spec.target_names)} band")
