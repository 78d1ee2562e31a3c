"""``bandbridge gaps``' fill columns made by the command itself (``run_fill`` on each case's inputs as a user
gives them, :func:`mask_of`), read back in the scene's units. A pixel it left unfilled (``FILLED`` 0) takes the
case's fallback, never the value the mask hides; a refused case, every pixel.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bandbridge.inference.place.fill_finish import FILLED  # the output's FILLED band where the command gave a value


@dataclass
class Case:
    """One fill as the command takes it: items (files or cube references) and ``--mask``."""

    scene: str
    earlier: list[str]
    mask: str
    sar: str | None = None
    sar_earlier: str | None = None
    later: list[str] = field(default_factory=list)


def write(path: Path, values: np.ndarray, grid, names: list[str], when: str | None = None) -> str:
    """``values (C, H, W)`` as a float32 GeoTIFF on ``grid`` (NaN: no data), its bands named, its date tagged."""
    import rasterio
    with rasterio.open(path, "w", driver="GTiff", height=grid.height, width=grid.width, count=values.shape[0],
                       dtype="float32", crs=grid.crs, transform=grid.transform, nodata=np.nan) as dst:
        dst.write(values.astype(np.float32))
        dst.descriptions = tuple(names)
        if when:
            dst.update_tags(DATE=when)
    return str(path)


def mask_of(path: Path, hidden: np.ndarray, scene) -> str:
    """``--mask`` of a case whose ``hidden (H, W)`` pixels are laid over ``scene`` (``fill_read.Layer``), as a
    user gives it: those and the scene's own clouds (not clear by its SCL): ``--mask`` replaces the scene's own
    mask, so the hidden pixels alone would have the fit learn the scene's clouds as ground."""
    gap = hidden if scene.clear is None else hidden | ~scene.clear
    return write(path, gap[None].astype(np.float32), scene.grid, ["gap"])


@dataclass(frozen=True)
class Ran:
    """What one run of the command decided, as the columns read it: the route and why (the output's first
    band's decision: a fill decides one per scene, ``place/contract.Outcome``), every route's held-out MAE
    (its ``checks``) and the gap's regions in words (the ``bandbridge_fill_regions`` tag; "" where none)."""

    route: str
    why: str
    mae: dict[str, float]
    regions: str = ""


def run(case: Case, fallback: np.ndarray, work: Path, seed: int, route: str | None = None):
    """``run_fill`` on ``case`` (``route``: forced): its values ``(C, H, W)`` in the scene's units
    (``fallback`` where it filled nothing), what it decided (:class:`Ran`) and the lines it said."""
    import rasterio

    from bandbridge.errors import BandbridgeError
    from bandbridge.inference.place.fill import run_fill
    said: list[str] = []
    out = Path(tempfile.mkdtemp(dir=work)) / "filled.tif"
    try:
        done = run_fill(case.scene, str(out), case.earlier, case.sar, case.sar_earlier, case.mask, cog=False,
                        seed=seed, say=said.append, later=case.later, route=route)
    except BandbridgeError as ex:  # what a user gets: no file, so it filled nothing (the record goes on)
        return fallback.astype(np.float32), Ran(f"refused: {ex}", str(ex), {}), said
    with rasterio.open(out) as src:
        a = src.read().astype(np.float64)
        a = a * np.array(src.scales)[:, None, None] + np.array(src.offsets)[:, None, None]
        regions = src.tags().get("bandbridge_fill_regions", "")
    out.unlink()
    d = done.decisions[0]
    return np.where(a[-1] == FILLED, a[:-1], fallback).astype(np.float32), Ran(d.route, d.why, d.checks, regions), said


def fill_columns(case: Case, base: np.ndarray, work: Path, seed: int, later: str | None = None
                 ) -> tuple[dict[str, np.ndarray], str]:
    """The columns the command makes for one case, and its route in words: ``fit-no-sar`` (the fit
    forced, no SAR), ``fit-sar`` (the fit forced), ``fill`` (its own route) and, given the nearest
    clear date after the scene (``later``), ``fill-later``; ``base`` the earlier date as is (where
    a column filled nothing)."""
    out = {"fit-no-sar": run(replace(case, sar=None, sar_earlier=None), base, work, seed, "fit")[0]}
    out["fill"], own, said = run(case, base, work, seed)
    forced = own.route == "fit" and not own.regions  # the forced fit is the one fill chose
    out["fit-sar"] = out["fill"] if forced else run(case, base, work, seed, "fit")[0]
    route = own.route + "".join(f", earlier snow not taken{s[s.rfind(' ('):]}" for s in said if s.startswith("snow:"))
    if later is not None:
        out["fill-later"], both, _ = run(replace(case, later=[later]), base, work, seed)
        route += f"; with the later date too: {both.route}" + (f" (by region: {both.regions})" if both.regions else "")
    return out, route
