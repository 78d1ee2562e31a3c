"""A reference found for the user (``predict --reference stac``): the least cloudy STAC Item of a
collection over the input's footprint, within days of its date, and the assets of the band and of
its cloud mask (pystac-client for a STAC API, pystac for a static catalog; ``bandbridge[stac]``).

``--reference`` takes:

- ``stac`` or ``stac:COLLECTION``: Earth Search (:data:`DEFAULT_API`), collection
  ``sentinel-2-l2a`` unless named (``stac:landsat-c2-l2`` on an API that has it);
- an ``http(s)://`` STAC API address, with ``#COLLECTION`` after it where it is not Sentinel-2 L2A;
- a local or ``file://`` static catalog or collection (``catalog.json``), searched item by item.

Every request, link and asset href goes through ``stac_io``'s one policy.

Only the window over the input is read of the chosen asset (``data/reference.py``: a windowed read,
through GDAL's ``/vsicurl/`` for remote COGs). The band is found by its common name (``eo:bands``
or 1.1's ``bands``) or its asset key (``nir``, ``B08``…); the mask by ``scl`` or ``qa_pixel``.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bandbridge.errors import BandbridgeError

DEFAULT_API = "https://earth-search.aws.element84.com/v1"
DEFAULT_COLLECTION = "sentinel-2-l2a"
from bandbridge.policy import WINDOW_DAYS  # either side of the input's date
KEYS = {"nir": ("nir", "nir08", "B08", "B8", "SR_B5", "B5"), "red": ("red", "B04", "SR_B4"),
        "rededge": ("rededge1", "B05"), "swir": ("swir16", "B11", "SR_B6")}
MASKS = ("scl", "SCL", "qa_pixel", "QA_PIXEL")
_AT = "_bandbridge_at"  # where an API's Item is read from, as its hrefs resolve (set by _api_items)
_FILE = {"--reference": "a reference file", "--earlier": "the earlier scene's file",
         "--later": "the later scene's file", "--sar": "the SAR file", "--sar-earlier": "the SAR file"}


@dataclass(frozen=True)
class Found:
    """The Item chosen and what is read of it."""

    href: str  # the band's asset (a path or a GDAL-readable URL)
    mask: str | None  # its cloud mask's asset, if the Item has one
    when: date
    note: str  # one line: which Item and why
    bbox: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)  # the Item's, longitude/latitude

    def covers(self, src: Path) -> bool:
        """Whether the Item's footprint holds all of ``src``'s (then one search serves it too)."""
        w, s, e, n = footprint(src)
        return self.bbox[0] <= w and self.bbox[1] <= s and self.bbox[2] >= e and self.bbox[3] >= n


def is_search(source: str) -> bool:
    """Whether ``--reference`` names a search rather than a raster."""
    s = str(source)
    return s == "stac" or s.startswith("stac:") or s.startswith(("http://", "https://")) or \
        s.endswith(("catalog.json", "collection.json"))


def _where(source: str, default: str = DEFAULT_COLLECTION) -> tuple[str, str]:
    """``(API address or catalog path, collection)`` of a ``--reference`` search (``default``
    where the source names none)."""
    s = str(source)
    if s == "stac" or s.startswith("stac:"):
        return DEFAULT_API, s[5:] or default
    url, hashed, coll = s.partition("#")
    return (url, coll) if hashed else (s, default)


def search_items(source: str, bbox, t0: datetime, t1: datetime, flag: str = "--reference",
                 default: str = DEFAULT_COLLECTION) -> tuple[str, list]:
    """``(collection, Items)`` of one search of ``source`` (as :func:`is_search` takes it) over
    ``bbox`` (longitude/latitude) within ``[t0, t1]``; a static catalog's Items of any collection
    unless the source names one. Failures are one line naming ``flag``."""
    where, coll = _where(source, default)
    if where.startswith(("http://", "https://")):
        return coll, _api_items(where, coll, bbox, t0, t1, flag)
    named = "#" in str(source) or str(source).startswith("stac:")
    return coll, _catalog_items(where, bbox, t0, t1, coll if named else None, flag)


def footprint(src: Path) -> tuple[float, float, float, float]:
    """The input's bounds in longitude and latitude (``west, south, east, north``)."""
    from rasterio.warp import transform_bounds

    from bandbridge.data.reader import raster_info
    info = raster_info(src)
    if info.crs is None:
        raise BandbridgeError(f"--reference stac: {src} has no coordinate system, so no place to search; "
                              "give the reference file itself")
    from rasterio.transform import array_bounds
    b = array_bounds(info.height, info.width, info.transform)
    return transform_bounds(info.crs, "EPSG:4326", *b, densify_pts=21)


