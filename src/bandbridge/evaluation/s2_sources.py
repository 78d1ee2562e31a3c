"""The development Sentinel-2 sources, one catalogue (issue 97 point 4): every scene of every source read
once here as its native band sets, for the floor (``floor_s2.scenes``), the sharpening record
(``sharpen_cases.s2_cases``) and, through the record's cases, the prior's trainer (``workflows/s2_prior.py``).

Major-TOM's band folder (``data/sentinel2.read_s2``); SEN12MS-CR's two scenes, Sen1Floods11's chip and
eo-learn's five (13 bands resampled onto one 10 m grid: their native sets found, ``sentinel2.native_sets``);
UKIS (B02, B03, B04, B08, B11, B12 on one grid it does not state) and the wildfire composites (B02, B03,
B04, B08, B12 exported by Earth Engine onto one 20 m grid), which have no native sets to find: their bands
as one set on their one grid (``one_grid``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from affine import Affine

from bandbridge.bands import get_scaling
from bandbridge.data.grids import Grid
from bandbridge.data.products import ProductBands
from bandbridge.data.reader import read_raster
from bandbridge.data.sentinel2 import native_sets, read_s2

SOURCES = ("majortom", "sen12mscr", "eolearn", "sen1floods11", "wildfire", "ukis")  # the sharpening record's order
WILDFIRE_BANDS = ["B02", "B03", "B04", "B08", "B12"]
UKIS_BANDS = ["B02", "B03", "B04", "B08", "B11", "B12"]


@dataclass
class S2Scene:
    """One scene: ``source`` the source's short name (:data:`SOURCES`), ``name`` the scene's within it (a
    file's stem, ``scene 3``), ``label`` the sharpening record's name for it, ``path`` where it lies under the
    data root as the records state it, ``sets`` its bands by their native pixel in metres (10, 20, 60), in
    reflectance; ``one_grid``: every band on one grid, the one set (no native sets to find)."""

    source: str
    name: str
    label: str
    path: str
    sets: dict[int, ProductBands]
    one_grid: bool = False


def s2_scenes(data: Path, pick: Callable[[list], list], sources: tuple[str, ...] = SOURCES) -> Iterator[S2Scene]:
    """The scenes of ``sources``, in that order, read one at a time; ``pick`` takes the wildfire composites
    of their sorted list (43: each record takes its sample)."""
    readers = {"majortom": _majortom, "sen12mscr": _sen12mscr, "eolearn": _eolearn, "sen1floods11": _sen1floods11,
               "wildfire": _wildfire, "ukis": _ukis}
    for source in sources:
        yield from readers[source](Path(data), pick)


def _grid(r) -> Grid | None:
    return Grid(r.crs, r.transform, *r.shape) if r.crs else None


def _stack(source: str, name: str, label: str, path: str, f: str | Path, scaling: str) -> S2Scene:
    """A stack of the 13 bands on one 10 m grid, as its native sets."""
    r = read_raster(str(f), get_scaling(scaling), sensor="s2_l1c")
    return S2Scene(source, name, label, path, native_sets(r.data, r.mask, r.bands, _grid(r)))


def _majortom(data: Path, pick) -> Iterator[S2Scene]:
    yield S2Scene("majortom", "majortom", "S2 majortom", "nir_s2_majortom", read_s2(data / "nir_s2_majortom"))


def _sen12mscr(data: Path, pick) -> Iterator[S2Scene]:
    for f in sorted((data / "sar_sen12mscr_glfcr" / "s2_cloudfree").glob("*.tif")):
        yield _stack("sen12mscr", f.stem, f"S2 sen12mscr {f.stem}", f"sar_sen12mscr_glfcr/s2_cloudfree/{f.name}", f,
                     "reflectance_10000")


def _eolearn(data: Path, pick) -> Iterator[S2Scene]:
    stack = data / "nir_s2_eolearn" / "REFERENCE_SCENES.npy"
    for k in range(np.load(stack, mmap_mode="r").shape[0]):
        yield _stack("eolearn", f"scene {k}", f"S2 eolearn scene {k}", f"nir_s2_eolearn/REFERENCE_SCENES.npy[{k}]",
                     f"{stack}[{k}]", "reflectance")


def _sen1floods11(data: Path, pick) -> Iterator[S2Scene]:
    f = data / "sar_sen1floods11" / "S2" / "Spain_7370579_S2Hand.tif"
    yield _stack("sen1floods11", f.stem, "S2 sen1floods11", f"sar_sen1floods11/S2/{f.name}", f, "reflectance_10000")


def _wildfire(data: Path, pick) -> Iterator[S2Scene]:
    for f in pick(sorted((data / "wildfire_s2_20m").glob("*_fire/*.tif"))):
        r = read_raster(f, get_scaling("reflectance_10000"), band_names=WILDFIRE_BANDS)
        bands = ProductBands(r.data, r.mask, r.bands, ["reflectance"] * len(r.bands), Grid(r.crs, r.transform, *r.shape))
        name = f"{f.parent.name} {f.stem}"
        yield S2Scene("wildfire", name, f"S2 wildfire {name}", f"wildfire_s2_20m/{f.parent.name}/{f.name}", {20: bands},
                      one_grid=True)


def _ukis(data: Path, pick) -> Iterator[S2Scene]:
    img = np.moveaxis(np.load(data / "ukis_csmask_s2" / "sentinel2.npz")["img"], -1, 0).astype(np.float32)
    bands = ProductBands(img, np.isfinite(img).all(0), UKIS_BANDS, ["reflectance"] * len(UKIS_BANDS),
                         Grid(None, Affine.identity(), *img.shape[1:]))
    yield S2Scene("ukis", "sentinel2", "S2 ukis", "ukis_csmask_s2/sentinel2.npz", {10: bands}, one_grid=True)
