"""``bandbridge sharpen STACK -o OUT``: a stack whose bands all lie on one grid (SNAP's and Earth
Engine's Sentinel-2 exports, SEN12MS: every band on the 10 m grid) sharpened as the product it holds.

Which bands were resampled onto the grid and which are native is found by their names and their
pixels (``data/resampled.py``: blocks of one value, or a spectrum cut below a coarser grid's Nyquist
frequency), both said in the plan; a stack where the two disagree, or with no native band, is refused
in one line. Each resampled band is then read as a product's band on its own grid — its ``k × k`` block
means from where its cells start (``FileBand.cell``/``phase``) — and sharpened from the native bands by
the one sharpen kind (a run per grid, one output: ``sharpen_sets.py``), as a Sentinel-2 product's 20 m
and 60 m sets are (:func:`resolved`: the command's request as the kind runs it). The output holds the resampled bands sharpened, in the stack's order; the native
bands are the stack's own.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from bandbridge.data.products import FileBand
from bandbridge.data.resampled import SAMPLE, Found, check, find, reading, stack_names, with_phase
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.contract import SharpenRequest
from bandbridge.inference.place.sharpen_read import pick, unknown

M_PER_DEGREE = 111_320.0  # along a meridian: a geographic grid's pixel in metres (wildfire_s2_20m's 20 m)
NO_CRS_PIXEL = 10.0  # a plain image's pixel is taken as Sentinel-2's finest, as said


def is_stack_run(fine: list[str], reference: str | None) -> bool:
    """Whether the run is a one-grid stack's: one raster file as FINE, with no ``--reference`` or itself as it."""
    from bandbridge.inference.place.sharpen_read import one_raster
    src = one_raster(fine)
    if src is None:
        return False
    return reference is None or (Path(reference).exists() and Path(reference).resolve() == src.resolve())


def pixel_metres(crs, transform) -> tuple[float, str]:
    """The grid's pixel side in metres and how it was told."""
    if crs is None:
        return NO_CRS_PIXEL, f"no coordinate system: its pixel taken as {NO_CRS_PIXEL:g} m"
    if crs.is_geographic:
        return abs(transform.e) * M_PER_DEGREE, "in degrees"
    try:
        factor = crs.linear_units_factor[1]
    except Exception:  # noqa: BLE001 - a CRS with no linear unit stated: metres, as UTM's
        factor = 1.0
    return abs(transform.a) * factor, ""


def sample(path: Path) -> tuple[np.ndarray, tuple[int, int], dict]:
    """The stack's central :data:`SAMPLE`² window (from a multiple of 6: its blocks' phase kept), float64,
    its unknown pixels at the band's median; the window's corner; the header facts."""
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(path) as s:
        h, w = min(SAMPLE, s.height), min(SAMPLE, s.width)
        r, c = (s.height - h) // 2 // 6 * 6, (s.width - w) // 2 // 6 * 6
        v = s.read(window=Window(c, r, w, h)).astype(np.float64)
        head = {"count": s.count, "descriptions": list(s.descriptions), "crs": s.crs, "transform": s.transform,
                "size": (s.height, s.width)}
        for i in range(s.count):
            bad = unknown(v[i], s.nodata, s.dtypes[i])
            if bad.all():
                raise BandbridgeError(f"{path}: band {i + 1} holds no known pixel in the stack's middle; give a stack "
                                      "whose bands cover it")
            v[i][bad] = np.median(v[i][~bad])
    return v, (r, c), head


def found_bands(path: str) -> tuple[list[Found], list[str]]:
    """Every band of the stack as found (``data/resampled.find``), refused where names and pixels disagree
    or nothing is native or resampled; and the plan's words on how."""
    v, at, head = sample(Path(path))
    names, named = stack_names(head["descriptions"], head["count"])
    metres, how = pixel_metres(head["crs"], head["transform"])
    found = with_phase(find(v, names, metres, at), head["transform"],
                       None if head["crs"] is None or head["crs"].is_geographic else abs(head["transform"].a))
    check(path, found)
    h, w = head["size"]
    lines = [f"{path}: a stack of {len(found)} bands on one {metres:.3g} m grid ({h}×{w}"
             + (f"; {how}" if how else "") + f"); bands {named}; judged on its middle {v.shape[1]}×{v.shape[2]} "
             "pixels (data/resampled.py)",
             f"  native: {', '.join(f.name for f in found if not f.resampled)} (the guides)"]
    for f in found:
        if f.resampled:
            lines.append(f"  {f.name}: resampled from a {f.k * metres:.3g} m grid ({f.how}: {f.why}); averaged "
                         f"back {f.k}×{f.k} and sharpened")
    return found, lines


def stack_file_bands(path: str, found: list[Found]) -> list[FileBand]:
    """The stack's bands as the sharpen path reads them: a native band as it is, a resampled one by its
    ``k × k`` cells from its phase."""
    return [FileBand(Path(path), i + 1, f.name, cell=f.k if f.resampled else 1, phase=f.phase if f.resampled
                     else (0, 0)) for i, f in enumerate(found)]


def targets_and_guides(found: list[Found], bands: list[FileBand], wanted: list[str] | None,
                       guides: list[str] | None) -> tuple[list[str], list[str]]:
    """The targets (``--bands``: only these, each a resampled band) and the guides (``--guides``, else the
    native bands) by name."""
    resampled = [b for b, f in zip(bands, found) if f.resampled]
    if wanted:
        native = {f.name for f in found if not f.resampled}
        for w in wanted:
            if w.upper() in native:
                raise BandbridgeError(f"--bands {w}: native on the stack's grid: nothing to sharpen; name resampled "
                                      f"bands ({', '.join(b.name for b in resampled)})")
        resampled = pick(resampled, wanted, "--bands", "stack's resampled bands")
    chosen = guides or [f.name for f in found if not f.resampled]
    return [b.name for b in resampled], chosen


@contextmanager
def resolved(request: SharpenRequest, say: Callable[[str], None] = lambda s: None) -> Iterator[SharpenRequest]:
    """The command's request as the ``sharpen`` kind runs it (``place/kinds.KINDS``): a one-grid stack alone (or
    as its own ``--reference``) read, while open, as its bands on their own grids (its resampled bands found and
    said, the targets and guides named: :func:`targets_and_guides`); a product folder or STAC Item alone as both
    guides and reference; else as it is."""
    from dataclasses import replace

    from bandbridge.inference.place.sharpen_read import one_raster, product_of
    fine, reference = list(request.fine), request.reference
    if is_stack_run(fine, reference):
        path = str(one_raster(fine))
        found, lines = found_bands(path)
        for line in lines:
            say(line)
        fb = stack_file_bands(path, found)
        targets, chosen = targets_and_guides(found, fb, request.bands and list(request.bands),
                                             request.guides and list(request.guides))
        with reading(path, fb):
            yield replace(request, fine=(path,), reference=path, guides=tuple(chosen), bands=tuple(targets))
        return
    if reference is None:
        if len(fine) != 1 or not product_of(fine[0]):
            raise BandbridgeError("--reference: give the coarse raster whose bands are sharpened; only one stack on "
                                  "one grid, a Sentinel-2 or Landsat folder or a STAC Item sharpens alone")
        request = replace(request, reference=fine[0])
    yield request
