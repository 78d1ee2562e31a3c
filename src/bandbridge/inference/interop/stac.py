"""STAC Items in and out (pystac, ``bandbridge[stac]``).

In: a local STAC Item JSON (STAC 1.0 or 1.1) is an input like a raster. Its red, green and
blue are found by the common names of its assets' bands (1.0's ``eo:bands`` with
``common_name``, or 1.1's ``bands`` with ``eo:common_name``), one asset per band or one asset
holding several, and stacked into a VRT named after the item (``<id>.vrt`` in the cache, the
item copied beside it), which the usual reader and interpretation then read. Assets are local
files, http(s) URLs (GDAL's ``/vsicurl/``: only the byte ranges a read needs) or ``s3://``, each
href by ``stac_io``'s one policy.

Out: with ``--stac`` each output gets a STAC Item beside it (``<output>.json``, e.g.
``nir.tif.json``): the input item's geometry, bbox and datetime (a plain raster's footprint,
and the processing time marked as such), the synthetic band as an asset described by its
``eo:bands`` common name and the model that made it, with the raster extension's data type,
nodata, scale, offset and unit per band, every companion file (index rasters, the expected
error) as an asset of its own, the projection extension's grid (code, shape, transform, bbox),
and a ``derived_from`` link to the input item. Every Item is validated before it is written,
offline: pystac's core schemas and the extensions' schemas shipped in ``schemas/``.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from bandbridge.data.reads import check_open
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_regular

RGB = ("red", "green", "blue")
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
PROJ = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
PROJJSON = "https://proj.org/schemas/v0.7/projjson.schema.json"  # projection's schema refers to it
# extension schema address → the copy shipped in schemas/
SCHEMAS = {EO: "eo-v1.1.0.json", RASTER: "raster-v1.1.0.json", PROJ: "projection-v2.0.0.json"}
REFERENCED = {PROJJSON: "projjson-v0.7.json"}  # schemas the extensions' schemas refer to

# eo:common_name of a band: Sentinel-2's names say exactly which (B8A is nir08, B11 swir16);
# other names by their role. Roles the eo extension has no name for (SAR, gray) get none.
_COMMON_BY_NAME = {"B8A": "nir08", "B09": "nir09", "B11": "swir16", "B12": "swir22"}
_COMMON_BY_ROLE = {"red": "red", "green": "green", "blue": "blue", "nir": "nir", "rededge": "rededge",
                   "coastal": "coastal", "cirrus": "cirrus", "vapour": "nir09", "thermal": "lwir"}


def pystac_or_refuse():
    try:
        import pystac
        return pystac
    except ImportError:
        raise BandbridgeError("STAC items need pystac: pip install 'bandbridge[stac]'") from None


def _item_json(path: Path) -> dict | None:
    """``path``'s JSON when it holds a STAC Item, else None."""
    from bandbridge.inference.interop.stac_io import load_json
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    try:
        d = load_json(path.read_text(), str(path))
    except (OSError, ValueError, BandbridgeError):  # not an Item: check_json_input says what it is
        return None
    return d if isinstance(d, dict) and d.get("type") == "Feature" and "stac_version" in d else None


def check_json_input(path: Path) -> None:
    """A ``.json`` input that is no STAC Item, refused saying what it is (not the raster message)."""
    if path.suffix.lower() != ".json" or not path.is_file() or _item_json(path) is not None:
        return
    from bandbridge.inference.interop.stac_io import load_json
    try:
        d = load_json(path.read_text(), str(path))
    except (OSError, ValueError) as e:
        raise BandbridgeError(f"{path}: not valid JSON ({str(e).splitlines()[0][:120]}); give a STAC "
                              "Item's JSON or a raster") from None
    kind = d.get("type") if isinstance(d, dict) else type(d).__name__
    raise BandbridgeError(f"{path}: JSON of type '{kind}', not a STAC Item (type 'Feature' with "
                          "stac_version); give one Item per input (a Collection's items are its "
                          "links) or a raster")


def is_stac_item(path: Path) -> bool:
    """Whether ``path`` is a JSON file holding a STAC Item."""
    return _item_json(path) is not None


def is_output_item(path: Path) -> bool:
    """Whether ``path`` is an Item that ``--stac`` wrote (a rerun on a folder skips it)."""
    d = _item_json(path)
    return d is not None and "bandbridge:software" in (d.get("properties") or {})


def common_name(band: str) -> str | None:
    """The eo extension's common name of a band name (``B08`` → ``nir``), or None."""
    from bandbridge.bands import band_role, canonical_band_name
    return _COMMON_BY_NAME.get(canonical_band_name(band)) or _COMMON_BY_ROLE.get(band_role(band))


