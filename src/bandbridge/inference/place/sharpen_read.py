"""What ``bandbridge sharpen`` reads: the guides (every band of the fine rasters or band folders,
those on another grid warped onto the finest, bilinearly, strip by strip) and the targets (every
band of the coarse reference, read on its own grid over the guides' footprint, in its stored
units with each band's scale and offset kept). Product folders are read as they are
(``data/landsat.py``, ``data/sentinel2.py``): Landsat's bands in reflectance and kelvin by the MTL,
Sentinel-2's each at its native resolution with the product's scale and offset, and their default
guides and targets; a STAC Item (a local JSON or its URL) as the product it describes
(``interop/stac_bands.py``: its band assets read by window, never downloaded). Every refusal a
user can cause is made here, before any work, in one line: no such file, no such band, the two do
not overlap or look swapped, a band of another physical kind than its product or name says, a guide
band of one value, a pan on a grid not aligned with its MS, a run planned past the memory available
(from the headers); and a pixel that cannot be read, whenever it is read (``reference.pixels_read``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
from affine import Affine

from bandbridge.bands import canonical_band_name
from bandbridge.data.grids import Grid
from bandbridge.data.products import FileBand, band_kind, check_aligned, check_kind
from bandbridge.data.reference import (MASK_NAMES, band_files, inside_mask, pixels_per_cell, pixels_read,
                                      reference_window)
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_regular

Band = FileBand  # one band of an input: its file, 1-based index, name and what its product says of it
PRODUCTS = {"landsat": "its Landsat MTL", "sentinel2": "its Sentinel-2 product"}


def product_of(path: str) -> str:
    """``landsat``, ``sentinel2`` or "" (a raster or a folder of band files read as it is stored); a
    STAC Item's by what it says (``interop/stac_bands.py``)."""
    from bandbridge.data.landsat import is_landsat
    from bandbridge.data.sentinel2 import is_s2
    from bandbridge.inference.interop.stac_bands import is_item_ref, read_item
    if is_item_ref(path):
        return read_item(path, "STAC Item").product
    return "landsat" if is_landsat(path) else "sentinel2" if is_s2(path) else ""


def bands_of(path: str, flag: str) -> list[Band]:
    """Every band of a raster, band folder, product folder or STAC Item: a Landsat or Sentinel-2 folder
    by its reader (``data/landsat.product_bands``, ``data/sentinel2.product_bands``), an Item by
    ``interop/stac_bands.read_item`` (a Sentinel-2 Item as a folder of its band assets), else
    ``data/reference.py``'s naming (descriptions, or a one-band file's stem), the masks left out
    (``SCL``, ``QA_PIXEL``, a file named ``*mask*``)."""
    from bandbridge.data.resampled import registered
    from bandbridge.inference.interop.stac_bands import is_item_ref, read_item
    if is_item_ref(path):
        return read_item(path, flag).bands
    if (stack := registered(path)) is not None:  # a one-grid stack's run: its resampled bands on their own grids
        return stack
    p = Path(path)
    if not p.exists():
        raise BandbridgeError(f"{flag} {p}: no such file or folder; give a raster or a folder of band files")
    check_regular(p, flag, folder_ok=True, what="raster")
    product = product_of(path)
    if product:
        from bandbridge.data import landsat, sentinel2
        try:
            return (landsat if product == "landsat" else sentinel2).product_bands(p)
        except BandbridgeError as e:
            raise BandbridgeError(f"{flag} {e}") from None
    found, _ = band_files(p)
    out = [Band(Path(f), i, n) for f, i, n in found if n not in MASK_NAMES and "MASK" not in n]
    if not out:
        raise BandbridgeError(f"{flag} {p}: holds no band (a folder needs .tif or .jp2 band files)")
    return out


def item_lines(fine: list[str], reference: str) -> list[str]:
    """What ``sharpen`` reads of each STAC Item among ``fine`` and ``reference`` (``--plan``'s words): its
    id and per band the asset; an Item given as both is said once."""
    from bandbridge.inference.interop.stac_bands import is_item_ref, read_item
    said: dict[str, list[str]] = {}
    for p, flag in [(p, "FINE") for p in fine] + [(reference, "--reference")]:
        if is_item_ref(p):
            said.setdefault(p, []).append(flag)
    return [line for p, flags in said.items() for line in read_item(p, flags[0]).lines(" and ".join(flags))]


