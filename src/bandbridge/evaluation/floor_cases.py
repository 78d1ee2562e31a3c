"""The floor's cases (issue 84): every development source that holds a band at its guides' scale, the
band averaged ``k × k`` as the reference, the band itself the truth. The rule "never worse than the
best upsampling" is reported per source on these, on the half of the sources its constants were not
set on (:data:`HALVES`).

A case is one image: ``guides (G, H, W)`` and ``truth (1, H, W)`` on one plain pixel grid, cut to
whole cells of the largest factor; ``model`` names the bundled model ``predict --reference`` runs on
it ("" where none takes these guides). Images are taken evenly over each source's list
(:data:`PER_SOURCE` at most), so that a run stays within minutes on two cores.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid

FACTORS = (4, 10, 40)
S2_FACTORS = (2, 6)  # the k for Sentinel-2: its 20 m and 60 m bands are 2 and 6 of its 10 m pixels
LIMIT = 1.01  # the bound: at most 1.01× the best upsampling, per source, in MAE and in RMSE
PER_SOURCE = 10  # images taken from a source, evenly over its list
# The halves: every constant of the route choice is set on one and reported on the other, then swapped.
# Each holds NIR and thermal sources of both kinds of scene (aerial/satellite, ground camera).
HALVES = {"A": ("naip_opengeos", "nir_vhr_pansharp", "thermal_tno", "thermal_msrs"),
          "B": ("naip_stactools", "nir_epfl_rgbnir_photos", "thermal_roadscene", "thermal_m3svd", "landsat8_thermal",
                "s2_majortom", "s2_sen12mscr", "s2_eolearn", "s2_ukis", "s2_sen1floods11", "s2_wildfire")}
# The Sentinel-2 sources joined half B after the rules of half A were set (evaluation/floor_s2.py)
LANDSAT = "multisensor_riotilerpds/landsat8_l1tp_016037_20170813"


@dataclass
class FloorCase:
    """One image of a source: ``guides (G, H, W)`` and ``truth (1, H, W)`` float32 on one grid."""

    source: str
    name: str
    guides: np.ndarray
    guide_names: list[str]
    truth: np.ndarray
    target: str  # the truth's role: "nir", "gray" (a thermal camera's 8-bit frame: rgb2thermal's target), "thermal"
    dtype: str  # the stored type a user's file holds (uint8, uint16, float32)
    model: str = ""  # the bundled model predict --reference runs ("": none)
    bits: int = 0  # an 11- or 12-bit sensor's DN in uint16: predict is told --scaling minmax 0 … 2^bits − 1
    crs: object = None  # the file's georeference where it has one (a user's NAIP tile does: the bundles' routing
    transform: Affine = Affine.identity()  # and location read it); else a plain pixel grid
    factors: tuple[int, ...] = FACTORS  # the k it is run at (Sentinel-2: 2 and 6, its own grids' ratios)

    def cut(self, k: int) -> FloorCase:
        """Cut to whole ``k × k`` cells (top left)."""
        h, w = self.truth.shape[1] // k * k, self.truth.shape[2] // k * k
        return replace(self, guides=self.guides[:, :h, :w], truth=self.truth[:, :h, :w])

    @property
    def grid(self) -> Grid:
        """The image's pixel grid, georeferenced where its file was."""
        return Grid(self.crs, self.transform, *self.truth.shape[1:])


def half_of(source: str) -> str:
    """``"A"`` or ``"B"``: the half :data:`HALVES` puts ``source`` in."""
    return next(h for h, s in HALVES.items() if source in s)


def evenly(items: list, n: int = PER_SOURCE) -> list:
    """At most ``n`` of ``items``, evenly spaced over the list (its first always)."""
    if len(items) <= n:
        return items
    return [items[int(i * len(items) / n)] for i in range(n)]


def _image(path: Path, mode: str) -> np.ndarray:
    from PIL import Image
    a = np.asarray(Image.open(path).convert(mode), np.float32)
    return a.transpose(2, 0, 1) if a.ndim == 3 else a[None]


def _pair(source: str, name: str, rgb: Path, band: Path, target: str, model: str) -> FloorCase:
    x, y = _image(rgb, "RGB"), _image(band, "L")
    h, w = min(x.shape[1], y.shape[1]), min(x.shape[2], y.shape[2])
    return FloorCase(source, name, x[:, :h, :w], ["red", "green", "blue"], y[:, :h, :w], target, "uint8", model)


def _tif(path: Path, rgb: tuple[int, int, int], band: int) -> tuple[np.ndarray, np.ndarray, str, dict]:
    """``(the guides, the truth, the stored type, the file's georeference as FloorCase's fields: {} where none)``."""
    import rasterio
    with rasterio.open(path) as s:
        a = s.read().astype(np.float32)
        geo = {"crs": s.crs, "transform": s.transform} if s.crs else {}
        return a[list(rgb)], a[band][None], s.dtypes[0], geo