def find_reference(src: Path, source: str, when: date | None, role: str, days: int = WINDOW_DAYS) -> Found:
    """The least cloudy Item over ``src`` within ``days`` of ``when`` (nearest in time among
    equals) and its ``role`` band's asset; refuses in one line when none is found."""
    if when is None:
        raise BandbridgeError(f"--reference {source}: {src.name} states no date (tags or name) to search "
                              "around; give it with --reference-date YYYY-MM-DD")
    bbox = footprint(src)
    t0 = datetime.combine(when - timedelta(days=days), datetime.min.time(), timezone.utc)
    t1 = datetime.combine(when + timedelta(days=days), datetime.max.time(), timezone.utc)
    coll, items = search_items(source, bbox, t0, t1)
    usable = [(it, a) for it in items if (a := _checked(source, it, lambda: _asset(it, role))) is not None]
    if not usable:
        raise BandbridgeError(f"--reference {source}: no Item of {coll} with a {role} band over {src.name} "
                              f"within {days} days of {when}; widen the search or give a reference file")
    best, asset = min(usable, key=lambda p: (cloud_cover(p[0]), abs((item_date(p[0]) - when).days)))
    cloud = cloud_cover(best)
    cover = "cloud cover unknown" if cloud > 100 else f"{cloud:.0f} % cloud"
    note = (f"--reference {source}: Item {best.id} of {item_date(best)} ({cover}), the least cloudy of "
            f"{len(usable)} within {days} days of {when}; reading its {asset[0]} asset")
    found = _checked(source, best, lambda: Found(asset[1], (mask_asset(best) or (None, None))[1], item_date(best), note,
                                                 tuple(float(v) for v in best.bbox or (-180.0, -90.0, 180.0, 90.0))))
    href, mask = _check_formats(source, best, (found.href, found.mask))
    return replace(found, href=href, mask=mask)


def _check_formats(source: str, item, paths) -> list:
    """Each asset taken, as GDAL is to open it: a URL where its redirects end within its host
    (``stac_io.on_host``, before GDAL asks), then opened once before the reference reads a pixel of
    it, by ``stac_io.check_format`` (a local one: its VRT's sources); one that cannot be opened is left
    to that read, which says so."""
    import rasterio

    from bandbridge.inference.interop.stac_io import check_format, on_host, shown
    out = []
    for p in paths:
        where = f"--reference {source}: Item {item.id}'s asset {shown(p)}" if p else ""
        p = on_host(p, where) if p else p
        out.append(p)
        try:
            with rasterio.open(p) if p else nullcontext() as s:
                if s is not None:
                    check_format(s, where)
        except rasterio.errors.RasterioError:
            continue
    return out


def _checked(source: str, item, read):
    """``read()`` of what is taken from ``item``, a malformed field one line naming the Item."""
    try:
        return read()
    except (TypeError, ValueError, AttributeError, IndexError, KeyError) as e:
        where = item.get_self_href() or f"Item {item.id}"
        raise BandbridgeError(f"--reference {source}: {where}: a malformed Item ({type(e).__name__}: {e}); "
                              "fix or remove the Item") from None


