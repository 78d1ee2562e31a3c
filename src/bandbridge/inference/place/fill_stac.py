"""``fill -e stac``, ``--later stac`` and ``--sar stac``: a fill's dates found as ``predict --reference stac``
finds its reference (``interop/stac_search.py``): Sentinel-2 L2A Items before (after) the scene's date, nearest
first, each clear enough over the footprint by its cloud mask asset; Sentinel-1 (VV, VH) nearest the scene's date
and the nearest earlier date. Each Item taken is a VRT of its assets windowed to the footprint (in the cache),
read like any file: by strips, nothing downloaded whole.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
from affine import Affine

from bandbridge.bands import clear
from bandbridge.data.grids import Grid
from bandbridge.errors import BandbridgeError
from bandbridge.inference.interop.stac_search import (band_asset, cloud_cover, is_search, item_date, mask_asset,
                                                      search_items)
from bandbridge.inference.place.fill_checks import check_suffixes
from bandbridge.inference.place.fill_read import not_a_search
from bandbridge.inference.place.fill_rows import MASKS, covering, date_of, open_rows
from bandbridge.policy import STAC_CLEAR_MIN, STAC_DATES, STAC_DAYS, STAC_SAR_DAYS  # policy's table: what set each

SAR_COLLECTION = "sentinel-1-grd"  # Earth Search's; name another (stac:sentinel-1-rtc, URL#COLLECTION) where it has one


@dataclass
class FoundDates:
    """The fill's inputs with every search replaced by the VRTs of the Items found, and the tags
    (``bandbridge_fill_stac_*``) that say which Items (ids, dates); none where nothing was searched."""

    earlier: list[str]
    later: list[str]
    sar: str | None
    sar_earlier: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Scene:
    path: str
    when: date
    names: list[str]  # its data bands, as fill matches them
    grid: Grid
    bbox: tuple[float, float, float, float]  # longitude/latitude


def found_dates(scene: str, earlier: list[str], sar: str | None, sar_earlier: str | None, later: list[str] = (),
                say: Callable[[str], None] = print) -> FoundDates:
    """``fill``'s date flags with each search (:func:`~bandbridge.inference.interop.stac_search.is_search`)
    resolved to the VRTs of the Items found; ``say`` hears one line a search. Refusals (no Item, a
    catalog that cannot be read, Items without the bands or cloud mask) are one line each."""
    earlier, later = list(earlier), list(later)
    asked = [(f, x) for f, xs in (("--earlier", earlier), ("--later", later), ("--sar", [sar]),
                                  ("--sar-earlier", [sar_earlier])) for x in xs if x and is_search(x)]
    out = FoundDates(earlier, later, sar, sar_earlier)
    if not asked:
        return out
    for f, x in asked:  # an Item's or a raster's URL: say what the flag takes, before any search is asked
        if (bad := not_a_search(f, x)) is not None:
            raise bad
    check_suffixes([("", scene)])  # opened next, to search over
    for flag in ("--earlier", "--later"):
        if len(twice := [x for f, x in asked if f == flag]) > 1:
            raise BandbridgeError(f"{flag} {' and '.join(twice)}: two searches; give one ({STAC_DATES} dates are "
                                  "taken from it), beside files if you like")
    sc = _scene(scene, *asked[0])
    searched = {}  # one search a source: -e and --later of the same one share it, over both windows
    for x in dict.fromkeys(x for f, x in asked if f in ("--earlier", "--later")):
        flags = [f for f, y in asked if y == x and f in ("--earlier", "--later")]
        days = [d for f in flags for d in _side(sc, -1 if f == "--earlier" else 1)]
        searched[x] = _search(sc, x, flags[0], min(days), max(days))
    for flag, xs, sign in (("--earlier", out.earlier, -1), ("--later", out.later, 1)):
        for i, x in enumerate(xs):
            if is_search(x):
                taken = _optical(sc, x, flag, sign, say, searched[x])
                xs[i:i + 1] = [_vrt(sc, it, x, flag, sc.names, True) for it, _ in taken]
                out.tags[f"bandbridge_fill_stac_{flag[2:]}"] = _listed(it for it, _ in taken)
    if sar and is_search(sar):
        then = None if sar_earlier else max((d for x in out.earlier if (d := date_of(x))), default=None)
        now_it, then_it = _sar(sc, sar, then, say)
        out.sar = _vrt(sc, now_it, sar, "--sar", ["VV", "VH"], False)
        out.tags["bandbridge_fill_stac_sar"] = _listed([now_it])
        if then_it is not None:
            out.sar_earlier = _vrt(sc, then_it, sar, "--sar", ["VV", "VH"], False)
            out.tags["bandbridge_fill_stac_sar_earlier"] = _listed([then_it])
    if sar_earlier and is_search(sar_earlier):
        then = max((d for x in out.earlier if (d := date_of(x))), default=None)  # the nearest earlier date
        if then is None:
            raise BandbridgeError(f"--sar-earlier {sar_earlier}: no earlier date to search beside; give --earlier "
                                  "(a file or stac) too")
        _, then_it = _sar(sc, sar_earlier, then, say, "--sar-earlier")
        if then_it is None:
            raise BandbridgeError(f"--sar-earlier {sar_earlier}: no Sentinel-1 Item with VV and VH over {sc.path} "
                                  f"within {STAC_SAR_DAYS} days of {then}; give the SAR file or drop --sar-earlier")
        out.sar_earlier = _vrt(sc, then_it, sar_earlier, "--sar-earlier", ["VV", "VH"], False)
        out.tags["bandbridge_fill_stac_sar_earlier"] = _listed([then_it])
    return out


def _listed(items) -> str:
    return ", ".join(f"{it.id} ({item_date(it)})" for it in items)


def _scene(scene: str, flag: str, source: str) -> _Scene:
    """What a search needs of the scene: its date (refused in one line without one) and footprint."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds
    r = open_rows(scene, "")
    g = r.layer.grid
    if r.layer.when is None:
        raise BandbridgeError(f"{flag} {source}: {scene} states no date (a date tag such as ACQUISITIONDATE, or "
                              "YYYYMMDD in its name) to search from; give it one (gdal_edit.py -mo "
                              "ACQUISITIONDATE=YYYY-MM-DD) or give the dates' files")
    if g.crs is None:
        raise BandbridgeError(f"{flag} {source}: {scene} has no coordinate system, so no place to search; give "
                              "the dates' files")
    bbox = transform_bounds(g.crs, "EPSG:4326", *array_bounds(g.height, g.width, g.transform), densify_pts=21)
    return _Scene(scene, r.layer.when, list(r.layer.names), g, tuple(bbox))


