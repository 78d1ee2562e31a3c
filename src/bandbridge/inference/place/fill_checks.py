"""Every input of ``bandbridge fill`` checked from its header before any pixel is read (placed on the scene, its
cloud mask, its bands, a small file's values) and the run's plan against the memory available; each refusal one
line naming the flag, the file, the cause and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds

from bandbridge.bands import band_role
from bandbridge.data.cube_ref import is_cube, parse_ref
from bandbridge.data.cube_dataset import cube_info
from bandbridge.data.grids import Grid
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_size
from bandbridge.inference.place.fill_read import (holds_nothing, no_cloud_mask, not_covering, suffix_refusal, unnamed,
                                                 unnamed_scene, vv_vh)
from bandbridge.inference.place.fill_rows import MASKS, STORED, header, mask_beside, subject, unplaced
from bandbridge.inference.runtime.memory import available_bytes, resident_bytes

FORMATS = {".tif": "GeoTIFF", ".tiff": "GeoTIFF"}  # what fill writes: the scene's own type and units, no picture
LOOK_SIDE = 1024  # a file at most this many pixels a side is looked at whole (a larger one: by the strip pass)


def fill_reads(items: list[str | None], mask: str | None) -> list[str | Path]:
    """Every name a fill of ``items`` (the scene, earlier dates, SAR) and ``mask`` reads, with the
    cloud mask found beside each, for the output guard (``data/reads.check_output_file``, which
    expands each: a cube's ``#scl=`` file, a VRT's sources, a folder)."""
    return [x for x in [*items, mask] if x] + [b[0] for x in items if x and (b := mask_beside(x)) is not None]


def check_inputs(scene: str, earlier: list[str], sar: str | None, sar_earlier: str | list[str] | None, mask: str | None,
                 later: list[str] = (), sar_later: list[str] = (), clear: set[str] = frozenset()) -> None:
    """Refuse, before any pixel is read, a fill whose inputs cannot serve (see the module docstring), or whose
    plan (``fill_plan.memory``) needs more than the memory available now; ``later`` and ``sar_later`` are checked
    as the earlier dates and ``sar`` are; ``clear``: the dates known clear, which need no cloud mask."""
    sar_earlier = [x for x in ([sar_earlier] if isinstance(sar_earlier, str) else sar_earlier or []) if x]
    dates = [*(("--earlier", x) for x in earlier), *(("--later", x) for x in later)]
    check_suffixes([("", scene), *dates, ("--mask", mask), ("--sar", sar), *(("--sar-earlier", x) for x in sar_earlier),
                    *(("--sar-later", x) for x in sar_later)])
    names, g = _head(scene, "")
    if unnamed([n for n in names if n.upper() not in MASKS]):  # BAND1… matched to a date's BAND1… by place alone
        raise unnamed_scene(scene, names)
    from bandbridge.inference.place.engine import tile_for
    from bandbridge.inference.place.fill_plan import memory
    need = memory(g.height, g.width, len(names), len(earlier) + len(later),
                  2 * bool(sar) + 4 * bool(sar_earlier) + 4 * bool(sar_later), float(resident_bytes() or 0),
                  tile_for(g.height, g.width)).peak()
    if (free := available_bytes()) is not None:
        most = g.width * g.height * free / need  # the plan grows with the scene's pixels
        check_size(scene, g.width, g.height, most, f"its fill is planned at {need / 1e9:.3g} GB (the scene's masks, "
                   f"strips and the engine's tiles: fill_plan.memory) and this machine has {free / 1e9:.3g} GB "
                   f"available now (about {most / 1e6:.0f} MPix of such a scene)", "fill it in parts (gdal_translate "
                   "-srcwin) or free memory")
    if mask:
        mn, mg = _head(mask, "--mask")
        if len(mn) != 1:  # band 1 alone would be taken silently (issue 85)
            raise BandbridgeError(f"--mask {mask}: {len(mn)} bands ({', '.join(mn)}); a mask has one band (nonzero: "
                                  f"the gap): give that band alone (gdal_translate -b 1 {mask} mask.tif)")
        _placed(f"--mask {mask}", mg, g, scene, "give the mask of this scene")
        _holds(mask, "--mask", [0], "give a mask with values (nonzero: the gap)")
    else:
        _mask_of(scene, "", names, g, earlier=False)
    for flag, e in dates:
        en, eg = _head(e, flag)
        if not {n.upper() for n in en} & {n.upper() for n in names}:
            raise _unmatched(scene, names, flag, e, en)
        _placed(f"{flag} {e}", eg, g, scene, "give a clear scene of the same place")
        _holds(e, flag, [i for i, n in enumerate(en) if n.upper() not in MASKS], "give a scene that holds data")
        if e not in clear:  # FILE#clear: known clear, no mask asked
            _mask_of(e, flag, en, eg, earlier=True)
    for flag, item in (("--sar", sar), *(("--sar-earlier", x) for x in sar_earlier),
                       *(("--sar-later", x) for x in sar_later)):
        if item:
            sn, sg = _head(item, flag)
            bands = vv_vh(sn, f"{flag} {item}")
            _placed(f"{flag} {item}", sg, g, scene, "give the SAR of the same place")
            _holds(item, flag, bands, "give a Sentinel-1 file that holds data", zero=False)


def check_suffixes(items: list[tuple[str, str | None]]) -> None:
    """Refuse each ``(flag, item)`` whose path is there but for what follows it (``fill_read.suffix_refusal``: a
    ``#…`` fill does not take there, a space at an end), which would be said as "file not found"."""
    for flag, item in items:
        if item and (bad := suffix_refusal(item, flag)) is not None:
            raise bad


def _head(item: str, flag: str) -> tuple[list[str], Grid]:
    """``item``'s band names and grid from its header (a cube reference without ``@DATE``: its grid);
    a folder that is not one of band files refused as a folder (a mask is never one)."""
    what = subject(flag, item)
    folder = Path(item).is_dir() and not is_cube(item)
    if folder and flag == "--mask":
        raise BandbridgeError(f"{what}: a folder, not a mask; give the gap as one single-band raster file "
                              "(nonzero: fill)")
    info, grid = header(item, flag)
    if folder and all(band_role(n) == "other" for n in info.bands):  # read as a band folder of other files
        files = sorted(p.name for p in Path(item).iterdir() if p.suffix.lower() in (".tif", ".tiff"))
        some = ", ".join(files[:3]) + (", …" if len(files) > 3 else "")
        raise BandbridgeError(f"{what}: a folder, and its files ({some}) are not band files (B02.tif, VV.tif…); "
                              f"give the raster file itself (e.g. {Path(item) / files[0]}), or a folder of one file "
                              "per band")
    return list(info.bands), grid


def _unmatched(scene: str, names: list[str], flag: str, item: str, other: list[str]) -> BandbridgeError:
    """The refusal of ``what`` (bands ``other``) sharing no band with the scene (``names``), blaming the one of
    the two whose bands have no names (no band descriptions: ``BANDn`` as read)."""
    blank = unnamed
    what = f"{flag} {item}"
    for who, file, ns, them, theirs in ((scene, scene, names, other, what), (what, item, other, names, "the scene")):
        if blank(ns) and not blank(them):
            return BandbridgeError(f"{who}: its bands have no names (no band descriptions: read as {ns}), so none "
                                   f"matches {theirs}'s {them}; name them in their order (rio edit-info {file} "
                                   f"--bidx 1 --description {them[0]}, one per band)")
    return BandbridgeError(f"{what}: holds none of the scene's bands {names} (it has {other}); give a scene of the "
                           "same sensor")


def _placed(what: str, src: Grid, scene: Grid, scene_path: str, fix: str) -> None:
    """Refuse ``what`` (on ``src``) that cannot be placed on the scene (one of the two without a
    georeference) or whose footprint does not meet the scene's."""
    if (bad := unplaced(what, src, scene)) is not None:
        raise bad
    a = array_bounds(src.height, src.width, src.transform)  # west, south, east, north
    b = array_bounds(scene.height, scene.width, scene.transform)
    if src.crs is not None and src.crs != scene.crs:
        a = transform_bounds(src.crs, scene.crs, *a)
    if min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]):
        raise not_covering(what, src, scene, scene_path, fix)


