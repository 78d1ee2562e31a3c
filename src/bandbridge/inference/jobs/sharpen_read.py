"""What ``bandbridge sharpen`` reads: the guides (every band of the fine rasters or band folders,
those on another grid warped onto the finest, bilinearly, strip by strip) and the targets (every
band of the coarse reference, read on its own grid over the guides' footprint, in its stored
units with each band's scale and offset kept). Every refusal a user can cause is made here, before
any work, in one line: no such file, no such band, the two do not overlap, a guide band of one
value, a pan on a grid not aligned with its MS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from bandbridge.bands import canonical_band_name
from bandbridge.data.grids import Grid
from bandbridge.data.reference import MASK_NAMES, band_files, inside_mask, pixels_per_cell, reference_window
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import check_regular

ALIGN_PX = 0.05  # of a fine pixel: a reference whose cell edges fall further than this off the guides'
# pixel edges, at a whole-number k, is a pan and an MS on two lattices (the averaging would mix pixels)


@dataclass(frozen=True)
class Band:
    """One band of an input: its file, 1-based index and name (``canonical_band_name``)."""

    path: Path
    index: int
    name: str


def bands_of(path: str, flag: str) -> list[Band]:
    """Every band of a raster or band folder (``data/reference.py``'s naming: descriptions, or a
    one-band file's stem), the masks left out (``SCL``, ``QA_PIXEL``, a file named ``*mask*``)."""
    p = Path(path)
    if not p.exists():
        raise BandbridgeError(f"{flag} {p}: no such file or folder; give a raster or a folder of band files")
    check_regular(p, flag, folder_ok=True, what="raster")
    found, _ = band_files(p)
    out = [Band(Path(f), i, n) for f, i, n in found if n not in MASK_NAMES and "MASK" not in n]
    if not out:
        raise BandbridgeError(f"{flag} {p}: holds no band (a folder needs .tif or .jp2 band files)")
    return out


def pick(bands: list[Band], wanted: list[str] | None, flag: str, what: str) -> list[Band]:
    """The bands named in ``wanted`` (in its order; all where None), each refused in one line
    where no band has the name."""
    if not wanted:
        return bands
    by = {b.name: b for b in bands}
    out = []
    for w in wanted:
        n = canonical_band_name(w)
        if n not in by:
            raise BandbridgeError(f"{flag} {w}: no such band among the {what} [{', '.join(by)}]; name one of those")
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
        """Rows ``[a, b)`` of every guide on the fine grid ``(G, b − a, W)`` float32 (stored values,
        NaN where unknown) and where all are valid."""
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT
        from rasterio.windows import Window
        f = self.fine
        out = np.full((len(self.bands), b - a, f.width), np.nan, np.float32)
        win = Window(0, a, f.width, b - a)
        for i, (band, g) in enumerate(zip(self.bands, self.grids)):
            with rasterio.open(band.path) as s:
                nodata = s.nodata
                if g == f:
                    v = s.read(band.index, window=win).astype(np.float32)
                else:
                    with WarpedVRT(s, crs=f.crs, transform=f.transform, width=f.width, height=f.height,
                                   resampling=Resampling.bilinear, src_nodata=nodata, nodata=np.nan,
                                   dtype="float32") as w:
                        v = w.read(band.index, window=win).astype(np.float32)
                bad = ~np.isfinite(v)
                if nodata is not None and np.isfinite(nodata):
                    bad |= v == nodata
                if s.dtypes[band.index - 1] == "uint16" and nodata is None:
                    bad |= v == 0  # Sentinel-2's and Landsat's 0 is fill, never dark ground
            out[i] = np.where(bad, np.nan, v)
        return out, np.isfinite(out).all(0)


def open_guides(paths: list[str], wanted: list[str] | None) -> Guides:
    """The guide bands of ``paths`` (``--guides``: only these) and the finest grid among them;
    refuses files of which some have a coordinate system and others none, and plain images of
    different sizes (nothing says how they line up)."""
    bands = pick([b for p in paths for b in bands_of(p, "FINE")], wanted, "--guides", "guides")
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
    """The reference's bands over the guides' footprint, in stored units."""

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


def open_targets(path: str, wanted: list[str] | None, fine: Grid) -> Targets:
    """The reference's bands (``--bands``: only these) read over ``fine``'s footprint with one cell
    of margin (``data/reference.py``'s window and ``k``; its refusals: no overlap, not coarser by
    ``policy.MIN_K``); refuses a pan not aligned with its MS (:func:`check_aligned`)."""
    from bandbridge.data.formats import open_raster
    from bandbridge.data.grids import extent_share
    bands = pick(bands_of(path, "--reference"), wanted, "--bands", "reference's bands")
    with open_raster(bands[0].path) as src:
        if (src.crs is None) != (fine.crs is None):
            raise BandbridgeError(f"--reference {path}: one of the reference and the guides has a coordinate system "
                                  "and the other none; give two georeferenced files, or plain images of one extent")
        size, crs = (src.height, src.width), src.crs
        tr = src.transform if crs is not None else Affine.scale(fine.width / src.width, fine.height / src.height)
        dtype, nodata = src.dtypes[bands[0].index - 1], src.nodata
    p = Path(path)
    win = reference_window(Grid(crs, tr, *size), fine, p)
    grid = Grid(crs, tr @ Affine.translation(win[1], win[0]), win[2], win[3])
    k = pixels_per_cell(grid, fine, p)
    check_aligned(grid, fine, k, path)
    values, scales, offsets = [], [], []
    for b in bands:
        with open_raster(b.path) as s:
            if (s.height, s.width) != size:
                raise BandbridgeError(f"--reference {path}: its band {b.name} is {s.height}×{s.width} pixels and "
                                      f"{bands[0].name} {size[0]}×{size[1]}; the targets share one grid (sharpen the "
                                      "bands of each resolution in a run of their own)")
            fill = s.nodata if s.nodata is not None else (np.nan if np.dtype(s.dtypes[b.index - 1]).kind == "f" else 0)
            values.append(s.read(b.index, window=((win[0], win[0] + win[2]), (win[1], win[1] + win[3])),
                                 boundless=True, fill_value=fill).astype(np.float32))
            scales.append(float(s.scales[b.index - 1]))
            offsets.append(float(s.offsets[b.index - 1]))
    v = np.stack(values)
    valid = np.isfinite(v).all(0) & inside_mask(win, size)
    if nodata is not None:
        valid &= ~(v == nodata).any(0)
    if dtype == "uint16" and nodata is None:
        valid &= (v != 0).all(0)
    if not valid.any():
        raise BandbridgeError(f"--reference {path}: no clear pixel over the guides (all nodata, NaN or fill); give "
                              "a reference of the same place that holds the bands")
    return Targets(v, valid, grid, [b.name for b in bands], str(path), k, dtype, scales, offsets, nodata,
                   extent_share(fine, grid))


def check_aligned(grid: Grid, fine: Grid, k: float, path: str) -> None:
    """Refuse a reference at a whole-number ``k`` on the guides' own coordinate system whose cell
    edges fall off the guides' pixel edges (a pan and an MS on two lattices: each MS cell would
    average parts of pixels, and the output would be shifted by the offset)."""
    if grid.crs != fine.crs or abs(k - round(k)) > 1e-3:
        return
    col, row = ~fine.transform @ (grid.transform.c, grid.transform.f)
    off = max(abs(col - round(col)), abs(row - round(row)))
    if off > ALIGN_PX:
        raise BandbridgeError(f"--reference {path}: its pixel edges fall {off:.2f} guide pixels off the guides' "
                              f"(k = {round(k)}): a pan and its MS share pixel edges; resample one onto the other's "
                              "lattice first (gdalwarp -tap, or -te on the pan's edges)")
