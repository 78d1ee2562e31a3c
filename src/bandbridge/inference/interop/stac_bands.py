"""A STAC Item read as the product it describes, for ``bandbridge sharpen`` (``FINE`` or
``--reference``): a local Item JSON or an http(s) URL to one.

A Sentinel-2 L1C/L2A Item (Earth Search's assets named by common name, ``rededge1``, ``swir16``;
Planetary Computer's by band, ``B05``; STAC 1.0 ``eo:bands`` or 1.1 ``bands``) becomes, in the
cache, what a band-per-file folder is: one single-band VRT a band asset (``B05.vrt``), its
georeference the file's own, carrying the asset's ``raster:bands`` scale, offset and nodata
(else the file's), so ``data/sentinel2.product_bands`` reads it as it reads a COG folder and
everything after (defaults, kinds, sets, the output's tags) is unchanged. A Landsat Collection 2
Level-2 Item (``red``/``SR_B4`` … ``lwir11``/``ST_B10``) gives its bands as ``data/landsat.py``
gives a Level-2 folder's: reflectance and surface temperature in K by the assets' scale/offset.
Non-band assets (``scl``, ``aot``, ``wvp``, ``visual``, thumbnails, metadata, QA) are left out.

Asset hrefs are taken by ``stac_io``'s one policy; only the VRT points at them: nothing is
downloaded whole, each read is a window. Every failure is one line naming the flag, the Item and
(for an asset) its key and href.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bandbridge.data.products import REFLECTANCE, TEMPERATURE, FileBand
from bandbridge.errors import BandbridgeError

S2_REDEDGE = {"B05": 0.704, "B06": 0.740, "B07": 0.783}  # µm: 'rededge' names three bands, the wavelength one
WAVELENGTH_TOLERANCE = 0.015  # µm: a band's stated centre this near a red-edge band's is that band
LANDSAT_NAMES = {"coastal": "SR_B1", "blue": "SR_B2", "green": "SR_B3", "red": "SR_B4", "nir08": "SR_B5",
                 "swir16": "SR_B6", "swir22": "SR_B7", "lwir11": "ST_B10", "lwir": "ST_B10"}
_LANDSAT_CODE = re.compile(r"(?:^|_)((?:SR|ST)_B\d{1,2})$", re.IGNORECASE)
_LANDSAT_L1 = re.compile(r"_B\d{1,2}$", re.IGNORECASE)  # a Level-1 band file (…_B10.TIF): DN by the MTL
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".nc")  # a URL that names a raster, never fetched whole
_RASTERS = ("image/tiff", "image/jp2", "image/vnd.stac.geotiff", "application/x-geotiff")


@dataclass(frozen=True)
class ItemBand:
    """One band asset read: the band (``B05``, ``SR_B4``), the asset's key, its href as resolved
    and the path GDAL opens."""

    name: str
    key: str
    href: str
    source: str


@dataclass
class ItemProduct:
    """A STAC Item read: ``product`` ``sentinel2`` or ``landsat``; ``folder`` in the cache, one VRT
    a band; ``bands`` the product's bands as ``sharpen`` reads them."""

    where: str  # the Item as given (a path or a URL)
    id: str
    product: str
    folder: Path
    assets: list[ItemBand]
    bands: list[FileBand] = field(default_factory=list)

    def lines(self, flag: str) -> list[str]:
        """``--plan``'s words: the Item's id and per band the asset it reads."""
        product = "Sentinel-2" if self.product == "sentinel2" else "Landsat"
        head = (f"{flag} {self.where}: STAC Item {self.id} ({product}), {len(self.assets)} band asset(s), each read "
                "by window (nothing downloaded whole):")
        return [head] + [f"  {a.name} from '{a.key}' ({a.href})" for a in self.assets]


_READ: dict[tuple, ItemProduct] = {}  # one read of an Item a run (its URL fetched once): see forget()


def forget() -> None:
    """Forget every Item read, so that the next run fetches its URL again (a command's start; a
    long-lived process between runs: an Item's URL can change its answer), and where its assets' URLs
    ended (``stac_io.on_host``)."""
    from bandbridge.inference.interop import stac_io
    _READ.clear()
    stac_io.forget()


