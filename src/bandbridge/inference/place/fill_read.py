"""The inputs of ``bandbridge fill`` read onto the scene's grid: the scene (its stored values and
its cloud mask: Sentinel-2 ``SCL`` or Landsat ``QA_PIXEL`` in the file, beside it, named by a cube
reference's ``#scl``, or the user's ``--mask``), the earlier clear dates (their own clouds masked)
and the SAR backscatter (VV, VH in dB), each reprojected with GDAL (``rasterio.warp``) where its grid
or CRS differs. Every file goes through the one reader (``data/reader.read_raster``) in its stored
units. A user's mistake is one line naming the file or flag and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.transform import array_bounds

from bandbridge.bands import Scaling, band_role, clear
from bandbridge.data.cube_ref import CubeRef, is_cube, parse_ref
from bandbridge.data.grids import PIXELS_CRS, Grid
from bandbridge.data.reader import raster_info, read_raster
from bandbridge.data.reference import file_date, parse_date
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_size
from bandbridge.inference.runtime.memory import available_bytes
from bandbridge.policy import FILL_READ_SHARE, FILL_SNOW_MIN

STORED = Scaling("stored", 0.0, 1.0, units="stored")  # the file's own values, unscaled
MASKS = {"SCL": "SCL", "QA_PIXEL": "QA_PIXEL", "QA": "QA_PIXEL"}  # band name → bands.clear's kind
SNOW_SCL = 11  # the Sentinel-2 scene class "snow or ice" (bands.CLEAR_SCL counts it clear)
READ_BYTES_PER_BAND, READ_BYTES_PER_PX = 12, 2  # a pixel read whole: each band as read, with NaN and on the
# scene's grid (float32 three times), the valid and cloud masks (the allocations counted, not measured)


@dataclass
class Layer:
    """One file on its own grid: ``values (C, H, W)`` stored units (NaN where not valid),
    ``names`` its data bands, ``clear (H, W)`` where its mask says clear (None: no mask found),
    ``masked_by`` what said so."""

    values: np.ndarray
    names: list[str]
    grid: Grid
    when: date | None
    path: str
    dtype: str
    clear: np.ndarray | None = None
    masked_by: str = ""
    nodata: float | None = None
    snow: np.ndarray | None = None  # (H, W) where SCL says snow (None: no SCL)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.values).all(0)


def _subject(flag: str, item: str) -> str:
    return f"{flag} {item}" if flag else item


def check_fits(item: str, width: int, height: int, bands: int, flag: str, free: int | None = None) -> None:
    """Refuse from its header (``width`` × ``height`` px, ``bands``), before it is read, a file
    this machine cannot hold whole: more pixels than :data:`FILL_READ_SHARE` of the memory available
    (``free`` bytes, default now) holds at :data:`READ_BYTES_PER_BAND` a band."""
    free = available_bytes() if free is None else free
    if free is None:
        return
    per_px = READ_BYTES_PER_BAND * max(bands, 1) + READ_BYTES_PER_PX
    most = FILL_READ_SHARE * free / per_px
    check_size(_subject(flag, item), width, height, most,
               f"fill reads it whole, {bands} band(s) at {per_px} bytes a pixel, about "
               f"{width * height * per_px / 1e9:.3g} GB, and takes a file up to {FILL_READ_SHARE:.0%} of the "
               f"{free / 1e9:.3g} GB this machine has available now (about {most / 1e6:.3g} MPix of {bands} band(s))",
               "crop it to the scene's footprint (gdal_translate -projwin) or free memory")


def _read(item: str, flag: str) -> tuple[np.ndarray, list[str], Grid, object]:
    try:
        info = raster_info(item)
        check_fits(item, info.width, info.height, len(info.bands), flag)
        r = read_raster(item, STORED)
    except BandbridgeError as e:
        raise BandbridgeError(f"{flag}{' ' if flag else ''}{e}") from None
    v = r.data.astype(np.float32)
    v[:, ~r.mask] = np.nan
    grid = Grid(info.crs, info.transform if info.transform is not None else Affine.identity(), info.height,
                info.width)
    return v, list(r.bands), grid, info


def date_of(item: str) -> date | None:
    """``item``'s date: a cube reference's ``@DATE``, else its tags or name (``reference.file_date``)."""
    if is_cube(item):
        ref = parse_ref(item)
        return parse_date(ref.date or "")
    import rasterio
    try:
        with rasterio.open(item) as src:
            tags = src.tags()
    except Exception:  # noqa: BLE001 - a band folder: its name may still say the date
        tags = {}
    return file_date(item, tags)


def read_layer(item: str, flag: str) -> Layer:
    """``item`` (a raster file, band folder or cube reference ``cube.nc@DATE[#scl[=FILE]]``) with
    its cloud mask: an ``SCL`` or ``QA_PIXEL`` band in it (taken out of the data bands), a cube
    reference's ``#scl``, or a file beside it whose name holds ``SCL`` or ``QA_PIXEL``."""
    scl = None
    if is_cube(item):
        ref = parse_ref(item)
        scl, item = ref.scl, str(replace(ref, scl=None))
    v, names, grid, info = _read(item, flag)
    layer = Layer(v, names, grid, date_of(item), item, info.dtype, nodata=info.nodata)
    inside = [i for i, n in enumerate(names) if n.upper() in MASKS]
    if inside:
        i = inside[0]
        layer.clear, layer.masked_by = clear(v[i], MASKS[names[i].upper()]), names[i]
        layer.snow = _snow(v[i], MASKS[names[i].upper()])
        keep = [j for j in range(len(names)) if j not in inside]
        layer.values, layer.names = v[keep], [names[j] for j in keep]
    elif scl:  # a companion cube (WorldCereal's 20 m file), nearest onto this grid
        ref = parse_ref(item)
        m, g = scl_cube(ref.file(scl), ref.date, flag)
        what = f"{_subject(flag, item)}: its #scl={scl}"
        m = onto(m[None], g, grid, nearest=True, what=what)[0]
        _covers(m, layer.valid, what, g, grid, item, "name the companion cube of the same place after #scl=")
        layer.clear, layer.masked_by, layer.snow = clear(m, "SCL"), f"SCL of {Path(scl).name}", _snow(m, "SCL")
    elif (beside := mask_beside(item)) is not None:
        q, kind = beside
        what = f"{_subject(flag, item)}: its cloud mask {q.name} (found beside it)"
        m, g = mask_on(str(q), grid, what)
        _covers(m, layer.valid, what, g, grid, item, "put the scene's own mask beside it, or give the gap with --mask")
        layer.clear, layer.masked_by, layer.snow = clear(m, kind), q.name, _snow(m, kind)
    return layer


def mask_beside(item: str) -> tuple[Path, str] | None:
    """The cloud mask ``fill`` takes from beside a raster file: the first ``.tif`` in its folder
    whose name holds ``SCL`` or ``QA_PIXEL``, and its kind (``bands.clear``'s); None for a cube
    reference, a folder, or a file without one."""
    if is_cube(item) or not Path(item).is_file():
        return None
    for q in sorted(Path(item).parent.iterdir()):
        kind = next((k for n, k in MASKS.items() if n in q.name.upper()), None)
        if kind and q != Path(item) and q.suffix.lower() in (".tif", ".tiff"):
            return q, kind
    return None


def _snow(m: np.ndarray, kind: str) -> np.ndarray | None:
    return np.nan_to_num(m) == SNOW_SCL if kind == "SCL" else None


def snow_is_ground(scene: Layer, clear_part: np.ndarray) -> bool:
    """Whether an earlier date's snow (SCL class 11) may stand for the ground under the scene's
    gap: only where the scene's own clear part shows snow, on at least
    :data:`~bandbridge.policy.FILL_SNOW_MIN` of it (or the scene has no SCL to say). Snow on an
    earlier date hides the ground; if the scene now shows none, that snow has melted or was a
    cloud SCL called snow — either way it is no picture of what lies under the gap now."""
    if scene.snow is None or not clear_part.any():
        return True
    return float(scene.snow[clear_part].mean()) >= FILL_SNOW_MIN


def scl_cube(p: Path, when: str | None, flag: str) -> tuple[np.ndarray, Grid]:
    """The ``SCL`` variable of a companion cube at ``when``, undecoded (a class band: its fill
    must not become a float NaN), ``(h, w)`` float32, and its grid."""
    from bandbridge.data.cube_dataset import cube_info, open_cube, step_index, time_dim
    ds = open_cube(p, raw=True)
    if "SCL" not in ds.data_vars:
        raise BandbridgeError(f"{flag}{' ' if flag else ''}{p}: no SCL variable; name the cube that holds the "
                              "scene classification after #scl=")
    t = time_dim(ds)
    info = cube_info(str(p))
    check_fits(f"{p}#SCL", info.width, info.height, 1, flag)
    da = ds["SCL"].isel({t: step_index(ds, CubeRef(p, when))}) if t else ds["SCL"]
    return np.asarray(da.values, np.float32), Grid(info.crs, info.transform, info.height, info.width)


def onto(values: np.ndarray, src: Grid, dst: Grid, nearest: bool = False, what: str = "a layer") -> np.ndarray:
    """``values (C, h, w)`` (NaN: no data) on ``src`` reprojected onto ``dst`` → ``(C, H, W)``,
    bilinear (``nearest`` for classes and masks); NaN where ``src`` has nothing (:func:`unplaced`: refused)."""
    from rasterio.warp import Resampling, reproject
    if (bad := unplaced(what, src, dst)) is not None:
        raise bad
    out = np.full((values.shape[0], dst.height, dst.width), np.nan, np.float32)
    reproject(values.astype(np.float32), out, src_transform=src.transform, dst_transform=dst.transform,
              src_crs=src.crs or PIXELS_CRS, dst_crs=dst.crs or PIXELS_CRS, src_nodata=np.nan, dst_nodata=np.nan,
              resampling=Resampling.nearest if nearest else Resampling.bilinear)
    return out


def unplaced(what: str, src: Grid, dst: Grid) -> BandbridgeError | None:
    """The refusal of ``what`` on ``src`` where it or the scene (``dst``) has no georeference and the other has
    (a CRS without a geotransform has none: its pixels would be metres at the CRS's origin)."""
    if (src.crs is None or src.transform == Affine.identity()) == (dst.crs is None):
        return None
    if dst.crs is None:
        return BandbridgeError(f"{what}: georeferenced ({src.crs}) but the scene has no georeference, so where it "
                               "lies on the scene is unknown; give the scene as a GeoTIFF with its CRS")
    w, s, e, n = array_bounds(dst.height, dst.width, dst.transform)
    why = "a CRS but no geotransform" if src.crs else "no CRS: a PNG, JPEG or plain TIFF"
    return BandbridgeError(f"{what}: has no georeference ({why}), so where it lies on the scene is unknown; give it "
                           f"the scene's (gdal_translate -a_srs {dst.crs} -a_ullr {w:.10g} {n:.10g} {e:.10g} {s:.10g} IN "
                           f"OUT.tif, if it covers the scene's {dst.width}×{dst.height} px)")


def mask_on(item: str, grid: Grid, flag: str, nearest: bool = True) -> tuple[np.ndarray, Grid]:
    """The first band of ``item`` on ``grid`` (nearest), NaN outside it, and its own grid; refused in one line
    when it holds no value at all or has no georeference where the scene has one."""
    v, _, g, _ = _read(item, flag)
    if not np.isfinite(v[0]).any():
        raise holds_nothing(_subject(flag, item), "give a mask with values (nonzero: the gap)")
    return onto(v[:1], g, grid, nearest, _subject(flag, item))[0], g


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


def _covers(m: np.ndarray, valid: np.ndarray, what: str, src: Grid, scene: Grid, scene_path: str, fix: str) -> None:
    """Refuse a layer ``m (H, W)`` on the scene's grid (NaN: none) with no value over any of the
    scene's ``valid`` pixels (:func:`not_covering`); a scene with none is refused for that, by its caller."""
    if valid.any() and not np.isfinite(m)[valid].any():
        raise not_covering(what, src, scene, scene_path, fix)


def shared_bands(scene: Layer, other: Layer, flag: str) -> list[int]:
    """Indices into ``other``'s bands of every band of the scene it holds too (same name), in the
    scene's order; a one-line refusal when it holds none."""
    have = {n.upper(): i for i, n in enumerate(other.names)}
    idx = [have.get(n.upper(), -1) for n in scene.names]
    if all(i < 0 for i in idx):
        raise BandbridgeError(f"{flag} {other.path}: holds none of the scene's bands {scene.names} (it has "
                              f"{other.names}); give an earlier scene of the same sensor")
    return idx


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
    if dtype == "uint16":
        return "dn"
    return "power" if np.isfinite(values).any() and np.nanmedian(values) > 0 else "db"  # all NaN: no median


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
    roles = [band_role(n) for n in s.names]
    if "vv" not in roles or "vh" not in roles:
        raise BandbridgeError(f"{flag} {item}: no VV and VH bands (it has {s.names}); give a Sentinel-1 "
                              "GRD file with both polarisations")
    v = to_db(s.values[[roles.index("vv"), roles.index("vh")]], s.dtype)
    if not np.isfinite(v).all(0).any():
        raise BandbridgeError(f"{flag} {item}: holds no value in VV and VH together (every pixel nodata, NaN or "
                              "zero backscatter); give a Sentinel-1 file that holds data")
    out = onto(v, s.grid, scene.grid, what=f"{flag} {item}")
    _covers(np.where(np.isfinite(out).all(0), 0.0, np.nan), scene.valid, f"{flag} {item}", s.grid, scene.grid,
            scene.path, "give the SAR of the same place")
    return out, s.when