def one_raster(fine: list[str]) -> Path | None:
    """The one raster file FINE names (a model's input as it is), or None: several inputs, a folder, or a
    STAC Item (their guides are stacked for it)."""
    from bandbridge.data.resampled import registered
    from bandbridge.inference.interop.stac_bands import is_item_ref
    if len(fine) != 1 or is_item_ref(fine[0]) or not Path(fine[0]).is_file() or registered(fine[0]) is not None:
        return None  # a one-grid stack's run: the model reads its native bands stacked, named
    return Path(fine[0])


def default_guides(path: str, bands: list[Band]) -> list[Band]:
    """The guides of ``path`` where ``--guides`` names none: a Landsat folder's reflectance bands (not
    the pan nor cirrus), a Sentinel-2 folder's finest band set (its 10 m bands), every band of others."""
    product = product_of(path)
    if product == "landsat":
        from bandbridge.data.landsat import default_guides as landsat_guides
        return landsat_guides(bands) or bands
    if product == "sentinel2":
        pixels = {b.name: abs(grid_of(b.path).transform.a) for b in bands}  # one product: one CRS
        return [b for b in bands if pixels[b.name] <= 1.01 * min(pixels.values())]
    return bands


def default_targets(path: str, bands: list[Band], fine: Grid) -> list[Band]:
    """The targets of ``path`` where ``--bands`` names none: a Landsat folder's thermal bands; a
    Sentinel-2 folder's finest band set coarser than the guides by two at least (its 20 m bands for
    10 m guides: the 60 m bands are sharpened in a run of their own); every band of others."""
    product = product_of(path)
    if product == "landsat":
        from bandbridge.data.landsat import default_targets as landsat_targets
        return landsat_targets(bands) or [b for b in bands if b.name != "B8"]
    if product == "sentinel2" and fine.crs is not None:
        ks = {b.name: coarser_by(b, fine) for b in bands}  # in the guides' CRS (an aerial in another zone too)
        found = [k for k in ks.values() if k is not None]
        if found:
            return [b for b in bands if ks[b.name] is not None and abs(ks[b.name] - min(found)) <= 0.01 * min(found)]
    return bands


def coarser_by(band: Band, fine: Grid) -> float | None:
    """How many guide pixels a band's pixel spans along a side (``data/reference.pixels_per_cell``,
    the CRSs reconciled); None where that is under ``policy.MIN_K`` or over ``policy.MAX_K``."""
    g = grid_of(band.path)
    try:
        return pixels_per_cell(Grid(g.crs, g.transform @ Affine.scale(band.cell), g.height, g.width), fine,
                               band.path)
    except BandbridgeError:
        return None


def pick(bands: list[Band], wanted: list[str] | None, flag: str, what: str) -> list[Band]:
    """The bands named in ``wanted`` (in its order; all where None), each refused in one line
    where no band has the name."""
    if not wanted:
        return bands
    by = {canonical_band_name(b.name): b for b in bands} | {b.name: b for b in bands}  # Landsat's B4 is B04 too
    out = []
    for w in wanted:
        n = canonical_band_name(w)
        if n in by and by[n] in out:
            raise BandbridgeError(f"{flag} {','.join(wanted)}: names {w} twice; name each band once")
        if n not in by:
            raise BandbridgeError(f"{flag} {w}: no such band among the {what} [{', '.join(b.name for b in bands)}]; "
                                  "name one of those")
        out.append(by[n])
    return out


def grid_of(path: Path) -> Grid:
    from bandbridge.data.reader import raster_info
    info = raster_info(path)
    return Grid(info.crs, info.transform if info.crs is not None else Affine.identity(), info.height, info.width)