def asset_bands(asset) -> list[dict]:
    """An asset's bands as STAC 1.0 (``eo:bands``) or 1.1 (``bands``) lists them: the one reader (a
    list of another shape is no bands; an entry that is no object, a band without names)."""
    bands = asset.extra_fields.get("eo:bands") or asset.extra_fields.get("bands") or []
    return [b if isinstance(b, dict) else {} for b in bands] if isinstance(bands, list) else []


def _common_names(asset) -> list[str | None]:
    return [b.get("common_name") or b.get("eo:common_name") for b in asset_bands(asset)]


def band_names(asset) -> list[str | None]:
    """Each band of an asset by its common name, else its name (``B08``)."""
    return [c or b.get("name") for c, b in zip(_common_names(asset), asset_bands(asset))]


def _load_item(item_path: Path) -> dict:
    """The item's JSON, or one line naming what is wrong with it."""
    from bandbridge.inference.interop.stac_io import load_json
    try:
        d = load_json(item_path.read_text(), str(item_path))
    except (OSError, ValueError) as e:
        raise BandbridgeError(f"{item_path}: cannot read it as STAC Item JSON ({e}); fix or "
                              "re-download the item") from None
    if not isinstance(d.get("assets"), dict) or not isinstance(d.get("id", ""), str):
        raise BandbridgeError(f"{item_path}: a STAC Item needs an 'assets' mapping and a string "
                              "'id'; fix the item")
    return d


def rgb_sources(item_path: Path) -> list[tuple[str, int]]:
    """(what GDAL opens, 1-based band) of red, green and blue in the item's assets, each href by
    ``stac_io``'s one policy."""
    from bandbridge.inference.interop.stac_io import gdal_href, on_host
    try:
        base = str(Path(item_path).absolute())
        item = pystac_or_refuse().Item.from_dict(_load_item(Path(item_path)), href=base)
    except BandbridgeError:
        raise
    except Exception as e:  # noqa: BLE001 - pystac raises many types for a malformed item
        raise BandbridgeError(f"{item_path}: not a valid STAC Item ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:160] if str(e) else ''}); fix the item") from None
    found: dict[str, tuple[str, int]] = {}
    # One asset per band before an asset holding several (Earth Search's 'red' before its 8-bit
    # 'visual'), GeoTIFFs before other formats (its '-jp2' copies): one kind of file for all three.
    ranked = sorted(item.assets.values(), key=lambda a: (len(_common_names(a)) > 1,
                                                         "tiff" not in (a.media_type or "image/tiff")))
    keys = {id(a): k for k, a in item.assets.items()}
    for asset in ranked:
        for i, name in enumerate(_common_names(asset)):
            if name in RGB and name not in found:
                where = f"{item_path}: asset '{keys[id(asset)]}' ({asset.href})"
                found[name] = (on_host(gdal_href(asset.href, base, where), where), i + 1)  # before GDAL asks
    missing = [c for c in RGB if c not in found]
    if missing:
        raise BandbridgeError(f"{item_path}: no asset with eo:bands common name {', '.join(missing)}; "
                              "the item's assets must describe their bands (eo:bands)")
    return [found[c] for c in RGB]


def _asset_grid(item_path: Path, where: str, band: int) -> tuple:
    """(width, height, transform, crs, dtype, nodata) of one asset band (``where``: what GDAL opens;
    only its header is read, a few ranges for a URL), or one line."""
    import rasterio
    from bandbridge.inference.interop.stac_io import check_format, shown
    href = shown(where)
    remote = where.startswith("/vsi")
    fix = "check the URL" if remote else "fix the asset's href"
    if not remote and not Path(where).exists():
        raise BandbridgeError(f"{item_path}: asset {href} not found; {fix}")
    if not remote:
        check_regular(where, f"{item_path}: asset", what="raster")
        check_open(where)  # a local VRT's sources, at any depth, before GDAL opens it
    try:
        with rasterio.open(where) as s:
            check_format(s, f"{item_path}: asset {href}")
            if band > s.count:
                raise BandbridgeError(f"{item_path}: asset {href} has {s.count} band(s), its "
                                      f"eo:bands name band {band}; fix the item's eo:bands")
            return s.width, s.height, s.transform, s.crs, s.dtypes[band - 1], s.nodata
    except rasterio.errors.RasterioError as e:
        raise BandbridgeError(f"{item_path}: asset {href} is not a readable raster "
                              f"({str(e).splitlines()[0][:120]}); {fix}") from None


