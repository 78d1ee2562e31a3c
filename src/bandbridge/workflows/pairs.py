"""The user's PAIRS arguments (``adapt``, the web page's calibration) as data sources, and every
check on them before any work: files named by their own bands, one grid per pair, the kind of
values the model makes, a size that fits in memory, and an output folder that never replaces
what the tool did not write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.coords import disjoint_bounds
from rasterio.transform import array_bounds

from bandbridge.bands import FAMILY, SENSOR_BANDS, band_role, same_family
from bandbridge.config import Config
from bandbridge.data.grids import average_onto
from bandbridge.data.reader import raster_info, select_bands
from bandbridge.data.reference import open_reference, raster_grid
from bandbridge.errors import BandbridgeError, BandChoiceError
from bandbridge.inference.core.interpret import Overrides, interpret
from bandbridge.inference.core.look import look_at
from bandbridge.policy import ADAPT_MAX_MPIX as MAX_MPIX  # adapt holds every pair in memory
from bandbridge.policy import MIN_COVER
from bandbridge.spec import BUNDLE_FILES, BUNDLE_META, read_meta


def pair_paths(pairs: list[str]) -> list[Path]:
    """Every file or folder the PAIRS arguments name (what an output must never replace)."""
    return [Path(x) for arg in pairs
            for x in ((arg,) if Path(arg).exists() or ":" not in arg else arg.partition(":")[::2])
            if x and Path(x).exists()]


def own_bundle_file(folder: Path):
    """Whether an entry of ``folder`` is a file of a bundle bandbridge wrote (the folder's
    ``model.yaml`` must be one): what ``--overwrite`` may replace."""
    try:
        ours = "bandbridge_bundle" in read_meta(Path(folder) / BUNDLE_META)
    except (BandbridgeError, OSError):
        ours = False
    return lambda entry: ours and entry.is_file() and not entry.is_symlink() and entry.name in BUNDLE_FILES


def pair_sources(pairs: list[str], base: Config, bands: dict | None = None) -> list[dict]:
    """One source per PAIRS argument: ``FILE`` (input and target bands in one file), ``IN:TARGET``
    (two files) or ``IN_DIR:TARGET_DIR`` (files matched by stem). The user's files are read by
    their own band names (descriptions, colour interpretation), the model's bands found among
    them by role; the model's sensor names a file's bands only when the file has the sensor's
    band count and names none itself. ``bands``: ``{"input": {...}, "target": {...}}`` fields
    (bands, band_names, scaling, sensor) that the user gave, replacing all that."""
    src0 = base.data.sources[0].model_dump(mode="json")
    given = {k: {f: v for f, v in (bands or {}).get(k, {}).items() if v is not None}
             for k in ("input", "target")}
    out = []
    for i, arg in enumerate(pairs):
        name = f"pairs{i + 1}"
        # a file (or folder) whose name holds ':' is still one FILE
        a, sep, b = (arg, "", "") if Path(arg).exists() else arg.partition(":")
        if not sep:
            if not Path(arg).exists():
                raise BandbridgeError(f"{arg}: not a file; give FILE (input and target bands), "
                                      "IN:TARGET files or IN_DIR:TARGET_DIR folders")
            f = Path(arg).resolve()
            one = {**given, "target": {**{k: v for k, v in given["input"].items() if k in ("band_names", "sensor")},
                                       **given["target"]}}  # one file: its names serve both sides
            sel = {k: {**_own_names(src0[k], f, one[k]), **one[k]} for k in ("input", "target")}
            _check_target(f, sel["target"], base, arg)
            out.append({"name": name, "layout": "multiband", "files": [str(f)], **sel})
            continue
        pa, pb = Path(a), Path(b)
        if pa.is_dir() and pb.is_dir():
            first = [first_image(d) for d in (pa, pb)]
            layout = {"layout": "paired", "input_dir": str(pa.resolve()), "target_dir": str(pb.resolve())}
        elif pa.is_file() and pb.is_file():
            first = [pa, pb]
            layout = {"layout": "paired", "pairs": [[str(pa.resolve()), str(pb.resolve())]]}
        else:
            bad = a if not (pa.is_file() or pa.is_dir()) else b
            raise BandbridgeError(f"{arg}: {bad} not found (or one side a file and the other a "
                                  "folder); give IN:TARGET files or IN_DIR:TARGET_DIR folders")
        sel = {k: {**_own_names(src0[k], f, given[k]), **given[k]} if f else {**src0[k], **given[k]}
               for k, f in zip(("input", "target"), first)}
        if first[1] is not None and "bands" not in given["target"]:
            n = len(raster_info(first[1]).bands)
            if n == len(base.data.sources[0].target.bands or []) or n == 1:
                sel["target"]["bands"] = None  # the target file is the target: all its bands
        if first[0] is not None and first[1] is not None:
            check_pair_grids(first[0], first[1], arg)
            if "scaling" not in given["target"]:
                check_target_kind(first[1], base, arg)
        out.append({"name": name, **layout, **sel})
    check_size(pairs)
    return out


IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg")  # the files of a pair folder


def first_image(folder: Path) -> Path | None:
    """The first image of a pair folder (by name), or None."""
    return next((q for q in sorted(Path(folder).iterdir()) if q.suffix.lower() in IMAGE_SUFFIXES), None)


def check_size(pairs: list[str]) -> None:
    """Refuse, before any work, pairs too large to hold in memory (pixels of every file given,
    inputs and targets)."""
    paths = pair_paths(pairs)
    files = [p for p in paths if p.is_file()] + [
        q for p in paths if p.is_dir() for q in sorted(p.iterdir()) if q.suffix.lower() in IMAGE_SUFFIXES]
    mpix = sum(i.height * i.width for i in map(raster_info, files)) / 1e6
    if mpix > MAX_MPIX:
        raise BandbridgeError(f"PAIRS: {mpix:.0f} MPix in the files given; adapt holds them in "
                              f"memory and takes up to {MAX_MPIX} MPix: crop them (gdal_translate "
                              "-srcwin) or use --region rows:0:0.25")


def _own_names(model_sel: dict, f: Path, given: dict) -> dict:
    """The model's band selection for a user's file ``f``, without the model's sensor or band
    names when the file names its own bands or has another count (its names then decide)."""
    sel = dict(model_sel)
    sensor = given.get("sensor", sel.get("sensor"))
    if "band_names" in given or "sensor" in given:
        return sel
    info = raster_info(f)
    named = any(band_role(b) != "other" for b in info.bands) and any(info.descriptions or ())
    if named or (sensor and len(SENSOR_BANDS.get(sensor, [])) != len(info.bands)):
        sel.update(sensor=None, band_names=None)
    return sel


def _check_target(f: Path, target: dict, base: Config, arg: str) -> None:
    """A FILE must hold the target band: said as such, naming the file's bands."""
    info = raster_info(f, target.get("band_names"), target.get("sensor"))
    try:
        select_bands(info.bands, target.get("bands"), f)
    except BandbridgeError:
        want = ", ".join(str(b) for b in (target.get("bands") or base.data.sources[0].target.bands or []))
        raise BandbridgeError(f"{arg}: holds no {want} band (its bands: {', '.join(info.bands)}); "
                              f"give IN:TARGET with the real {want} as a second file, or name the "
                              "file's bands with --band-names") from None