def _api_items(url: str, coll: str, bbox, t0: datetime, t1: datetime, flag: str = "--reference") -> list:
    try:
        from pystac_client import Client
    except ImportError:
        raise BandbridgeError(f"{flag} with a STAC API needs pystac-client: pip install 'bandbridge[stac]'") from None
    from bandbridge.inference.interop.stac_io import api_io
    try:
        search = Client.open(url, stac_io=api_io(url, f"{flag} {url}")).search(
            collections=[coll], bbox=bbox, datetime=[t0, t1], max_items=200)
        items = list(search.items())
    except BandbridgeError:
        raise
    except Exception as e:  # noqa: BLE001 - the network or the API: one line naming the address
        raise BandbridgeError(f"{flag} {url}: the STAC search failed ({type(e).__name__}: {e}); "
                              f"check the address and the network, or give {_FILE[flag]}") from None
    from bandbridge.inference.interop.stac_io import origin
    for it in items:  # a remote document, at the API's URL: its self link only where that is on the API's host
        at = it.get_self_href()
        at = at if at and at.startswith(("http://", "https://")) and origin(at) == origin(url) else url
        setattr(it, _AT, at)
    return items


def _catalog_items(path: str, bbox, t0: datetime, t1: datetime, coll: str | None,
                   flag: str = "--reference") -> list:
    """A static catalog's Items over ``bbox`` within ``[t0, t1]`` (its collection ``coll`` where
    Items name one; None or the default: any); every failure reading it (a file that is no STAC
    JSON, a link to nothing, an Item of the wrong shape) is one line naming ``flag`` and the file."""
    from bandbridge.fileio import check_regular
    from bandbridge.inference.interop.stac import pystac_or_refuse
    pystac_or_refuse()
    p = path[7:] if path.startswith("file://") else path
    if not Path(p).exists():
        raise BandbridgeError(f"{flag} {path}: no such catalog; give a catalog.json or a STAC API address")
    check_regular(p, flag, what="catalog.json")
    out = []
    for it in walk_catalog(p, f"{flag} {path}"):
        try:
            if it.collection_id not in (None, coll) and coll not in (None, DEFAULT_COLLECTION):
                continue
            b = [float(v) for v in (it.bbox or [-180, -90, 180, 90])[:4]]
            if b[0] > bbox[2] or b[2] < bbox[0] or b[1] > bbox[3] or b[3] < bbox[1]:
                continue
            dt = it.datetime or it.common_metadata.start_datetime
            if dt is None or not (t0 <= dt.astimezone(timezone.utc) <= t1):
                continue
        except (TypeError, ValueError, AttributeError, IndexError) as e:
            raise BandbridgeError(f"{flag} {path}: {it.get_self_href() or it.id}: an Item with a malformed "
                                  f"bbox or date ({type(e).__name__}: {e}); fix or remove the Item") from None
        out.append(it)
    return out


def walk_catalog(root: str, flag: str):
    """Every Item of the static catalog or collection ``root``, following its ``child`` and
    ``item`` links once each (a catalog that lists itself, or an ancestor, is not read again);
    each link by ``stac_io``'s policy (a local file, or a URL fetched within its host and deadline),
    any failure one line naming ``flag`` and that file."""
    from bandbridge.inference.interop.stac import pystac_or_refuse
    from bandbridge.inference.interop.stac_io import load_json, resolve
    pystac = pystac_or_refuse()
    seen: set[str] = set()
    todo = [root.removeprefix("file://")]
    while todo:
        href = todo.pop()
        key = href if "://" in href else os.path.realpath(href)
        if key in seen:
            continue
        seen.add(key)
        at, text = _stac_text(href, flag)
        try:
            obj = pystac.read_dict(load_json(text, f"{flag}: {at}"), href=at)
            links = [] if isinstance(obj, pystac.Item) else \
                [(ln.rel, ln.target if isinstance(ln.target, str) else ln.get_href()) for ln in obj.links
                 if ln.rel in ("child", "item")]
        except BandbridgeError:
            raise
        except Exception as e:  # noqa: BLE001 - pystac raises many types for a malformed file
            why = str(e).splitlines()[0][:160] if str(e) else ""
            raise BandbridgeError(f"{flag}: {at} is no readable STAC Catalog, Collection or Item "
                                  f"({type(e).__name__}{': ' + why if why else ''}); fix or re-download it") from None
        if isinstance(obj, pystac.Item):
            yield obj
            continue
        todo.extend(resolve(h, at, f"{flag}: {at}: its '{rel}' link ({h})") for rel, h in reversed(links) if h)


