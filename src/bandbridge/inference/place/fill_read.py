"""Above ``bandbridge fill``'s row reader (``fill_rows.py``): the refusals' words (one line naming the flag,
the file, the cause and the fix), SAR's stored forms in dB, a time series' steps, the snow rule, and a file read
whole through the row reader (:func:`read_layer`, :func:`sar_on`: for scoring and tests).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import numpy as np
from rasterio.transform import array_bounds

from bandbridge.bands import band_role
from bandbridge.data.cube_ref import is_cube, parse_ref
from bandbridge.data.grids import Grid
from bandbridge.data.reader import raster_info
from bandbridge.data.reference import parse_date
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.fill_rows import Layer, check_fits, onto, open_rows
from bandbridge.policy import FILL_SNOW_MIN


def unnamed(names: list[str]) -> bool:
    """Whether bands are read without names (no band descriptions: GDAL's ``BAND1``, ``BAND2``…)."""
    return bool(names) and all(re.fullmatch(r"BAND\d+", n, re.IGNORECASE) for n in names)


def vv_vh(names: list[str], what: str) -> list[int]:
    """The indices of VV and VH among ``names``; refused in one line without both (bands without names: how to
    name them)."""
    roles = [band_role(n) for n in names]
    if "vv" not in roles or "vh" not in roles:
        file = what.split(" ", 1)[1] if what.startswith("-") and " " in what else what
        fix = (f"name them in their order (rio edit-info {file} --bidx 1 --description VV, then --bidx 2 "
               "--description VH; or a VRT whose bands have those descriptions), or give a folder of VV.tif and "
               "VH.tif" if unnamed(names) else "give a Sentinel-1 GRD file with both polarisations")
        raise BandbridgeError(f"{what}: no VV and VH bands (it has {', '.join(names)}"
                              f"{': bands without names' if unnamed(names) else ''}); {fix}")
    return [roles.index("vv"), roles.index("vh")]


def unnamed_scene(scene: str, names: list[str]) -> BandbridgeError:
    """The refusal of a scene whose bands have no names: no date's band could be matched to them but by place."""
    return BandbridgeError(f"{scene}: its bands have no names (no band descriptions: read as {names[0]}…{names[-1]}), "
                           f"so no date's band can be matched to them by name; name them in their order (rio "
                           f"edit-info {scene} --bidx 1 --description {'B01' if len(names) >= 12 else 'B02'}, one per "
                           "band), or give a folder of one "
                           "file per band (B02.tif, B03.tif…)")


_NOT_SEARCHED = {".json": "a STAC Item", **{s: "a raster" for s in (".tif", ".tiff", ".vrt", ".jp2", ".nc", ".png", ".img")}}


def not_a_search(flag: str, source: str) -> BandbridgeError | None:
    """The refusal of a URL after a date or SAR flag that names a STAC Item or a raster (by its path's suffix): a
    URL there is a STAC API to search, which would ask it for a search and fail in pystac-client's words."""
    from pathlib import PurePosixPath
    from urllib.parse import urlsplit
    if not source.startswith(("http://", "https://")):
        return None
    path = urlsplit(source).path
    kind = None if path.endswith(("catalog.json", "collection.json")) else \
        _NOT_SEARCHED.get(PurePosixPath(path).suffix.lower())
    if kind is None:
        return None
    fix = ("fill reads a date as a raster or a band folder, not an Item: download its band assets and its SCL into "
           "a folder (B02.tif, B03.tif…, SCL.tif) and give that folder" if kind == "a STAC Item" else
           "fill reads files, not URLs: download it and give its path")
    return BandbridgeError(f"{flag} {source}: names {kind}, but a URL here is a STAC API to search over the scene "
                           "(https://earth-search.aws.element84.com/v1, #COLLECTION after it; or stac, stac:COLLECTION, "
                           f"a catalog.json); {fix}")


_CLEAR_GOES = "#clear belongs after a date's path, -e FILE#clear or --later FILE#clear (a date you know is clear)"
_SCL_GOES = ("#scl=FILE names the SCL cube of a NetCDF or Zarr cube step (cube.nc@DATE#scl=SCL.nc); a GeoTIFF's "
             "cloud mask is an SCL or QA_PIXEL band in it or a file named *SCL*.tif beside it")


def suffix_refusal(item: str, flag: str) -> BandbridgeError | None:
    """The refusal of ``item`` (after ``flag``; "" the scene) that names no file because of what follows its path:
    a space at an end, or a ``#…`` fill does not take there while the path before it exists; None otherwise (a file
    of that very name, a cube reference, whose options the cube reader checks, or a path that is not there)."""
    from pathlib import Path
    what = f"{flag} '{item}'" if flag else f"the scene '{item}'"
    if is_cube(item) and "#" not in str(parse_ref(item).path) or Path(item).exists():  # x.tif#scl=y.nc: no cube
        return None
    if item != item.strip():
        return BandbridgeError(f"{what}: a space before or after the path; give it without ('{item.strip()}')")
    path, _, rest = item.partition("#")
    if not rest and not item.endswith("#") or not Path(path).exists():
        return None
    said = f"'#{rest}'" if rest else "a bare '#'"
    dates = flag in ("--earlier", "--later")
    if dates and rest.lower() == "clear":  # fill_inputs.known_clear took one #clear off already
        return BandbridgeError(f"{flag} '{item}#clear': #clear given twice; give it once ({item})")
    if rest.lower().startswith("scl"):
        why = _SCL_GOES + (f"; or, for a date you know is clear, {path}#clear" if dates else
                           "; or give the gap with --mask" if not flag else "")
    elif dates:
        why = f"after a date's path fill takes #clear alone ({path}#clear: a date you know is clear)"
    else:
        why = _CLEAR_GOES
    return BandbridgeError(f"{what}: {said} after the path is not a suffix fill takes there; {why}; or give the "
                           f"file as it is ({path})")


def read_layer(item: str, flag: str) -> Layer:
    """``item`` (a raster file, band folder or cube reference ``cube.nc@DATE[#scl[=FILE]]``) read whole on its
    own grid as ``fill`` reads it by rows (``fill_rows.open_rows``), with its cloud mask and snow where found
    (for scoring and tests); refused where this machine cannot hold it (``fill_rows.check_fits``)."""
    r = open_rows(item, flag)
    g = r.layer.grid
    check_fits(r.item, g.width, g.height, len(r.data) + (r.mask_band is not None), flag)
    layer = replace(r.layer, values=r.rows(g, 0, g.height))
    layer.clear, layer.snow = r.mask_rows(g, 0, g.height)
    return layer


def snow_is_ground(scene: Layer, clear_part: np.ndarray) -> bool:
    """Whether an earlier date's snow (SCL class 11) may stand for the ground under the scene's gap: only where
    the scene's own clear part shows snow, on at least :data:`~bandbridge.policy.FILL_SNOW_MIN` of it (or it has no
    SCL to say); else that snow has melted or was a cloud SCL called snow."""
    return scene.snow is None or not clear_part.any() or float(scene.snow[clear_part].mean()) >= FILL_SNOW_MIN


def _bounds(g: Grid) -> str:
    west, south, east, north = array_bounds(g.height, g.width, g.transform)
    return f"x {west:.10g}–{east:.10g}, y {south:.10g}–{north:.10g}"


def not_covering(what: str, src: Grid, scene: Grid, scene_path: str, fix: str) -> BandbridgeError:
    """The refusal of ``what`` (on ``src``) that lies elsewhere than the scene, both places stated."""
    return BandbridgeError(f"{what}: does not overlap {scene_path} (it covers {_bounds(src)} in {src.crs}, the "
                           f"scene {_bounds(scene)} in {scene.crs}); {fix}")


def holds_nothing(what: str, fix: str) -> BandbridgeError:  # the cause, not "does not overlap"
    return BandbridgeError(f"{what}: holds no value (every pixel is nodata or NaN); {fix}")


def no_cloud_mask(what: str, earlier: bool) -> BandbridgeError:
    """The refusal of a scene (``earlier``: a date) without a cloud mask: its clouds would be taken for ground."""
    where = "an SCL or QA_PIXEL band, a file named *SCL*.tif or *QA_PIXEL*.tif beside it, or a cube's #scl=FILE"
    return BandbridgeError(f"{what}: no cloud mask in the file or beside it ({where}); " +
                           (f"its clouds would go into the gap as ground: give it its mask as the scene's is given, or "
                            f"if you know it is clear, say so: {what}#clear" if earlier else "give one with --mask"))


def shared_bands(scene: Layer, other: Layer) -> list[int]:
    """Indices into ``other``'s bands of every band of the scene it holds too (same name; −1 where it lacks one),
    in the scene's order."""
    have = {n.upper(): i for i, n in enumerate(other.names)}
    return [have.get(n.upper(), -1) for n in scene.names]


def _steps(item: str, want: list[str], flag: str, fix: str) -> list[tuple[str, date, float]] | None:
    """``(label, date, usable share)`` of every time step of a cube reference without ``@DATE``,
    judged on its bands whose names or roles are in ``want`` (refused in one line, ``fix`` the
    remedy, where it holds none); None for anything else (a file, a dated step, a cube without
    time)."""
    from bandbridge.data.cube import step_fractions
    if not is_cube(item) or parse_ref(item).date:
        return None
    names = raster_info(item).bands
    keys = {w.upper() for w in want}
    bands = [i for i, n in enumerate(names) if n.upper() in keys or (band_role(n) or "").upper() in keys]
    if not bands:
        raise BandbridgeError(f"{flag} {item}: holds none of the bands {want} (it has {names}); {fix}")
    got = [(lab, parse_date(lab), f) for lab, _, f in step_fractions(item, bands) if lab]
    return [g for g in got if g[1]] or None


def earlier_steps(scene: Layer, item: str, most: int) -> list[str]:
    """``item`` as the earlier dates it names: a time-series cube without ``@DATE`` gives its
    ``most`` steps nearest before the scene that are at least half clear (``#scl`` kept), judged
    on the scene's bands it holds; any other item is itself."""
    steps = _steps(item, scene.names, "--earlier", "give an earlier archive of the scene's sensor")
    if steps is None:
        return [item]
    if scene.when is None:
        raise BandbridgeError(f"--earlier {item}: a time series, but the scene states no date; name the step "
                              "(cube.nc@DATE) or give a scene that states its date")
    ref = parse_ref(item)
    before = sorted((s for s in steps if s[1] < scene.when and s[2] >= 0.5), key=lambda s: s[1], reverse=True)
    if not before:
        raise BandbridgeError(f"--earlier {item}: no step before the scene's {scene.when} is half clear; give "
                              "an earlier clear scene")
    return [str(replace(ref, date=lab)) for lab, _, _ in before[:most]]


def sar_step(when: date | None, item: str) -> str:
    """``item`` at the step nearest ``when`` (the optical date it stands beside) when it is a SAR
    time-series cube without ``@DATE``; any other item is itself."""
    steps = _steps(item, ["vv", "vh"], "--sar", "give a Sentinel-1 GRD cube with both polarisations")
    if steps is None or when is None:
        return item
    lab = min((s for s in steps if s[2] > 0.5), key=lambda s: abs((s[1] - when).days), default=steps[0])[0]
    return str(replace(parse_ref(item), date=lab))


def sar_kind(values: np.ndarray, dtype: str) -> str:
    """How a SAR file stores backscatter (``bands.py``'s forms): ``dn`` (uint16, dB = 20·log10(DN) − 83,
    openEO-gfmap), ``power`` (linear: its values' median positive) or ``db``."""
    return "dn" if dtype == "uint16" else "power" if np.isfinite(values).any() and np.nanmedian(values) > 0 else \
        "db"  # all NaN: no median


def to_db(values: np.ndarray, dtype: str, kind: str | None = None) -> np.ndarray:
    """SAR backscatter in dB from its stored form ``kind`` (:func:`sar_kind`; None: told by these values);
    a value the form has no dB for (DN or power ≤ 0) NaN."""
    kind = kind or sar_kind(values, dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind != "db":
            return ((20 if kind == "dn" else 10) * np.log10(np.where(values > 0, values, np.nan))
                    - (83 if kind == "dn" else 0)).astype(np.float32)
    return values.astype(np.float32)


def sar_on(scene: Layer, item: str, flag: str) -> tuple[np.ndarray, date | None]:
    """VV and VH of ``item`` in dB on the scene's grid ``(2, H, W)`` and its date (a time-series
    cube without ``@DATE``: its step nearest the scene); refused without those bands or without
    overlap."""
    s = read_layer(item, flag)
    v = to_db(s.values[vv_vh(s.names, f"{flag} {item}")], s.dtype)
    if not np.isfinite(v).all(0).any():
        raise BandbridgeError(f"{flag} {item}: holds no value in VV and VH together (every pixel nodata, NaN or "
                              "zero backscatter); give a Sentinel-1 file that holds data")
    out = onto(v, s.grid, scene.grid, what=f"{flag} {item}")
    if scene.valid.any() and not np.isfinite(out).all(0)[scene.valid].any():
        raise not_covering(f"{flag} {item}", s.grid, scene.grid, scene.path, "give the SAR of the same place")
    return out, s.when