def is_item_ref(path: str) -> bool:
    """Whether ``FINE``/``--reference`` names a STAC Item: an http(s) URL, or a ``.json`` file."""
    s = str(path)
    return s.startswith(("http://", "https://")) or s.lower().endswith(".json")


def read_item(where: str, flag: str) -> ItemProduct:
    """The Item at ``where`` (a local JSON or an http(s) URL) read as its product, its bands' VRTs
    written in the cache; refused in one line naming ``flag``: no such file, a URL that cannot be
    fetched, JSON that is no Item (a Collection, a search's FeatureCollection), no band asset
    recognised, an asset that cannot be opened, a Landsat Level-1 Item."""
    where = str(where)
    remote = where.startswith(("http://", "https://"))
    if not remote:
        from bandbridge.fileio import check_regular
        p = Path(where)
        if not p.exists():
            raise BandbridgeError(f"{flag} {where}: no such file; give a STAC Item's JSON or its URL")
        check_regular(p, flag, what="STAC Item's JSON")  # a folder, a pipe: one line, never read
        st = p.stat()
        memo: tuple = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    else:
        memo = (where,)
    if memo in _READ:
        return _READ[memo]
    if remote:
        base, text = _fetch(where, flag)
    else:
        base, text = str(Path(where).resolve()), Path(where).read_text(errors="replace")
    d = item_dict(text, f"{flag} {where}")
    item = _pystac_item(d, base, flag)  # relative hrefs resolve against the URL a redirect ended at
    props = d.get("properties") or {}  # landsat where the Item says so (platform, constellation, id LC08_…)
    said = " ".join(str(props.get(k) or "") for k in ("platform", "constellation", "instruments")).lower()
    product = "landsat" if "landsat" in said or re.match(r"^L[COTEM]0\d_", item.id or "") else "sentinel2"
    found = _band_assets(item, product, f"{flag} {where}")
    if not found:
        raise BandbridgeError(
            f"{flag} {where}: no Sentinel-2 or Landsat band asset among its assets [{', '.join(item.assets)}]; "
            "sharpen reads Items whose band assets are named by common name (red, rededge1, swir16, lwir11) or by "
            "band (B05, SR_B4), one band an asset")
    level1 = [k for k, _, h, _ in found.values() if _LANDSAT_L1.search(Path(h.split("?")[0]).stem)
              and not _LANDSAT_CODE.search(Path(h.split("?")[0]).stem)]
    if product == "landsat" and (level1 or "l1" in str(item.collection_id or "").lower()):
        raise BandbridgeError(f"{flag} {where}: a Landsat Level-1 Item: its DN become reflectance and kelvin only by "
                              "the MTL; give the Level-2 Item (SR_B*, ST_B10), or the product's folder with its MTL")
    folder = _folder(text, where)
    if any(src.startswith("/vsi") for _, _, _, src in found.values()):
        # GDAL would first list each URL's folder (an object store's prefix) and probe side-car files: a
        # request each (slow, or refused, on object stores). Read from the environment by every later read.
        os.environ.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    assets, bands = [], []
    for name, (key, asset, href, src) in found.items():
        label = f"{flag} {where}: asset '{key}' ({href})"
        vrt, scale, offset, pixel = _band_vrt(folder / f"{name}.vrt", src, asset, label)
        assets.append(ItemBand(name, key, href, src))
        if product == "landsat":
            bands.append(_landsat_band(vrt, name, scale, offset, pixel))
    out = ItemProduct(where, str(d.get("id") or ""), product, folder, assets, bands)
    if product == "sentinel2":
        from bandbridge.data.sentinel2 import product_bands
        out.bands = product_bands(folder)  # the folder of VRTs read as a COG folder is
    _READ[memo] = out
    return out


def item_dict(text: str, where: str) -> dict:
    """The JSON ``text`` of ``where`` as a STAC Item's dict, or one line saying what it is instead."""
    from bandbridge.inference.interop.stac_io import load_json
    try:
        d = load_json(text, where)
    except ValueError as e:
        raise BandbridgeError(f"{where}: not valid JSON ({str(e).splitlines()[0][:120]}); give a STAC Item's "
                              "JSON or its URL") from None
    kind = d.get("type") if isinstance(d, dict) else type(d).__name__
    if not isinstance(d, dict) or kind != "Feature" or "stac_version" not in d:
        raise BandbridgeError(f"{where}: JSON of type '{kind}', not a STAC Item (type 'Feature' with stac_version); "
                              "pass one Item (a Collection's or a search's items are its links and features)")
    if not isinstance(d.get("assets"), dict):
        raise BandbridgeError(f"{where}: a STAC Item without an 'assets' mapping; fix the Item")
    return d