def _search(sc: _Scene, source: str, flag: str, first: date, last: date, default: str | None = None):
    """``(collection, Items)`` of one search over the scene's footprint from ``first`` to ``last``."""
    return search_items(source, sc.bbox, datetime.combine(first, datetime.min.time(), timezone.utc),
                        datetime.combine(last, datetime.max.time(), timezone.utc), flag, *[d for d in [default] if d])


def _side(sc: _Scene, sign: int) -> tuple[date, date]:
    """The first and last day searched on one side of the scene (``sign`` −1 before, 1 after)."""
    near, far = sc.when + timedelta(days=sign), sc.when + timedelta(days=sign * STAC_DAYS)
    return min(near, far), max(near, far)


def _optical(sc: _Scene, source: str, flag: str, sign: int, say, found: tuple[str, list]
             ) -> list[tuple[object, float]]:
    """The Items taken on one side of the scene (``sign`` −1 before, 1 after) of those ``found`` (``(collection,
    Items)``), nearest first, with their clear share: every scene band and a cloud mask, at least
    :data:`STAC_CLEAR_MIN` clear, one a date, at most :data:`STAC_DATES`."""
    (first, last), (coll, items) = _side(sc, sign), found
    items = [it for it in items if first <= item_date(it) <= last]
    window = f"from {first} to {last} ({STAC_DAYS} days {'before' if sign < 0 else 'after'} the scene's {sc.when})"
    if not items:
        raise BandbridgeError(f"{flag} {source}: no Item of {coll} over {sc.path} {window}; give a clear scene of "
                              f"the place with {flag} FILE")
    usable = [it for it in items if not _lacks(it, sc.names)]
    if not usable:
        it = items[0]
        raise BandbridgeError(f"{flag} {source}: {len(items)} Item(s) of {coll} over {sc.path} {window}, none with the "
                              f"scene's bands {sc.names} and a cloud mask (SCL or QA_PIXEL) as assets (Item {it.id} "
                              f"lacks {', '.join(_lacks(it, sc.names))}); name the collection of the scene's sensor "
                              "(stac:COLLECTION, URL#COLLECTION)")
    taken, looked = [], []
    for when in sorted({item_date(it) for it in usable}, key=lambda d: abs((d - sc.when).days)):
        same = sorted((it for it in usable if item_date(it) == when), key=cloud_cover)
        share, best = max(((_clear_share(sc, it, source, flag), it) for it in same), key=lambda p: p[0])
        looked.append((best, share))
        if share >= STAC_CLEAR_MIN:
            taken.append((best, share))
            if len(taken) == STAC_DATES:
                break
    if not taken:
        best, share = max(looked, key=lambda p: p[1])
        raise BandbridgeError(f"{flag} {source}: {len(usable)} Item(s) of {coll} over {sc.path} {window}, none at "
                              f"least {STAC_CLEAR_MIN:.0%} clear over the scene by its cloud mask (the clearest: "
                              f"{best.id} of {item_date(best)}, {share:.0%}); give a clear scene with {flag} FILE")
    side = "before" if sign < 0 else "after"
    say(f"{flag} {source}: {len(usable)} Item(s) of {coll} with the scene's bands and a cloud mask over "
        f"{Path(sc.path).name} {window}; taken, nearest first: "
        + ", ".join(f"{it.id} ({item_date(it)}, {abs((item_date(it) - sc.when).days)} d {side}, "
                    + ("cloud cover unknown" if cloud_cover(it) > 100 else f"{cloud_cover(it):.0f} % cloud in the Item")
                    + f", {share:.0%} of the scene clear)" for it, share in taken)
        + (f"; {len(looked) - len(taken)} date(s) under {STAC_CLEAR_MIN:.0%} clear passed over"
           if len(looked) > len(taken) else ""))
    return taken