def item_to_vrt(item_path: Path) -> Path:
    """A 3-band VRT (red, green, blue) of the item's assets, in the cache; refuses assets on
    different grids. The VRT's name is the item's id made safe (:func:`safe_name`): an id never
    becomes a path outside the cache."""
    from bandbridge.fileio import atomic_write_bytes, safe_name
    from bandbridge.inference.runtime.cache import cache_dir
    from bandbridge.inference.interop.vrt import Band, Source, write_vrt
    item_path = Path(item_path)
    d = _load_item(item_path)
    srcs = rgb_sources(item_path)
    if any(where.startswith("/vsi") for where, _ in srcs):
        # GDAL would first list each URL's folder to find side-car files: one request per asset
        # (slow, or refused, on object stores). Read from the environment by every later read.
        os.environ.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    grids = [_asset_grid(item_path, href, band) for href, band in srcs]
    if len({g[:4] for g in grids}) > 1:
        raise BandbridgeError(f"{item_path}: its red, green and blue assets lie on different grids; "
                              "resample them onto one grid first")
    w, h, tr, crs, dtype, nodata = grids[0]
    bands = [Band(dtype, [Source(where, band)], nodata, name) for (where, band), name in zip(srcs, RGB)]
    key = hashlib.sha256(item_path.read_bytes() + str(item_path.resolve()).encode()).hexdigest()[:16]
    folder = cache_dir() / "stac" / key
    folder.mkdir(parents=True, exist_ok=True)
    vrt = folder / f"{safe_name(d.get('id') or '', 'item')}.vrt"
    if vrt.resolve().parent != folder.resolve():  # belt and braces: safe_name keeps it inside
        raise BandbridgeError(f"{item_path}: its id cannot name a file; fix the item's id")
    atomic_write_bytes(folder / "item.json",
                       json.dumps(d | {"_bandbridge_source": str(item_path.resolve())}).encode())
    return write_vrt(vrt, w, h, crs, tr, bands)


def source_item(src: Path) -> dict | None:
    """The STAC Item an input VRT was made from, or None for a plain raster."""
    p = Path(src).parent / "item.json"
    if Path(src).suffix != ".vrt" or not p.is_file():
        return None
    try:  # a damaged cache entry: as if the VRT were a plain raster
        d = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and isinstance(d.get("_bandbridge_source"), str) else None


def item_path(output: Path) -> Path:
    """Where ``--stac`` writes the Item of ``output``: ``<output>.json`` (``nir.tif.json``)."""
    return Path(output).with_name(Path(output).name + ".json")


def check_items(jobs, overwrite: bool) -> None:
    """Refuse ``--stac`` before any work: an input without georeference (its Item would have no
    geometry), or an Item path that exists (without ``--overwrite``), is the input item itself,
    or lies in a folder that cannot be written. ``jobs``: anything with ``src`` and ``dst``."""
    from bandbridge.data.reader import raster_info
    from bandbridge.data.reads import check_output_file
    pystac_or_refuse()
    for job in jobs:
        parent = source_item(job.src)
        if parent is None and raster_info(job.src).crs is None:
            raise BandbridgeError(f"--stac: {job.src} has no georeference, so its STAC Item would "
                                  "have no geometry; drop --stac for plain images")
        inputs = [job.src] + ([Path(parent["_bandbridge_source"])] if parent else [])
        check_output_file(item_path(job.dst), inputs, overwrite, "--stac")