def _fetch(url: str, flag: str) -> tuple[str, str]:
    """``(the URL it ended at, the Item's JSON)`` of ``url`` (``stac_io.fetch``: within its host, a
    deadline and a size; a raster's URL is refused unread), or one line naming it."""
    from bandbridge.inference.interop.stac_io import fetch
    if Path(url.split("?")[0]).suffix.lower() in RASTER_SUFFIXES:
        raise BandbridgeError(f"{flag} {url}: a raster's URL; sharpen reads a STAC Item's URL (its band assets by "
                              "window), or a local raster or folder")
    final, data = fetch(url, f"{flag} {url}")
    return final, data.decode("utf-8", errors="replace")


def _pystac_item(d: dict, href: str, flag: str):
    """The Item as pystac reads it, its self href ``href`` (where it was read; the JSON's own self link
    left out, as pystac does given one) and its asset hrefs as written (``set_self_href`` would rebase them)."""
    from bandbridge.inference.interop.stac import pystac_or_refuse
    pystac = pystac_or_refuse()
    try:
        return pystac.Item.from_dict(d, href=href, preserve_dict=True)
    except Exception as e:  # noqa: BLE001 - pystac raises many types for a malformed Item
        why = str(e).splitlines()[0][:160] if str(e) else ""
        raise BandbridgeError(f"{flag} {href}: not a valid STAC Item ({type(e).__name__}{': ' + why if why else ''}); "
                              "fix the Item") from None


def _band_assets(item, product: str, said: str) -> dict[str, tuple]:
    """``{band: (key, asset, href, GDAL path)}`` of the Item's one-band raster assets, in the product's
    band order; one asset a band: a GeoTIFF before other formats (Earth Search's ``-jp2`` copies), an
    asset named by its key before one named by its band. Each href taken by ``stac_io``'s policy, a
    refusal one line after ``said`` (the flag and the Item)."""
    from bandbridge.inference.interop.stac import asset_bands
    from bandbridge.inference.interop.stac_io import for_gdal, resolve
    ranked = []
    for key, a in item.assets.items():
        entries = asset_bands(a)
        kind = (a.media_type or "image/tiff").lower()
        roles = set(a.roles or [])
        if len(entries) > 1 or not kind.startswith(_RASTERS) or {"thumbnail", "overview", "metadata"} & roles:
            continue
        by_key, name = _code(product, key, entries[0] if entries else {}, a.href)
        if name:
            ranked.append((not kind.startswith("image/tiff"), not by_key, name, key, a))
    found: dict[str, tuple] = {}
    for _, _, name, key, a in sorted(ranked, key=lambda r: r[:2]):
        if name not in found:
            href = resolve(a.href, item.get_self_href(), f"{said}: asset '{key}' ({a.href})")
            found[name] = (key, a, href, for_gdal(href))  # its GDAL path (/vsicurl/, /vsis3/)
    return dict(sorted(found.items(), key=lambda kv: _order(product, kv[0])))


def _code(product: str, key: str, band: dict, href: str) -> tuple[bool, str | None]:
    """``(named by its key, band)`` of one asset: by its key, its band's name, its file's name, its
    common name (``rededge`` by its centre wavelength); ``(False, None)`` for no band of the product."""
    stem = Path(href.split("?")[0]).stem
    if product == "landsat":
        def of(s: str) -> str | None:
            m = _LANDSAT_CODE.search(s)
            return m.group(1).upper() if m else LANDSAT_NAMES.get(s.lower())
    else:
        from bandbridge.data.sentinel2 import band_code as of
    if of(key):
        return True, of(key)
    common = str(band.get("common_name") or band.get("eo:common_name") or "")
    for s in (str(band.get("name") or ""), stem, "" if common == "rededge" else common):
        if s and of(s):
            return False, of(s)
    centre = band.get("center_wavelength") or band.get("eo:center_wavelength")
    if product == "sentinel2" and common == "rededge" and isinstance(centre, (int, float)):
        near = min(S2_REDEDGE, key=lambda b: abs(S2_REDEDGE[b] - centre))
        if abs(S2_REDEDGE[near] - centre) <= WAVELENGTH_TOLERANCE:
            return False, near
    return False, None