def _lacks(it, names: list[str]) -> list[str]:
    """What of ``names`` and a cloud mask the Item has no asset for."""
    return [n for n in names if band_asset(it, n) is None] + ([] if mask_asset(it) else ["a cloud mask"])


def _sar(sc: _Scene, source: str, then: date | None, say, flag: str = "--sar"):
    """The Sentinel-1 Items (VV and VH assets) nearest the scene's date and ``then`` (None: not
    asked), from one search; refused where none is within :data:`STAC_SAR_DAYS` of the scene's."""
    first = min(sc.when, then or sc.when) - timedelta(days=STAC_SAR_DAYS)
    coll, items = _search(sc, source, flag, first, sc.when + timedelta(days=STAC_SAR_DAYS), SAR_COLLECTION)
    usable = [it for it in items if all(band_asset(it, p) for p in ("VV", "VH"))]

    def nearest(target: date | None):
        near = [it for it in usable if abs((item_date(it) - target).days) <= STAC_SAR_DAYS] if target else []
        return min(near, key=lambda it: abs((item_date(it) - target).days), default=None)
    now_it, then_it = (nearest(sc.when) if flag == "--sar" else None), nearest(then)
    if flag == "--sar" and now_it is None:
        what = f"{len(items)} Item(s), none with VV and VH assets" if items else "no Item"
        raise BandbridgeError(f"{flag} {source}: {what} of {coll} over {sc.path} within {STAC_SAR_DAYS} days of the "
                              f"scene's {sc.when}; name the collection (stac:sentinel-1-rtc, URL#COLLECTION) or give "
                              "the SAR file")
    said = [f"{it.id} ({item_date(it)}, {abs((item_date(it) - d).days)} d from {what})" for it, d, what in
            ((now_it, sc.when, "the scene"), (then_it, then, "the nearest earlier date")) if it is not None]
    say(f"{flag} {source}: Sentinel-1 of {coll} taken: " + ", ".join(said)
        + (f"; none within {STAC_SAR_DAYS} days of the nearest earlier date {then}" if then and then_it is None
           else ""))
    return now_it, then_it