@dataclass
class Guides:
    """The guide bands on the finest grid among them."""

    bands: list[Band]
    grids: list[Grid]  # each band's own
    fine: Grid

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bands]

    def warped(self) -> list[str]:
        return [b.name for b, g in zip(self.bands, self.grids) if g != self.fine]

    def read(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[a, b)`` of every guide on the fine grid ``(G, b − a, W)`` float32 (physical values
        where the band's product states them, else stored ones; NaN where unknown) and where all are
        valid. The bands of one file are read at once (a pixel-interleaved file's blocks hold every band)."""
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT
        from rasterio.windows import Window
        f = self.fine
        out = np.full((len(self.bands), b - a, f.width), np.nan, np.float32)
        win = Window(0, a, f.width, b - a)
        files: dict[tuple[Path, bool], list[int]] = {}
        for i, (band, g) in enumerate(zip(self.bands, self.grids)):
            files.setdefault((Path(band.path), g == f), []).append(i)
        for (path, same), at in files.items():
            idx = [self.bands[i].index for i in at]
            with rasterio.open(path) as s, pixels_read(f"FINE {path}", s, f" (the guides' rows {a}–{b - 1})"):
                if same:
                    v = s.read(idx, window=win)
                else:
                    with WarpedVRT(s, crs=f.crs, transform=f.transform, width=f.width, height=f.height,
                                   resampling=Resampling.bilinear, src_nodata=s.nodata, nodata=np.nan,
                                   dtype="float32") as w:
                        v = w.read(idx, window=win)
                for k, i in enumerate(at):
                    out[i] = known(self.bands[i], v[k], s.nodata, s.dtypes[idx[k] - 1])
        return out, np.isfinite(out).all(0)


def open_guides(paths: list[str], wanted: list[str] | None) -> Guides:
    """The guide bands of ``paths`` (``--guides``: only these) and the finest grid among them;
    refuses files of which some have a coordinate system and others none, and plain images of
    different sizes (nothing says how they line up)."""
    found = [(p, bands_of(p, "FINE")) for p in paths]
    if wanted:
        bands = pick([b for _, bs in found for b in bs], wanted, "--guides", "guides")
    else:
        bands = [b for p, bs in found for b in default_guides(p, bs)]
    grids = [grid_of(b.path) for b in bands]
    if len({g.crs is None for g in grids}) > 1:
        raise BandbridgeError("FINE: some guide files have a coordinate system and some none; give georeferenced "
                              "files, or plain images of one size")
    if grids[0].crs is None and len({(g.height, g.width) for g in grids}) > 1:
        raise BandbridgeError("FINE: plain images (no coordinate system) of different sizes cannot be lined up; "
                              "give georeferenced files, or images of one size")
    fine = min(grids, key=lambda g: (abs(g.transform.a * g.transform.e), -g.height * g.width))
    return Guides(bands, grids, fine)


@dataclass
class Targets:
    """The reference's bands over the guides' footprint, in stored units (physical ones, float32, where
    a band's product maps them otherwise than linearly: Landsat's thermal bands in K)."""

    values: np.ndarray  # (Ct, h, w) float32
    valid: np.ndarray  # (h, w) bool: every band finite and not nodata
    grid: Grid
    names: list[str]
    path: str
    k: float
    dtype: str
    scales: list[float]
    offsets: list[float]
    nodata: float | None
    covered: np.ndarray  # (h, w) the share of each cell inside the guides' footprint
    units: list[str] = field(default_factory=list)  # each band's physical units ("K", "reflectance", "")
    bits: int | None = None  # the stored depth the files state (NBITS), where one does


def open_targets(path: str, wanted: list[str] | None, fine: Grid, plan: Callable[[Targets], object] | None = None
                 ) -> Targets:
    """The reference's bands (``--bands``: only these; else :func:`default_targets`) read on
    :func:`target_grid`; refuses, before any pixel is read, a run whose ``plan`` (the run's plan of these
    targets, from their header) needs more memory than there is (:func:`check_memory`), and after, a
    band of another kind than it is said to be (:func:`check_kinds`)."""
    from bandbridge.data.formats import open_raster, stated_bits
    from bandbridge.data.grids import extent_share
    found = bands_of(path, "--reference")
    bands = pick(found, wanted, "--bands", "reference's bands") if wanted else default_targets(path, found, fine)
    cell, ph = bands[0].cell, bands[0].phase
    with open_raster(bands[0].path) as src:
        if (src.crs is None) != (fine.crs is None):
            raise BandbridgeError(f"--reference {path}: one of the reference and the guides has a coordinate system "
                                  "and the other none; give two georeferenced files, or plain images of one extent")
        size, crs = (src.height, src.width), src.crs
        tr = src.transform if crs is not None else Affine.scale(fine.width / src.width, fine.height / src.height)
        dtype, nodata = src.dtypes[bands[0].index - 1], src.nodata
    coarse = ((size[0] - ph[0]) // cell, (size[1] - ph[1]) // cell)
    whole = Grid(crs, tr @ Affine.translation(ph[1], ph[0]) @ Affine.scale(cell), *coarse)
    grid, win, k = target_grid(path, bands, fine, whole)
    if plan is not None:  # the reference's cells over the guides are held whole: their size from the header
        none = np.empty((0, 0), np.float32)
        check_memory(plan(Targets(none, none, grid, [b.name for b in bands], str(path), k, dtype, [], [], nodata,
                                  none)))
    physical = any(b.convert is not None for b in bands)  # no scale/offset carries the product's map: write it
    v = np.empty((len(bands), win[2], win[3]), np.float32)  # filled in place: no list of bands stacked
    scales, offsets, units = [0.0] * len(bands), [0.0] * len(bands), [""] * len(bands)
    files: dict[Path, list[int]] = {}
    depths: list[int | None] = []
    for i, b in enumerate(bands):
        files.setdefault(Path(b.path), []).append(i)
    for f, at in files.items():  # one read a file: a pixel-interleaved file's blocks are decompressed once
        with open_raster(f) as s:
            for i in at:
                b = bands[i]
                if (s.height, s.width) != size or (b.cell, b.phase) != (cell, ph):
                    raise BandbridgeError(f"--reference {path}: its band {b.name} is {s.height}×{s.width} pixels and "
                                          f"{bands[0].name} {size[0]}×{size[1]}; the targets share one grid (sharpen "
                                          "the bands of each resolution in a run of their own)")
                scale, offset = (1.0, 0.0) if physical else b.linear or (s.scales[b.index - 1], s.offsets[b.index - 1])
                scales[i], offsets[i] = float(scale), float(offset)
                units[i] = b.units or (s.units[b.index - 1] or "")
                depths.append(stated_bits(s, b.index))
            with pixels_read(f"--reference {f}", s):  # a corrupt tile, a truncated JP2, a VRT onto no raster
                read_window(s, [bands[i] for i in at], win, cell, physical, v, at, ph)
    valid = np.isfinite(v).all(0) & inside_mask(win, size if cell == 1 else coarse)
    if not valid.any():
        raise BandbridgeError(f"--reference {path}: no clear pixel over the guides (all nodata, NaN or fill); give "
                              "a reference of the same place that holds the bands")
    bits = next((d for d in depths if d), None)  # the stated depth, where a file states one
    t = Targets(v, valid, grid, [b.name for b in bands], str(path), k, "float32" if physical else dtype, scales,
                offsets, None if physical else nodata, extent_share(fine, grid), units, bits)
    check_kinds(t, bands)
    return t


def target_grid(path: str, bands: list, fine: Grid, whole: Grid) -> tuple[Grid, tuple[int, int, int, int], float]:
    """The reference's grid over ``fine``'s footprint (one cell of margin), its window ``(row, col, h, w)`` on
    ``whole`` (its own grid of cells) and ``k``, by ``data/reference.py``, whose refusals hold (no overlap, not
    coarser by ``policy.MIN_K``, swapped), a product's bands as fine as the guides and :func:`check_aligned`'s."""
    try:
        p = Path(path)
        win = reference_window(whole, fine, p)
        grid = Grid(whole.crs, whole.transform @ Affine.translation(win[1], win[0]), win[2], win[3])
        try:
            k = pixels_per_cell(grid, fine, p, swappable="FINE")
        except BandbridgeError as e:
            if not product_of(path) or "coarser" not in str(e):
                raise
            raise BandbridgeError(
                f"--reference {path}: its bands {', '.join(b.name for b in bands)} lie on a grid as fine as the "
                f"guides' ({abs(whole.transform.a):g} against {abs(fine.transform.a):g}): nothing coarser to sharpen (a "
                "Landsat thermal band is read 3 × 3 only on the 30 m OLI grid); name coarser bands with --bands, or give "
                "a coarser raster of them as --reference") from None
        check_aligned(grid, fine, k, path)
    except BandbridgeError as e:  # a URL's refusals name it as given: ``Path`` folds its ``//`` (``http:/…``)
        if str(Path(path)) == path:
            raise
        raise BandbridgeError(str(e).replace(str(Path(path)), path)) from None
    return grid, win, k


def check_memory(plan) -> None:
    """Refuse, from the headers, a run whose plan (``sharpen.SharpenPlan.memory``: the reference's cells
    over the guides, the fit, the strips and the engine's tiles) with this process's resident now needs
    more than the memory available (``runtime/memory.available_bytes``): ``fill``'s rule
    (``fill_checks``), in one line naming the finest guide, its size, the plan and the fix."""
    from bandbridge.fileio import check_size
    from bandbridge.inference.runtime.memory import available_bytes, resident_bytes
    free = available_bytes()
    if free is None:
        return
    need = (m := plan.memory()).peak() - m.resident + float(resident_bytes() or 0)
    g, t = plan.guides, plan.targets
    f = g.fine
    check_size(f"FINE {next(b.path for b, x in zip(g.bands, g.grids) if x == f)}", f.width, f.height,
               f.width * f.height * free / need,  # the plan grows with the pixels
               f"sharpening {len(t.names)} band(s) onto it from --reference {t.path}'s grid over it "
               f"({t.grid.height}×{t.grid.width} cells) is planned at {need / 1e9:.3g} GB peak and this machine has "
               f"{free / 1e9:.3g} GB available now", "sharpen a part at a time (gdal_translate -srcwin on FINE), fewer "
               "bands (--bands), or free memory")


def read_window(s, bands: list[Band], win: tuple[int, int, int, int], cell: int, physical: bool, out: np.ndarray,
                at: list[int], phase: tuple[int, int] = (0, 0)) -> None:
    """Bands ``bands`` of the open raster ``s`` over the window ``win`` of its grid coarsened by
    ``cell`` from ``phase`` (rows, columns), read at once, into ``out[at[i]]`` ``(h, w)`` float32: stored values (physical where
    ``physical``), NaN where unknown (the file's nodata, NaN, a ``uint16`` 0: Sentinel-2's and
    Landsat's fill; a cell any of whose pixels is), one read for all (each block decompressed once)."""
    r0, c0, h, w = (q * cell for q in win)
    r0, c0 = r0 + phase[0], c0 + phase[1]
    kinds = [np.dtype(s.dtypes[b.index - 1]) for b in bands]
    fill = s.nodata if s.nodata is not None else (np.nan if kinds[0].kind == "f" else 0)
    v = s.read([b.index for b in bands], window=((r0, r0 + h), (c0, c0 + w)), boundless=True, fill_value=fill)
    for k, (b, kind, i) in enumerate(zip(bands, kinds, at)):
        x = known(b, v[k], s.nodata, kind, physical)  # a cell > 1: float64 sums, NaN where any pixel is unknown
        out[i] = x if cell == 1 else x.reshape(win[2], cell, win[3], cell).mean((1, 3), dtype=np.float64)


def known(b: Band, v: np.ndarray, nodata: float | None, dtype, physical: bool = True) -> np.ndarray:
    """One band's stored values ``v`` as float32 (physical where ``physical``), NaN where :func:`unknown`."""
    with np.errstate(all="ignore"):  # a product's map on fill values: masked below
        x = np.asarray(b.physical(v) if physical else v).astype(np.float32)
    x[unknown(v, nodata, dtype)] = np.nan
    return x


def unknown(v: np.ndarray, nodata: float | None, dtype) -> np.ndarray:
    """Where stored values ``v`` are unknown: non-finite, the file's nodata, or a ``uint16`` 0 where the
    file states no nodata (Sentinel-2's and Landsat's 0 is fill, never dark ground)."""
    bad = ~np.isfinite(v)
    if nodata is not None and np.isfinite(nodata):
        bad |= v == nodata
    if np.dtype(dtype) == np.uint16 and nodata is None:
        bad |= v == 0
    return bad


def check_kinds(t: Targets, bands: list[Band]) -> None:
    """Refuse a target whose values are not of the kind its product, its units tag or its name says
    (``data/products.check_kind``: a reflectance that reads as kelvin, a band in K outside Earth's
    surface temperatures). The kind is never taken from the name where anything else says it."""
    from bandbridge.inference.interop.stac_bands import is_item_ref
    product = "its STAC Item" if is_item_ref(t.path) else PRODUCTS.get(product_of(t.path), "")
    for i, b in enumerate(bands):
        stated = b.kind or band_kind(b.name, t.units[i])
        why = product or (f"its units tag ({t.units[i]})" if t.units[i] else f"its name ({b.name})")
        band = replace(b, kind=stated, units=b.units or t.units[i])
        v = t.values[i][t.valid].astype(np.float64) * t.scales[i] + t.offsets[i]
        real = np.dtype(t.dtype).kind == "f" or (t.scales[i], t.offsets[i]) != (1.0, 0.0)
        check_kind(v, band, real, f"--reference {t.path}", why)