def write_item(output: Path, src: Path, spec) -> Path:
    """``<output>.json``: a STAC Item of the prediction ``output`` made from ``src``."""
    import rasterio
    from rasterio.warp import transform_bounds

    from bandbridge import __version__
    from bandbridge.fileio import atomic_write_bytes
    pystac = pystac_or_refuse()
    parent = source_item(src)
    with rasterio.open(output) as o:
        bounds = transform_bounds(o.crs, "EPSG:4326", *o.bounds) if o.crs else None
        names = list(o.descriptions)
        epsg = o.crs.to_epsg() if o.crs else None  # the projection extension's fields ({} without a CRS)
        grid = {} if o.crs is None else {**({"proj:code": f"EPSG:{epsg}"} if epsg else {"proj:wkt2": o.crs.to_wkt()}),
                                         "proj:shape": [o.height, o.width], "proj:transform": list(o.transform)[:6],
                                         "proj:bbox": list(o.bounds)}
        companions = [output.with_name(n) for n in filter(None, o.tags().get("bandbridge_companions", "").split(","))]
    if parent is not None:
        geometry, bbox = parent["geometry"], parent.get("bbox")
        props = parent.get("properties", {})
        when = props.get("datetime")
        dt = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None
        extra = {k: props[k] for k in ("start_datetime", "end_datetime") if k in props}
        item_id = f"{parent.get('id') or 'item'}_{spec.name}"
    else:
        if bounds is None:
            raise BandbridgeError(f"--stac: {src} has no georeference, so its STAC Item would have "
                                  "no geometry; drop --stac for plain images")
        w, s, e, n = bounds
        geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
        bbox, dt, extra = [w, s, e, n], datetime.now(timezone.utc), {"bandbridge:datetime": "processing time (the input had none)"}
        item_id = output.stem
    item = pystac.Item(item_id, geometry, bbox, dt, {**extra, "bandbridge:software": f"bandbridge {__version__}",
                                                     **grid},
                       stac_extensions=[EO, RASTER] + ([PROJ] if grid else []))
    item.add_asset("data", pystac.Asset(output.name, media_type=pystac.MediaType.GEOTIFF, roles=["data"],
                                        title=f"synthetic {', '.join(spec.target_names)} ({spec.name})",
                                        extra_fields={"eo:bands": [_band(nm, spec) for nm in names],
                                                      "raster:bands": _raster_bands(output)}))
    for c in companions:  # every file the prediction wrote: index rasters, the expected error
        if c.is_file():
            kind = c.stem.removeprefix(output.stem + "_")
            item.add_asset(kind, pystac.Asset(c.name, media_type=pystac.MediaType.GEOTIFF, roles=["data"],
                                              title=COMPANION_TITLES.get(kind, kind).format(model=spec.name),
                                              extra_fields={"raster:bands": _raster_bands(c)}))
    if parent is not None:  # relative, so the pair of items can move together
        item.add_link(pystac.Link("derived_from", os.path.relpath(parent["_bandbridge_source"], output.parent),
                                  pystac.MediaType.JSON))
    out = item_path(output)
    d = item.to_dict(include_self_link=False, transform_hrefs=False)
    validate_item(d)
    atomic_write_bytes(out, json.dumps(d, indent=1).encode())
    return out


COMPANION_TITLES = {"error": "expected absolute error of the synthetic band ({model}'s error model)",
                    "ndvi": "NDVI from the synthetic NIR", "ndwi": "NDWI from the synthetic NIR",
                    "evi": "EVI from the synthetic NIR"}


def _raster_bands(path: Path) -> list[dict]:
    """The raster extension's ``raster:bands`` of a written file: data type, nodata, and the
    scale, offset and unit that turn its stored values into physical ones (GDAL's own)."""
    import math

    import rasterio
    with rasterio.open(path) as o:
        return [{"data_type": o.dtypes[i], "scale": o.scales[i], "offset": o.offsets[i]}
                | ({} if nd is None else {"nodata": "nan" if isinstance(nd, float) and math.isnan(nd) else nd})
                | ({"unit": o.units[i]} if o.units[i] else {}) for i, nd in enumerate(o.nodatavals)]


def _band(name: str, spec) -> dict:
    """One ``eo:bands`` entry of an output band (``synthetic_B08`` → common name ``nir``)."""
    band = name.removeprefix("synthetic_")
    d = {"name": name} | ({"common_name": common_name(band)} if common_name(band) else {})
    if name.startswith("synthetic_"):
        d["description"] = f"{band} synthesised by bandbridge model {spec.name} from {', '.join(spec.input_names)}"
    return d


def validate_item(d: dict) -> None:
    """Validate an Item against STAC's core schema and those of its extensions, offline: the
    core schemas ship with pystac, the extensions' in ``schemas/`` (an extension with no copy
    there is refused rather than fetched)."""
    from importlib import resources

    from pystac.validation import JsonSchemaSTACValidator, validate_dict
    unknown = [e for e in d.get("stac_extensions", []) if e not in SCHEMAS]
    if unknown:
        raise BandbridgeError(f"STAC extension {unknown[0]} has no schema shipped with bandbridge; "
                              "it cannot be validated offline")
    try:
        validator = JsonSchemaSTACValidator()
    except ImportError:
        raise BandbridgeError("--stac validates its Items with jsonschema: pip install 'bandbridge[stac]'") from None
    folder = resources.files("bandbridge.inference.interop") / "schemas"
    for uri, name in {**SCHEMAS, **REFERENCED}.items():
        validator.schema_cache[uri] = json.loads((folder / name).read_text())
    validate_dict(d, validator=validator)
