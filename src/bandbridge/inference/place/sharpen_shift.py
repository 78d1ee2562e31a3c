"""The reference's grid against the guides' in ``bandbridge sharpen`` (issue 85): measured once before the
fit, by phase correlation of the guides' linear maps to the bands against the bands, on the central
:data:`SHIFT_CELLS` cells.

- **Half a pixel on strong evidence is a grid-convention error** (a file that states its pixels' centres
  where its corners are, or the reverse): :func:`registered` moves the reference's grid by it before the
  fit, and the run says so in a line and in the output's tags. Strong: each axis of the measured shift
  within ``policy.HALF_PIXEL_TOL`` of 0 or ±½, not both 0, on ``policy.SHIFT_CELLS_MIN`` clear cells at
  least, and a linear map of the guides' context fitting the bands on average ``policy.HALF_PIXEL_GAIN``
  better with the guides averaged onto the moved grid (what set them: policy's rules, Major-TOM's native
  20 m and 60 m bands).
- ``--reference-shift none`` keeps the grid as the files state it; ``--reference-shift X,Y`` moves it by
  X columns and Y rows of its own pixels, measured or not (:func:`parse_shift`).
- Any other shift is not corrected: a band the guides look shifted against on strong evidence keeps its
  upsampling, and its line names the amount and the flag that moves it (:func:`misregistered`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid
from bandbridge.errors import BandbridgeError
from bandbridge.policy import SHIFT_CELLS, SHIFT_MOST


def central(h: int, w: int, cells: int = SHIFT_CELLS) -> tuple[slice, slice]:
    """The central window of an ``h × w`` grid holding at most ``cells`` cells (all of a smaller one)."""
    side_h = min(h, max(1, int(np.sqrt(cells * h / w))))
    side_w = min(w, cells // side_h)
    r0, c0 = (h - side_h) // 2, (w - side_w) // 2
    return slice(r0, r0 + side_h), slice(c0, c0 + side_w)


FLAG = "--reference-shift"


def parse_shift(value: str | tuple | None) -> str | tuple[float, float]:
    """``--reference-shift``'s value → ``"auto"``, ``"none"`` or ``(dy, dx)`` (rows, columns) from ``X,Y``
    (columns, rows of the reference's pixels, as GDAL orders x and y); anything else refused in one line."""
    if isinstance(value, tuple):
        return value
    v = (value or "auto").strip().lower()
    if v in ("auto", "none"):
        return v
    try:
        x, y = (float(q) for q in v.split(","))
    except ValueError:
        raise BandbridgeError(f"{FLAG} {value}: give auto, none, or X,Y in the reference's own pixels (columns, "
                              "rows; e.g. 0.5,0.5)") from None
    if not (np.isfinite(x) and np.isfinite(y)) or max(abs(x), abs(y)) > SHIFT_MOST:
        raise BandbridgeError(f"{FLAG} {value}: at most {SHIFT_MOST:g} reference pixel along an axis; a larger error is "
                              "no registration: warp the reference onto the guides first (gdalwarp -te)")
    return (y, x)


def flag_value(dy: float, dx: float) -> str:
    return f"{round(dx, 2):g},{round(dy, 2):g}"


def shift_words(grid: Grid, dy: float, dx: float) -> str:
    """A shift of ``(dy, dx)`` reference pixels in words: ``X +0.50, Y +0.50 reference pixels (+10 m, -10 m
    in x, y)``, the ground amount in the reference's CRS units (none for plain images)."""
    px = f"X {dx:+.2f}, Y {dy:+.2f} reference pixels"
    if grid.crs is None:
        return px
    from rasterio.crs import CRS
    t, crs = grid.transform, CRS.from_user_input(grid.crs)
    gx, gy = t.a * dx + t.b * dy, t.d * dx + t.e * dy
    unit = "°" if crs.is_geographic else " m" if crs.linear_units in ("metre", "meter") else f" {crs.linear_units}"
    fmt = (lambda v: f"{v:+.6f}{unit}") if crs.is_geographic else (lambda v: f"{v:+.1f}{unit}")  # noqa: E731
    return f"{px} ({fmt(gx)}, {fmt(gy)} in x, y)"


@dataclass
class Measured:
    """The shift between the guides and the reference on the central window ``rs, cs`` of its grid."""

    dy: float
    dx: float
    rs: slice
    cs: slice
    ok: np.ndarray  # the window's clear cells the guides cover
    x: np.ndarray  # (G, h, w) the guides' means on the window, NaN as 0
    values: np.ndarray  # (Ct, h, w) the targets on the window


def measure(t, x_c: np.ndarray, cover: np.ndarray, bands: list[int]) -> Measured:
    """The shift of the guides' linear maps to ``bands`` (summed, each standardised: unlike units) against
    the bands, by phase correlation (``grids.estimate_shift``; the targets share one grid)."""
    from bandbridge.data.grids import estimate_shift
    from bandbridge.inference.place.reference_fit import linear_map
    from bandbridge.policy import MIN_COVER
    rs, cs = central(*cover.shape)
    ok = (t.valid & (cover >= MIN_COVER))[rs, cs]
    x, values = np.nan_to_num(x_c[:, rs, cs]), t.values[:, rs, cs]
    z = lambda a: (a - a[ok].mean()) / (a[ok].std() or 1.0)  # noqa: E731 - bands of unlike units summed
    maps = sum(z(linear_map(x, values[b], ok)) for b in bands)
    dy, dx, _ = estimate_shift(maps, sum(z(np.nan_to_num(values[b])) for b in bands), ok)
    return Measured(dy, dx, rs, cs, ok, x, values)


def moved_fits(g, t, m: Measured, dy: float, dx: float, bands: list[int]) -> np.ndarray:
    """``(5, 2, len(bands))``: ``reference_fit.moved_fits`` (the one shift test, with its halves) of each band on
    the window's cells, the guides averaged onto the reference's grid as stated and moved by ``(dy, dx)``, the
    guides read again only over the window (their rows found in their own CRS: a reference in EPSG:4326 over
    UTM guides). ``[0]`` is the whole window's ``(before, after)`` MAE (stored units), then its halves'."""
    from bandbridge.data.grids import rows_under, strip_grid
    from bandbridge.inference.place.fields import Warped
    from bandbridge.inference.place.reference_fit import moved_fits as fits
    from bandbridge.policy import MIN_COVER
    win = Grid(t.grid.crs, t.grid.transform @ Affine.translation(m.cs.start, m.rs.start), m.rs.stop - m.rs.start,
               m.cs.stop - m.cs.start).shifted(dy, dx)
    a0, a1 = rows_under(g.fine, win, margin=1)
    if a1 <= a0:  # no guide row under the window: nothing to compare
        return np.full((5, 2, len(bands)), np.inf)
    xs, cov = Warped(strip_grid(g.fine, a0, a1), win).means(lambda a, b: g.read(a0 + a, a0 + b))
    return fits(m.x, np.nan_to_num(xs), m.values[bands], m.ok & (cov >= MIN_COVER))


def registered(g, t, x_c: np.ndarray, cover: np.ndarray, how, units: list[str]) -> tuple[float, float, str]:
    """``(dy, dx, line)``: the move of the reference's grid the run makes before the fit (0, 0: none) and
    the line that says what was measured and done; ``how``: :func:`parse_shift`'s value."""
    from bandbridge.policy import HALF_PIXEL_GAIN, HALF_PIXEL_TOL, MIN_COVER, SHIFT_CELLS_MIN, percent
    if how == "none":
        return 0.0, 0.0, (f"the reference's grid as its files state it ({FLAG} none): no half-pixel correction; a "
                          "band the guides look shifted against on strong evidence keeps its upsampling")
    if how != "auto":
        return how[0], how[1], f"the reference's grid moved by {shift_words(t.grid, *how)}, as {FLAG} asks"
    n = int((t.valid & (cover >= MIN_COVER)).sum())
    if n < SHIFT_CELLS_MIN:
        return 0.0, 0.0, (f"no shift corrected: {n:,} clear cells, fewer than {SHIFT_CELLS_MIN} to measure one by "
                          f"({FLAG} X,Y moves the reference's grid)")
    bands = list(range(len(t.names)))
    m = measure(t, x_c, cover, bands)
    sy, sx = (0.5 * float(np.clip(np.round(2 * v), -1, 1)) for v in (m.dy, m.dx))
    said = f"measured {shift_words(t.grid, m.dy, m.dx)} off the guides"
    if max(abs(m.dy - sy), abs(m.dx - sx)) > HALF_PIXEL_TOL or (sy, sx) == (0.0, 0.0):
        return 0.0, 0.0, (f"no shift corrected: {said}, not half a pixel (within {HALF_PIXEL_TOL:g}); a band the "
                          f"guides look shifted against on strong evidence keeps its upsampling ({FLAG} X,Y moves "
                          "the reference's grid)")
    before, after = moved_fits(g, t, m, sy, sx, bands)[0]  # the whole window's: a convention error is no false peak
    gain = 1 - float(np.mean(after / np.maximum(before, 1e-30)))
    fits = ", ".join(f"{t.names[b]} {before[b]:.4g} → {after[b]:.4g} {units[b]}" for b in bands)
    if not gain >= HALF_PIXEL_GAIN:
        return 0.0, 0.0, (f"no shift corrected: {said}, near half a pixel, but moved by "
                          f"{flag_value(sy, sx)} a linear map of the guides' context fits the bands only "
                          f"{percent(round(gain, 3))} better ({fits} MAE; {percent(HALF_PIXEL_GAIN)} needed): the "
                          f"grid as its files state it ({FLAG} {flag_value(sy, sx)} moves it)")
    return sy, sx, (f"the reference's grid moved by {shift_words(t.grid, sy, sx)}: {said}, and so moved a linear "
                    f"map of the guides' context fits the bands {percent(round(gain, 3))} better ({fits} MAE): its "
                    "files state it half a pixel off the guides, a corner/centre convention error, corrected "
                    f"({FLAG} none keeps the grid as stated)")


def misregistered(g, t, x_c: np.ndarray, cover: np.ndarray, bands: list[int], units: list[str],
                  moved: tuple[float, float] = (0.0, 0.0)) -> dict[int, str]:
    """Why each of the targets ``bands`` must not take the fit, where the evidence that the guides and
    the reference are misregistered is strong (none where not): a shift of at least
    ``policy.MIN_SHIFT`` reference pixels (:func:`measure`) which a linear map of the guides' context
    fits a band better when the guides are averaged onto the moved grid, on the whole window and on each
    of its halves (``reference_fit.shift_gains``, as the reference's ``register``: a false peak improves
    some halves only).
    The shift is not corrected — a fit across it would carry it into the detail — and the line names
    the amount and the flag that moves the grid (``moved``: the move made already, which it adds to)."""
    from bandbridge.inference.place.reference_fit import shift_gains
    from bandbridge.policy import MIN_SHIFT
    if not bands:
        return {}
    m = measure(t, x_c, cover, bands)
    if max(abs(m.dy), abs(m.dx)) < MIN_SHIFT:
        return {}
    fits = moved_fits(g, t, m, m.dy, m.dx, bands)
    (before, after), gains = fits[0], shift_gains(fits[:, 0], fits[:, 1]).all(axis=0)  # the whole and each half
    total = flag_value(moved[0] + m.dy, moved[1] + m.dx)
    out = {}
    for i, b in enumerate(bands):
        if gains[i]:
            out[b] = (f"the guides and the reference look shifted by {shift_words(t.grid, m.dy, m.dx)}: a linear "
                      f"map of the guides' context fits the band {before[i]:.4g} {units[b]} → {after[i]:.4g} "
                      f"{units[b]} MAE moved by it, so a fit would carry the shift into the band's detail and the best "
                      f"upsampling of the reference as its files state it is written; to use the guides, run again "
                      f"with {FLAG} {total} (or correct the reference's georeference by it: gdal_edit.py -a_ullr)")
    return out


def shift_plan(how) -> str:
    """The plan's line on the reference's grid, by ``--reference-shift``'s value (``sharpen_shift.py``)."""
    from bandbridge.policy import HALF_PIXEL_TOL
    if how == "none":
        return (f"the reference's grid as its files state it ({FLAG} none); a band the guides look shifted against "
                "on strong evidence keeps its upsampling")
    if how != "auto":
        return f"the reference's grid moved by {flag_value(*how)} of its pixels (X,Y), as {FLAG} asks"
    return (f"the reference's grid against the guides' measured first: half a pixel (within {HALF_PIXEL_TOL:g}) "
            f"on strong evidence is a corner/centre convention error, corrected and said ({FLAG} none keeps it "
            "as stated); another shift is not corrected, and a band the guides look shifted against keeps its "
            "upsampling")