def naip(data: Path, folder: str) -> Iterator[FloorCase]:
    """NAIP tiles (red, green, blue, NIR; 8-bit), georeferenced as their files are: RGB the guides, NIR the truth."""
    for f in evenly(sorted((data / folder).glob("*.tif"))):
        x, y, dtype, geo = _tif(f, (0, 1, 2), 3)
        yield FloorCase(folder.replace("nir_", ""), f.stem, x, ["red", "green", "blue"], y, "nir", dtype, "rgb2nir",
                        **geo)


def vhr(data: Path) -> Iterator[FloorCase]:
    """The VHR scenes' MS bands at their own scale (blue, green, red, NIR): RGB the guides, NIR the truth
    (WorldView3's 32² is too small for k = 40)."""
    for sensor in ("GeoEye1", "IKONOS", "WorldView2"):
        x, y, dtype, geo = _tif(data / "nir_vhr_pansharp" / f"{sensor}_ms.tif", (2, 1, 0), 3)
        yield FloorCase("nir_vhr_pansharp", sensor, x, ["red", "green", "blue"], y, "nir", dtype,
                        "rgb2nir-naip" if dtype == "uint16" else "rgb2nir",
                        11 if dtype == "uint16" else 0, **geo)


def listed(data: Path, folder: str, rgb: str, band: str, target: str, model: str, column: str = "file"
           ) -> Iterator[FloorCase]:
    """A paired set listed in ``groups.csv`` or ``pairs.csv``: ``rgb/NAME`` the guides, ``band/NAME`` the truth."""
    table = next(p for p in (data / folder / "groups.csv", data / folder / "pairs.csv") if p.exists())
    with open(table, newline="") as fh:
        names = [r[column] for r in csv.DictReader(fh)]
    for name in evenly(names):
        yield _pair(folder, Path(name).stem, data / folder / rgb / name, data / folder / band / name, target, model)


def roadscene(data: Path) -> Iterator[FloorCase]:
    folder = data / "thermal_roadscene"
    for f in evenly(sorted((folder / "cropinfrared").glob("*.jpg"))):
        yield _pair("thermal_roadscene", f.stem, folder / "crop_LR_visible" / f.name, f, "gray", "rgb2thermal")


def landsat(data: Path) -> Iterator[FloorCase]:
    """Landsat-8's B10 (K, 100 m delivered at 30 m) under its OLI red, green and blue (reflectance), a
    window of the scene's centre; no bundled model takes OLI reflectance to kelvin."""
    from bandbridge.data.landsat import read_landsat
    from bandbridge.evaluation.sharpen_cases import largest_valid_window
    scene = read_landsat(data / LANDSAT, ["B4", "B3", "B2", "B10"])
    r0, c0, h, w = largest_valid_window(scene.valid)
    win = np.s_[:, r0:r0 + h, c0:c0 + w]
    d = scene.data[win]
    yield FloorCase("landsat8_thermal", "016037_20170813", d[:3], ["red", "green", "blue"], d[3:], "thermal",
                    "float32")


def all_cases(data: str | Path) -> Iterator[FloorCase]:
    """Every source's images, source by source (see :data:`HALVES`)."""
    data = Path(data)
    yield from naip(data, "nir_naip_opengeos")
    yield from naip(data, "naip_stactools")
    yield from vhr(data)
    yield from listed(data, "nir_epfl_rgbnir_photos", "rgb", "nir", "nir", "rgb2nir")
    yield from listed(data, "thermal_tno", "visible", "lwir", "gray", "rgb2thermal")
    yield from listed(data, "thermal_msrs", "vi", "ir", "gray", "rgb2thermal")
    yield from listed(data, "thermal_m3svd", "vi", "ir", "gray", "rgb2thermal")
    yield from roadscene(data)
    yield from landsat(data)
    yield from s2(data)


def s2(data: Path) -> Iterator[FloorCase]:
    """Every development Sentinel-2 source (``floor_s2.scenes``): red, green and blue the guides, B08 the truth,
    at k = 2 and 6, each scene cut to its largest clear window."""
    from bandbridge.evaluation.floor_s2 import scenes
    from bandbridge.evaluation.sharpen_cases import largest_valid_window
    for source, name, bands, valid, grid in scenes(data, evenly):
        r0, c0, h, w = largest_valid_window(valid)
        d = np.ascontiguousarray(bands[:, r0:r0 + h, c0:c0 + w], np.float32)
        geo = {"crs": grid.crs, "transform": grid.transform @ Affine.translation(c0, r0)} if grid and grid.crs else {}
        yield FloorCase(source, name, d[:3], ["red", "green", "blue"], d[3:], "nir", "float32", "rgb2nir",
                        factors=S2_FACTORS, **geo)