def _order(product: str, name: str) -> tuple:
    if product == "sentinel2":
        from bandbridge.data.sentinel2 import RESOLUTION
        return (list(RESOLUTION).index(name),)
    prefix, number = name.rsplit("B", 1)
    return prefix, int(number)


def _folder(text: str, where: str) -> Path:
    """The Item's folder in the cache, named by its JSON and where it was read from."""
    from bandbridge.inference.runtime.cache import cache_dir
    key = hashlib.sha256(text.encode() + b"\0" + where.encode()).hexdigest()[:16]
    folder = cache_dir() / "stac-bands" / key
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _band_vrt(vrt: Path, source: str, asset, label: str) -> tuple[Path, float, float, float]:
    """A one-band VRT of ``source`` (the file's own grid, type and band), carrying the asset's
    ``raster:bands`` scale, offset and nodata, else the file's; ``(vrt, scale, offset, pixel size)``."""
    import rasterio

    from bandbridge.fileio import atomic_write_bytes
    from bandbridge.data.reads import check_open
    from bandbridge.inference.interop.stac_io import check_format, on_host
    from bandbridge.inference.interop.vrt import Band, Source, vrt_text
    local = not source.startswith("/vsi")
    if local and not Path(source).is_file():
        raise BandbridgeError(f"{label}: no such file; fix the asset's href, or give the Item beside its files")
    if local:
        check_open(source)  # a VRT's sources, at any depth, before GDAL opens it
    else:
        source = on_host(source, label)  # the URL its redirects end at, within its host
    try:
        with rasterio.open(source) as s:
            check_format(s, label)
            grid = s.width, s.height, s.crs, s.transform, s.dtypes[0]
            own = s.nodata, s.scales[0], s.offsets[0]
    except rasterio.errors.RasterioError as e:
        fix = "fix the asset's href" if local else "check the URL, the network (and for s3:// your AWS settings)"
        why = str(e).splitlines()[0][:120]
        raise BandbridgeError(f"{label}: cannot be opened as a raster ({why}); {fix}") from None
    stated = _raster_band(asset)
    nodata = stated.get("nodata", own[0])
    nodata = float(nodata) if isinstance(nodata, (int, float)) else own[0]
    scale, offset = float(stated.get("scale", own[1])), float(stated.get("offset", own[2]))
    w, h, crs, tr, dtype = grid
    stated = (scale, offset) if (scale, offset) != (1.0, 0.0) else None  # the band's own: every reader takes it
    text = vrt_text(w, h, crs, tr, [Band(dtype, [Source(source, 1)], nodata, vrt.stem, scale=stated)])
    atomic_write_bytes(vrt, text.encode())
    return vrt, scale, offset, abs(tr.a)


def _raster_band(asset) -> dict:
    """The asset's first ``raster:bands`` entry (STAC 1.1: its ``bands``' raster fields), numbers only."""
    raw = asset.extra_fields.get("raster:bands") or asset.extra_fields.get("bands") or [{}]
    first = raw[0] if isinstance(raw, list) and raw and isinstance(raw[0], dict) else {}
    got = {k: first.get(k, first.get(f"raster:{k}")) for k in ("scale", "offset", "nodata")}
    return {k: v for k, v in got.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _landsat_band(vrt: Path, name: str, scale: float, offset: float, pixel: float) -> FileBand:
    """A Level-2 band as ``data/landsat.product_bands`` gives a folder's: surface reflectance or surface
    temperature in K by the asset's scale/offset (the product guide's where neither the Item nor the
    file states one); a thermal band on the 30 m grid averaged ``TIRS_CELL`` × ``TIRS_CELL`` as a target."""
    from bandbridge.data.landsat import C2_SR, C2_ST, OLI_PIXEL, TIRS_CELL
    hot = name.startswith("ST_")
    linear = (scale, offset) if (scale, offset) != (1.0, 0.0) else (C2_ST if hot else C2_SR)
    cell = TIRS_CELL if hot and abs(pixel - OLI_PIXEL) < 0.5 else 1
    return FileBand(vrt, 1, name, TEMPERATURE if hot else REFLECTANCE, "K" if hot else "reflectance", linear, None,
                    cell)