def _holds(item: str, flag: str, bands: list[int], fix: str, zero: bool = True) -> None:
    """Refuse a small file (at most :data:`LOOK_SIDE` a side, not a cube) none of whose pixels
    holds a value in every one of ``bands`` (``zero`` False: 0 is no value either, as backscatter)."""
    if is_cube(item) or not bands or max((info := raster_info(item)).height, info.width) > LOOK_SIDE:
        return
    r = read_raster(item, STORED, bands)
    v = np.where(r.mask, r.data, np.nan)
    if not (np.isfinite(v).all(0) & (zero | (v != 0).all(0))).any():
        raise holds_nothing(subject(flag, item), fix)


def _mask_of(item: str, flag: str, names: list[str], grid: Grid, earlier: bool) -> None:
    """Refuse ``item`` with no cloud mask (a band in it, a cube reference's ``#scl``, a file
    beside it), or whose mask found beside it or named by ``#scl=`` lies elsewhere."""
    what = subject(flag, item)
    if any(n.upper() in MASKS for n in names):
        return
    if is_cube(item) and (ref := parse_ref(item)).scl is not None:
        if ref.scl:
            p = ref.file(ref.scl)
            if not p.exists():
                raise BandbridgeError(f"{what}: its #scl={ref.scl}: no such file ({p}); name the companion cube "
                                      "that holds SCL")
            ci = cube_info(str(p))
            _placed(f"{what}: its #scl={ref.scl}", Grid(ci.crs, ci.transform, ci.height, ci.width), grid, item,
                    "name the companion cube of the same place after #scl=")
        return
    beside = mask_beside(item)
    if beside is None:
        raise no_cloud_mask(what, earlier)
    q = str(beside[0])
    _, qg = _head(q, flag)
    _placed(f"{what}: its cloud mask {beside[0].name} (found beside it)", qg, grid, item,
            "put its own mask beside it, or give the gap with --mask" if not earlier else
            "put that date's own mask beside it")
    _holds(q, flag, [0], "give a mask with values")
