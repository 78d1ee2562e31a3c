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
    """Major-TOM, SEN12MS-CR's two scenes, eo-learn's five, UKIS, Sen1Floods11's chip and the wildfire composites
    ``pick`` takes of their sorted list (``floor_cases.evenly``); ``grid`` None where the file has none."""
    from bandbridge.bands import get_scaling
    from bandbridge.data.grids import Grid
    from bandbridge.data.reader import read_raster
    from bandbridge.data.sentinel2 import native_sets, read_s2
    ten = read_s2(data / "nir_s2_majortom")[10].select(RGB_NIR)
    yield "s2_majortom", "majortom", ten.data, ten.valid, ten.grid
    refl = get_scaling("reflectance_10000")
    files = [("s2_sen12mscr", f, f.stem, refl)
             for f in sorted((data / "sar_sen12mscr_glfcr" / "s2_cloudfree").glob("*.tif"))]
    f = data / "sar_sen1floods11" / "S2" / "Spain_7370579_S2Hand.tif"
    files.append(("s2_sen1floods11", f, f.stem, refl))
    stack = data / "nir_s2_eolearn" / "REFERENCE_SCENES.npy"
    files += [("s2_eolearn", f"{stack}[{k}]", f"scene {k}", get_scaling("reflectance"))
              for k in range(np.load(stack, mmap_mode="r").shape[0])]
    for source, f, name, scaling in files:
        r = read_raster(str(f), scaling, sensor="s2_l1c")
        grid = Grid(r.crs, r.transform, *r.shape) if r.crs else None
        ten = native_sets(r.data, r.mask, r.bands, grid)[10].select(RGB_NIR)
        yield source, name, ten.data, ten.valid, ten.grid
    img = np.moveaxis(np.load(data / "ukis_csmask_s2" / "sentinel2.npz")["img"], -1, 0).astype(np.float32)
    yield "s2_ukis", "sentinel2", img[[2, 1, 0, 3]], np.isfinite(img[:4]).all(0), None
    for f in pick(sorted((data / "wildfire_s2_20m").glob("*_fire/*.tif"))):
        r = read_raster(f, refl, band_names=["B02", "B03", "B04", "B08", "B12"])  # as the sharpening record reads them
        grid = Grid(r.crs, r.transform, *r.shape)
        yield "s2_wildfire", f"{f.parent.name} {f.stem}", r.data[[2, 1, 0, 3]], r.mask, grid