def _stac_text(href: str, flag: str) -> tuple[str, str]:
    """``(where it was read, its text)`` of a catalog's file: a local file, or an http(s) URL by
    ``stac_io.fetch``; an ``s3://`` link is not read."""
    from bandbridge.fileio import check_regular
    from bandbridge.inference.interop.stac_io import fetch
    if href.startswith(("http://", "https://")):
        at, data = fetch(href, f"{flag}: {href}", "the catalog")
        return at, data.decode("utf-8", errors="replace")
    if href.startswith("s3://"):
        raise BandbridgeError(f"{flag}: {href}: a catalog's link to s3:// is not read; give its https:// address")
    if not Path(href).exists():
        raise BandbridgeError(f"{flag}: {href}, which the catalog links to, does not exist; fix the "
                              "catalog's link or restore the file")
    check_regular(href, f"{flag}: linked file", what="STAC JSON")
    return str(Path(href).absolute()), Path(href).read_text(errors="replace")


def item_date(item) -> date:
    """The Item's acquisition date."""
    dt = item.datetime or item.common_metadata.start_datetime
    return dt.date()


def cloud_cover(item) -> float:
    """``eo:cloud_cover`` in per cent; an Item that does not say sorts last (1000)."""
    v = item.properties.get("eo:cloud_cover")
    try:
        return float(v) if v is not None else 1000.0
    except (TypeError, ValueError):  # not a number: as unknown
        return 1000.0


def _names(asset) -> list[str]:
    """Each band's common name (``stac.band_names``: the one reader of an asset's bands), else its name."""
    from bandbridge.inference.interop.stac import band_names
    return [str(n or "") for n in band_names(asset)]


def _asset(item, role: str) -> tuple[str, str] | None:
    """``(key, href)`` of the Item's one-band asset of ``role``: by common name, else by key."""
    from bandbridge.bands import band_role
    for key, a in item.assets.items():
        names = _names(a)
        if len(names) == 1 and (names[0] in KEYS.get(role, ()) or band_role(names[0]) == role):
            return key, _href(item, key)
    for key in KEYS.get(role, (role,)):
        if key in item.assets:
            return key, _href(item, key)
    return None


def _href(item, key: str) -> str:
    """What GDAL opens of the Item's asset ``key``: its href by ``stac_io``'s one policy, refused in one
    line naming the Item, the asset and the href."""
    from bandbridge.inference.interop.stac_io import gdal_href
    href = item.assets[key].href
    return gdal_href(href, getattr(item, _AT, None) or item.get_self_href(),
                     f"STAC Item {item.get_self_href() or item.id}: asset '{key}' ({href})")


def band_asset(item, name: str) -> tuple[str, str] | None:
    """``(key, href)`` of the Item's one-band asset of a raster's band ``name`` (``B04``, ``red``,
    ``VV``): by asset key or band name, else by the band's role (:func:`_asset`)."""
    from bandbridge.bands import band_role
    want = name.upper()
    for key, a in item.assets.items():
        if key.upper() == want or [n.upper() for n in _names(a)] == [want]:
            return key, _href(item, key)
    role = band_role(name)
    return _asset(item, role) if role != "other" else None


def mask_asset(item) -> tuple[str, str] | None:
    """``(key, href)`` of the Item's cloud mask (SCL or QA_PIXEL), if it has one."""
    return next(((k, _href(item, k)) for k in MASKS if k in item.assets), None)