def check_target_kind(target: Path, base: Config, arg: str) -> None:
    """The real band must be values of the kind the model makes (8-bit imagery, reflectance,
    dB): a float reflectance target for an 8-bit model would be read as DN 0–1, a flat band."""
    want = FAMILY.get(base.data.sources[0].target.scaling)
    look = look_at(target)
    if want and look.family and look.family != want:
        raise BandbridgeError(f"{arg}: the real band looks like {look.family} ({look.why}) but "
                              f"{base.name} makes {want}; adapt a model that makes {look.family}, "
                              "or state the target's scaling with --scaling")


def check_pair_grids(a: Path, b: Path, arg: str) -> None:
    """IN and TARGET must cover one place on one grid: refuse two CRSs, or georeferenced
    footprints that do not overlap (pixels would be matched by index, silently wrong)."""
    ia, ib = raster_info(a), raster_info(b)
    if (ia.height, ia.width) != (ib.height, ib.width):
        return  # the reader refuses another size itself, naming both
    if ia.crs is None or ib.crs is None:
        return
    if ia.crs != ib.crs:
        raise BandbridgeError(f"{arg}: the input is in {ia.crs} and the target in {ib.crs}; "
                              "reproject one onto the other's grid (gdalwarp) first")
    ba = array_bounds(ia.height, ia.width, ia.transform)
    bb = array_bounds(ib.height, ib.width, ib.transform)
    half = 0.5 * max(abs(ia.transform.a), abs(ia.transform.e))  # within half a pixel: one grid
    if disjoint_bounds(ba, bb) or max(abs(x - y) for x, y in zip(ba, bb)) > half:
        raise BandbridgeError(f"{arg}: the input and the target lie on different grids "
                              f"({ia.transform.c:.1f}, {ia.transform.f:.1f} vs {ib.transform.c:.1f}, "
                              f"{ib.transform.f:.1f}); pixels would be matched by index: resample "
                              "one onto the other's grid first")


