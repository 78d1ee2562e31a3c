"""A band is never its own guide (issue 98): a guide that is one of the targets — by its name, or by
its cell means matching the target (the reference is that guide's block average: a stack on one grid
given as the guides with its own band averaged as the reference) — is left out of the guides before
any fit, and the plan says so. Left in, the fit would copy the reference through the guide, the
held-out check would find it perfect, and the output would be the reference repeated ``k × k``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine

from bandbridge.bands import canonical_band_name
from bandbridge.data.grids import Grid
from bandbridge.errors import BandbridgeError
from bandbridge.inference.place.sharpen_read import Guides, Targets

ROWS = 64  # the reference's rows of cells the guides are compared on (the middle ones): a sample, not a pass


def same_bands(g: Guides, t: Targets) -> dict[int, str]:
    """``{guide index: why}`` of every guide that is a target: by name, else by its cell means over a
    strip of :data:`ROWS` rows of the reference matching a target's values (a line of gain 1 ± and a residual
    under ``policy.SAME_BAND_SPREAD`` of the target's spread; where the guides lie on the reference's cells)."""
    from bandbridge.policy import CHECK_CELLS, SAME_BAND_SPREAD  # a check on fewer cells says nothing
    names = {canonical_band_name(n): n for n in t.names}
    out = {i: f"it is the target {names[canonical_band_name(b.name)]} (by name)" for i, b in enumerate(g.bands)
           if canonical_band_name(b.name) in names}
    means = strip_means(g, t, [i for i, b in enumerate(g.bands) if i not in out and Path(b.path).exists()])
    if means is None:
        return out
    x, y, ok = means
    for i, xi in x.items():
        for j, name in enumerate(t.names):
            m = ok & np.isfinite(xi)
            if m.sum() < CHECK_CELLS or np.ptp(y[j][m]) == 0:
                continue
            a = np.vstack([xi[m], np.ones(m.sum())]).T
            coef = np.linalg.lstsq(a, y[j][m].astype(np.float64), rcond=None)[0]
            spread = float(np.sqrt(np.mean((a @ coef - y[j][m]) ** 2)) / np.std(y[j][m]))
            if spread < SAME_BAND_SPREAD and abs(coef[0] - 1) < SAME_BAND_SPREAD:  # its values, not another band's line
                out[i] = (f"its cell means are the target {name}'s to {spread:.2%} of its spread (the reference is "
                          "its block average)")
                break
    return out


def strip_means(g: Guides, t: Targets, idx: list[int]):
    """``({guide index: cell means (ROWS, w)}, the targets there (Ct, ROWS, w), the clear cells)`` over the
    middle :data:`ROWS` rows of the reference's cells, or None where the guides do not lie on its cells."""
    from bandbridge.inference.place.fields import Lattice
    from bandbridge.policy import MIN_COVER
    lat = Lattice.of(g.fine, t.grid)
    if not idx or not isinstance(lat, Lattice):
        return None
    k, (r0, _) = lat.k, lat.off
    i0 = max(0, t.grid.height // 2 - ROWS // 2)
    i1 = min(t.grid.height, i0 + ROWS)
    a, b = max(0, i0 * k - r0), min(g.fine.height, i1 * k - r0)  # the fine rows of those cells
    if b <= a:
        return None
    i0 = (a + r0) // k  # the first cell row the strip's first fine row lies in
    fine = Grid(g.fine.crs, g.fine.transform @ Affine.translation(0, a), b - a, g.fine.width)
    cells = Grid(t.grid.crs, t.grid.transform @ Affine.translation(0, i0), (b - 1 + r0) // k - i0 + 1, t.grid.width)
    sub = Lattice.of(fine, cells)
    if not isinstance(sub, Lattice):
        return None
    part = Guides([g.bands[i] for i in idx], [g.grids[i] for i in idx], g.fine)
    try:
        x, cover = sub.means(lambda p, q: part.read(a + p, a + q))
    except BandbridgeError:  # a pixel that cannot be read is the fit's refusal, said where it reads them all
        return None
    rows = slice(i0, i0 + cells.height)
    ok = t.valid[rows] & (cover >= MIN_COVER)
    return {i: x[n] for n, i in enumerate(idx)}, t.values[:, rows], ok


def without(g: Guides, drop: dict[int, str]) -> Guides:
    """``g`` less the guides ``drop`` names; refused in one line where none would be left."""
    if not drop:
        return g
    keep = [i for i in range(len(g.bands)) if i not in drop]
    if not keep:
        raise BandbridgeError(f"FINE: every guide band is a target ({', '.join(g.names)}): nothing is left to guide "
                              "it; give other bands as the guides (--guides), or give a stack alone: `bandbridge "
                              "sharpen STACK -o OUT` finds its resampled bands and sharpens them from its native ones")
    return Guides([g.bands[i] for i in keep], [g.grids[i] for i in keep], g.fine)


def dropped_lines(g: Guides, drop: dict[int, str]) -> list[str]:
    """The plan's words for the guides left out."""
    return [f"guide {g.bands[i].name} left out: {why}; a band is never its own guide" for i, why in drop.items()]