@contextmanager
def _opened(href: str, source: str, flag: str, it):
    """The asset ``href`` opened by GDAL (a remote one through ``/vsicurl/``: headers and windows
    only), any failure one line naming the Item and the asset."""
    import rasterio

    from bandbridge.inference.interop.stac_io import check_format, on_host, shown
    if href.startswith("/vsi"):  # no listing of each URL's folder for side-car files (interop/stac.item_to_vrt)
        os.environ.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    href = on_host(href, f"{flag} {source}: Item {it.id}'s asset")  # a redirect off its host refused before GDAL asks
    try:
        src = rasterio.open(href)
    except Exception as e:  # noqa: BLE001 - GDAL's many errors (missing file, network, not a raster)
        why = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise BandbridgeError(f"{flag} {source}: Item {it.id}'s asset {href} cannot be read ({why}); fix the "
                              "catalog or the network, or give the date's file") from None
    with src:
        check_format(src, f"{flag} {source}: Item {it.id}'s asset {shown(href)}")  # before any pixel is read
        yield src


def _window(sc: _Scene, g: Grid) -> tuple[tuple[int, int, int, int] | None, float]:
    """``fill_rows.covering`` of the scene's footprint on a raster on ``g``: its window (row, column, height,
    width; None where they do not meet) and the footprint's area in its pixels."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds
    s = sc.grid
    return covering(g, transform_bounds(s.crs, g.crs, *array_bounds(s.height, s.width, s.transform), densify_pts=21))


def _clear_share(sc: _Scene, it, source: str, flag: str) -> float:
    """The share of the footprint the Item's cloud mask calls clear (its window read, nothing more;
    what the Item does not cover counts as not clear)."""
    from rasterio.windows import Window
    key, href = mask_asset(it)
    with _opened(href, source, flag, it) as src:
        win, area = _window(sc, Grid(src.crs, src.transform, src.height, src.width))
        if win is None:
            return 0.0
        m = src.read(1, window=Window(win[1], win[0], win[3], win[2])).astype(np.float32)
    # the margin read past the footprint may add a few clear pixels: capped at all of it
    return min(float(clear(m, MASKS.get(key.upper(), "SCL")).sum()) / max(area, 1.0), 1.0)


def _vrt(sc: _Scene, it, source: str, flag: str, names: list[str], masked: bool) -> str:
    """A VRT of the Item's assets of ``names`` (and its cloud mask, ``masked``) windowed to the
    scene's footprint on the finest asset's grid, named as the scene's bands and dated by the Item."""
    from bandbridge.fileio import safe_name
    from bandbridge.inference.interop.vrt import Band, Source, write_vrt
    from bandbridge.inference.runtime.cache import cache_dir
    wanted = [(n, band_asset(it, n)) for n in names]
    if masked:
        key, href = mask_asset(it)
        wanted.append((MASKS.get(key.upper(), "SCL"), (key, href)))
    heads = []
    for name, (key, href) in wanted:
        with _opened(href, source, flag, it) as src:
            heads.append((name, href, Grid(src.crs, src.transform, src.height, src.width), src.dtypes[0], src.nodata))
    if len({h[2].crs for h in heads}) > 1:
        raise BandbridgeError(f"{flag} {source}: Item {it.id}'s assets lie in different coordinate systems; fix the "
                              "catalog or give the date's file")
    data = heads[:len(names)]
    fine = min((h[2] for h in data), key=lambda g: abs(g.transform.a))  # the finest asset's grid
    win, _ = _window(sc, fine)
    if win is None:
        raise BandbridgeError(f"{flag} {source}: Item {it.id}'s assets do not cover {sc.path} though its bbox does; "
                              "fix the catalog or give the date's file")
    r0, c0, h, w = win
    at = fine.transform @ Affine.translation(c0, r0)
    dtype = str(np.result_type(*[d[3] for d in data]))
    bands = []
    for name, href, g, _, nodata in heads:  # each asset's window over the VRT's (a coarser mask resampled, nearest)
        x0, y0 = (~g.transform @ at) @ (0, 0)
        x1, y1 = (~g.transform @ at) @ (w, h)
        src = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        bands.append(Band(dtype, [Source(href, 1, (0, 0, w, h), src)], nodata, name))
    when = item_date(it)
    said = f"{it.get_self_href() or it.id}|{[d[1] for d in heads]}|{(c0, r0, w, h)}|{fine.crs}"
    key = hashlib.sha256(said.encode()).hexdigest()
    folder = cache_dir() / "stac" / "fill" / key[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe_name(it.id)}_{when:%Y%m%d}.vrt"
    write_vrt(path, w, h, fine.crs, at, bands,
              {"BANDBRIDGE_DATE": when.isoformat(), "bandbridge_stac_item": str(it.id)})
    return str(path)