def settle_readings(sources: list[dict], spec, given: dict | None = None) -> list[str]:
    """Read each source's files as ``predict`` reads a file (``interpret``: the file's own GDAL
    scale/offset, else its values, the model's scale where the values cannot tell ×1000 from
    ×10000): where the user gave no ``--scaling``, the source's input scaling becomes that reading,
    and its target's too when it is the same file or a file of the same kind — so two pairs of
    different dtypes are each read as they are. Returns predict's reading line per source, its
    CHECK warnings included."""
    given = given or {}
    user_scaling = {k: (given.get(k) or {}).get("scaling") for k in ("input", "target")}
    lines = []
    for src in sources:
        if src["layout"] == "multiband":  # the source's first input and target file
            f = t = Path(src["files"][0])
        elif src.get("pairs"):
            f, t = Path(src["pairs"][0][0]), Path(src["pairs"][0][1])
        else:
            f, t = first_image(src["input_dir"]), first_image(src["target_dir"])
        if f is None:
            continue
        names = (given.get("input") or {}).get("band_names")
        ov = Overrides(band_names=tuple(names) if names else None, scaling=user_scaling["input"])
        look = look_at(f, ov.band_names)  # one look at the file, for the reading and below
        try:
            reading = interpret(f, spec, ov, look)
        except BandChoiceError:  # the model's bands not found by role: the source's own selection
            lines.append(f"{src['name']}: {f.name}: {look.why}; read as {src['input']['scaling']}")
            continue
        lines.append(f"{src['name']}: {reading.note}")
        if user_scaling["input"] is None:
            src["input"].update(scaling=reading.scaling, vmin=reading.vmin, vmax=reading.vmax)
        if user_scaling["target"] is None and t is not None:
            tl = look_at(t) if t != f else None
            same = t == f or (tl.dtype == look.dtype and same_family(tl.scaling, reading.scaling))
            if same and same_family(reading.scaling, src["target"].get("scaling") or ""):
                src["target"].update(scaling=reading.scaling, vmin=reading.vmin, vmax=reading.vmax)
            elif tl is not None and tl.scaling and tl.scaling != src["target"].get("scaling"):
                # a target file of another type is read as what it holds: a uint16 band read by
                # an 8-bit model's scaling saturates to one value, and every fit scores 0
                lines.append(f"CHECK: {src['name']}: the real band {t.name} is {tl.why}, not the "
                             f"{src['target'].get('scaling')} values the model makes; read as "
                             f"{tl.scaling} (--scaling states both files' scaling instead)")
                src["target"].update(scaling=tl.scaling, vmin=None, vmax=None)
    return lines


def reference_pairs(images: list[str], reference: str, role: str, folder: Path) -> list[str]:
    """Pairs for free (``adapt --reference``): each image averaged onto the grid of the coarse
    ``reference`` of its band of ``role``, beside the reference itself, written into ``folder`` as
    ``IN:TARGET`` pairs (the image in its stored type; cells the reference or the image do not see
    wholly are nodata). A model adapted to them maps the bands to the band at the reference's scale
    and is applied at the images'; the reference's units must be the model's (adapt checks)."""
    out = []
    for i, item in enumerate(images):
        p = Path(item)
        if ":" in item or not p.is_file():
            raise BandbridgeError(f"{item}: with --reference, give the images themselves (no IN:TARGET "
                                  "pairs): the reference is the target")
        with rasterio.open(p) as s:
            x, dtype = s.read().astype(np.float32), s.dtypes[0]
        fine = raster_grid(p)
        ref = open_reference(reference, role, fine)
        xc, cover = average_onto(x, np.isfinite(x).all(0), fine, ref.grid)
        ok = ref.valid & (cover >= MIN_COVER)
        g = ref.grid
        stem = f"{i}_{p.stem}"
        for name, data, kind in ((f"{stem}_coarse.tif", xc, dtype), (f"{stem}_reference.tif", ref.values, ref.dtype)):
            integer = np.dtype(kind).kind in "iu"
            v = np.where(ok, np.rint(data) if integer else data, 0 if integer else np.nan)
            with rasterio.open(folder / name, "w", driver="GTiff", height=g.height, width=g.width,
                               count=v.shape[0], dtype=kind, crs=g.crs, nodata=0 if integer else float("nan"),
                               transform=g.transform if g.crs else rasterio.Affine.identity()) as d:
                d.write(v.astype(kind))
        out.append(f"{folder / f'{stem}_coarse.tif'}:{folder / f'{stem}_reference.tif'}")
    return out
