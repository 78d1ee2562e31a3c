"""The sharpening record's cases, Wald's protocol on the development data: every band degraded
by the ratio, so that the bands as the product holds them are the truth.

A case's output grid is the targets' own grid. The guides are the fine bands averaged onto it
(by ``f``, the targets' pixel over the guides': 2 for Sentinel-2's 20 m bands under its 10 m ones,
6 for the 60 m bands, 4 for an MS band under its pan, 1 where the file holds both on one grid);
the reference is the targets averaged by the ``ratio``; the sharpened reference is scored against
the targets. Every case is cut to the largest window of whole reference cells whose pixels are
all valid (the baselines take full arrays; a Landsat scene's fill corners are left out).

- Sentinel-2 ×2: the four 10 m bands guide the six 20 m bands (``ukis_csmask_s2``: B11 and B12,
  its bands on one unknown grid, so ``f = 1``; ``wildfire_s2_20m``: B12, on the 20 m grid Earth Engine
  exported them all onto); ×6: they guide B01 and B09 (B10, cirrus, is left out as DSen2 leaves it:
  it sees the atmosphere, not the ground). Every development Sentinel-2 source that holds a coarse
  band: Major-TOM, SEN12MS-CR, eo-learn, Sen1Floods11, UKIS and the wildfire composites;
- Landsat-8 thermal ×3: the OLI bands B2–B7 (reflectance) guide B10 and B11 (kelvin);
- pansharpening at the MS scale, ×4: the pan guides the four MS bands (DN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, block_mean, mtf_mean
from bandbridge.data.landsat import read_landsat
from bandbridge.data.products import ProductBands, read_pan_ms
from bandbridge.evaluation.s2_sources import s2_scenes

CASE_MIN_CELLS = 25  # a case with fewer whole reference cells is skipped: fewer than a few per fitted parameter
S2_GUIDES = ["B02", "B03", "B04", "B08"]
S2_60M = ["B01", "B09"]  # not B10 (cirrus): see the module
OLI = ["B2", "B3", "B4", "B5", "B6", "B7"]
THERMAL = ["B10", "B11"]
MAJORTOM_OFFSETS = (1, 2)  # 10 m pixels the 20 m and 60 m bands lie off the 10 m ones (see s2_cases)
VHR = ["GeoEye1", "IKONOS", "WorldView2"]  # WorldView3's pair is 32² at the MS scale: too small
WILDFIRE = 10  # wildfire_s2_20m's composites taken, evenly over its 43 sorted names (a run stays within minutes)


@dataclass
class Case:
    """One Wald case: ``guides (G, H, W)`` and ``truth (T, H, W)`` on the output grid, the
    ``reference (T, H/ratio, W/ratio)``, ``grid`` the output grid (``crs`` None: plain image)."""

    name: str
    source: str
    kind: str  # "s2", "thermal", "pansharpening"
    ratio: int
    guides: np.ndarray
    guide_names: list[str]
    reference: np.ndarray
    truth: np.ndarray
    target_names: list[str]
    units: str
    grid: Grid
    step: int = 1  # the targets' pixel over the guides' as the product holds them (``f``; 1: one grid)
    # bands of a grid between the guides' and the targets' (the ×6 case's 20 m bands, averaged onto the output grid):
    # what the Sentinel-2 network reads beside the guides at ×6 (``workflows/s2_network``); None: none
    companions: np.ndarray | None = None
    companion_names: list[str] = field(default_factory=list)

    @property
    def cells(self) -> int:
        return int(self.reference.shape[1] * self.reference.shape[2])


def largest_valid_window(cells_ok: np.ndarray) -> tuple[int, int, int, int]:
    """``(row, col, height, width)`` of the largest rectangle of True in ``cells_ok (h, w)``
    (the histogram method: each row's run lengths upwards, the largest rectangle under them)."""
    best, heights = (0, 0, 0, 0), np.zeros(cells_ok.shape[1], int)
    for r, row in enumerate(cells_ok):
        heights = np.where(row, heights + 1, 0)
        stack: list[int] = []
        for c in range(len(heights) + 1):
            h = heights[c] if c < len(heights) else 0
            while stack and heights[stack[-1]] >= h:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = heights[top] * (c - left)
                if area > best[2] * best[3]:
                    best = (r - heights[top] + 1, left, int(heights[top]), c - left)
            stack.append(c)
    return best


def wald(name: str, source: str, kind: str, guides: ProductBands, targets: ProductBands, f: int, ratio: int,
         units: str, offset: int = 0, mtf: float | None = None, between: tuple[ProductBands, int] | None = None
         ) -> Case:
    """The case of ``targets`` (on their own grid) sharpened by ``ratio`` with ``guides`` on a
    grid ``f`` times finer (see the module), the guides read from ``offset`` of their pixels in
    (down and right) where their grid is known to lie off the targets' by that much; with ``mtf``
    (and ``f > 1``) the guides are averaged as a sensor of that response at its Nyquist frequency
    sees them (``grids.mtf_mean``), not by block means alone; ``between``: bands on a grid ``n`` times finer than
    the targets' (from the same corner), averaged onto the case's window as its companions."""
    gh, gw = guides.data.shape[1] - offset, guides.data.shape[2] - offset
    th, tw = targets.data.shape[1] // ratio * ratio, targets.data.shape[2] // ratio * ratio
    th, tw = min(th, gh // f // ratio * ratio), min(tw, gw // f // ratio * ratio)
    g = guides.data[:, offset:offset + th * f, offset:offset + tw * f]
    gv = guides.valid[offset:offset + th * f, offset:offset + tw * f].astype(np.float32)[None]
    g, gv = (mtf_mean(g, f, mtf), block_mean(gv, f)[0][0] == 1) if f > 1 else (g, gv[0] == 1)
    ok = gv & targets.valid[:th, :tw]
    r0, c0, h, w = largest_valid_window(block_mean(ok.astype(np.float32)[None], ratio)[0][0] == 1)
    rows, cols = slice(r0 * ratio, (r0 + h) * ratio), slice(c0 * ratio, (c0 + w) * ratio)
    truth = np.ascontiguousarray(targets.data[:, :th, :tw][:, rows, cols])
    tg = targets.grid
    grid = Grid(tg.crs, tg.transform @ Affine.translation(cols.start, rows.start), h * ratio, w * ratio)
    case = Case(name, source, kind, ratio, np.ascontiguousarray(g[:, rows, cols]), list(guides.names),
                block_mean(truth, ratio)[0], truth, list(targets.names), units, grid, f)
    if between is not None:
        case.companions = _between(between[0], between[1], rows, cols, mtf)
        case.companion_names = list(between[0].names) if case.companions is not None else []
    return case


def _between(bands: ProductBands, n: int, rows: slice, cols: slice, mtf: float | None) -> np.ndarray | None:
    """``bands`` (a grid ``n`` times finer than the targets') averaged onto the targets' window ``rows, cols``
    ``(C, h, w)``; None where they do not cover it or hold an unknown value there."""
    d = bands.data[:, rows.start * n:rows.stop * n, cols.start * n:cols.stop * n]
    want = ((rows.stop - rows.start) * n, (cols.stop - cols.start) * n)
    if d.shape[1:] != want or not np.isfinite(d).all():
        return None
    return mtf_mean(d.astype(np.float32), n, mtf)


def _s2_cases(tag: str, source: str, sets: dict[int, ProductBands], offsets: tuple[int, int] = (0, 0),
              mtf: float | None = None) -> Iterator[Case]:
    guides = sets[10].select(S2_GUIDES)
    yield wald(f"{tag} ×2", source, "s2", guides, sets[20], 2, 2, "reflectance", offsets[0], mtf)
    yield wald(f"{tag} ×6", source, "s2", guides, sets[60].select(S2_60M), 6, 6, "reflectance", offsets[1], mtf,
               (sets[20], 3))  # the 20 m bands beside: what the network reads at ×6


def s2_cases(data: Path, mtf: float | None = None, as_stated: bool = True) -> Iterator[Case]:
    """The Sentinel-2 dev scenes ×2 and ×6 (see the module; the scenes from the one catalogue,
    ``s2_sources``); ``mtf``: the guides averaged as :func:`wald` says. Major-TOM's files state one corner
    for all bands, but its 20 m bands lie one 10 m pixel down and right of the 10 m bands averaged, and its
    60 m bands about two (phase correlation): its cases are recorded as the files state (``as_stated``) and
    realigned by those whole pixels (:data:`MAJORTOM_OFFSETS`). Sen1Floods11's chip has its native sets found
    as SEN12MS-CR's; the one-grid sources (:data:`WILDFIRE` of ``wildfire_s2_20m``'s composites, B12 under
    B2, B3, B4, B8 on one 20 m grid; UKIS's B11 and B12 on its 10 m one) are ×2 alone, ``f = 1``."""
    every = lambda files: files[::max(1, len(files) // WILDFIRE)][:WILDFIRE]  # noqa: E731 - the record's sample
    for s in s2_scenes(data, every):
        if s.one_grid:
            bands = s.sets[min(s.sets)]
            yield wald(f"{s.label} ×2", s.path, "s2", bands.select(S2_GUIDES),
                       bands.select([b for b in bands.names if b not in S2_GUIDES]), 1, 2, "reflectance")
            continue
        if s.source == "majortom":
            if as_stated:
                yield from _s2_cases(s.label, s.path, s.sets, mtf=mtf)
            yield from _s2_cases(f"{s.label} realigned", f"{s.path} (10 m bands 1 px in for ×2, 2 px for ×6)", s.sets,
                                 MAJORTOM_OFFSETS, mtf)
        else:
            yield from _s2_cases(s.label, s.path, s.sets, mtf=mtf)


def thermal_case(data: Path) -> Case:
    """Landsat-8's B10 and B11 (K) ×3 under its OLI bands (reflectance), one grid (``f = 1``)."""
    folder = "multisensor_riotilerpds/landsat8_l1tp_016037_20170813"
    scene = read_landsat(data / folder, OLI + THERMAL)
    return wald("Landsat-8 thermal ×3", folder, "thermal", scene.select(OLI), scene.select(THERMAL), 1, 3, "K")


def all_cases(data: str | Path) -> Iterator[Case]:
    data = Path(data)
    yield from s2_cases(data)
    yield thermal_case(data)
    for sensor in VHR:  # each VHR sensor's MS bands ×4 under its pan, at the MS scale
        pan, ms, r = read_pan_ms(data / "nir_vhr_pansharp" / f"{sensor}_pan.tif",
                                 data / "nir_vhr_pansharp" / f"{sensor}_ms.tif")
        yield wald(f"pansharpening {sensor} ×{r}", f"nir_vhr_pansharp/{sensor}_{{pan,ms}}.tif", "pansharpening",
                   pan, ms, r, r, "DN")
