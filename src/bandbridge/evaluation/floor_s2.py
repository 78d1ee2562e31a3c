"""The floor's Sentinel-2 scenes (issue 84: each Sentinel-2 source at k = 2 and 6; ``floor_cases.s2`` makes
them cases): every development Sentinel-2 source's red, green and blue (reflectance, 10 m) the guides and
its B08 (10 m) the truth, as a user holding the visible bands and a coarser NIR would run `sharpen` and
`predict -m rgb2nir --reference`. The wildfire composites hold all four on one 20 m grid (Earth Engine's
export): there the 20 m B8 is the truth. The sources are in half B (the rules of half A were set before
they joined)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np

RGB_NIR = ["B04", "B03", "B02", "B08"]
Scene = tuple[str, str, np.ndarray, np.ndarray, object]  # (source, name, (4, H, W) red green blue B08, valid, grid)


def scenes(data: Path, pick: Callable[[list], list]) -> Iterator[Scene]:
    """Major-TOM, SEN12MS-CR's two scenes, Sen1Floods11's chip, eo-learn's five, UKIS and the wildfire composites
    ``pick`` takes of their sorted list (``floor_cases.evenly``), from the one catalogue (``s2_sources``); ``grid``
    None where the file has none."""
    from bandbridge.evaluation.s2_sources import s2_scenes
    order = ("majortom", "sen12mscr", "sen1floods11", "eolearn", "ukis", "wildfire")  # the floor record's
    for s in s2_scenes(data, pick, order):
        ten = s.sets[min(s.sets)].select(RGB_NIR)  # the 10 m set; a one-grid source's one set
        yield f"s2_{s.source}", s.name, ten.data, ten.valid, ten.grid if ten.grid.crs else None
