"""The sharpener's shift test is the reference's (issue 97 point 4): ``sharpen_shift.misregistered`` holds a band
shifted only where moving the reference's grid fits it better on the whole window and on each half of it
(``reference_fit.moved_fits``), so a false peak that improves some halves only leaves the fit alone. Small
synthetic guides on a 10 m grid and one target on a 20 m grid, by hand; no files."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid
from bandbridge.inference.place import sharpen_shift
from bandbridge.inference.place.fields import Warped

FINE = Grid("EPSG:32631", Affine(10.0, 0, 500_000.0, 0, -10.0, 4_000_000.0), 96, 96)
COARSE = FINE.coarser(2)  # 48 × 48 cells


def _case(false_peak: bool):
    """Guides, targets and the guides' cell means, the target one cell off the guides (x + 1) — and where
    ``false_peak``, its last 3/8 of rows in place, so that moving the grid fits the whole and the top half
    better and the bottom half worse."""
    rng = np.random.default_rng(7)
    guides = rng.random((3, FINE.height, FINE.width)).astype(np.float32)
    rows = lambda a, b: (guides[:, a:b], np.ones((b - a, FINE.width), bool))  # noqa: E731
    x_c, cover = Warped(FINE, COARSE).means(rows)
    x_s, _ = Warped(FINE, COARSE.shifted(0.0, 1.0)).means(rows)
    w = np.array([0.5, 0.3, -0.2], np.float32)
    target = np.tensordot(w, x_s, 1) + 0.1
    if false_peak:
        target[30:] = (np.tensordot(w, x_c, 1) + 0.1)[30:]
    g = SimpleNamespace(fine=FINE, read=rows)
    t = SimpleNamespace(grid=COARSE, values=target[None].astype(np.float32), valid=np.isfinite(target),
                        names=["B05"])
    return g, t, x_c, cover


def test_a_true_shift_is_held_against_the_band_on_every_half():
    g, t, x_c, cover = _case(false_peak=False)
    fits = sharpen_shift.moved_fits(g, t, sharpen_shift.measure(t, x_c, cover, [0]), 0.0, 1.0, [0])
    assert fits.shape == (5, 2, 1) and (fits[:, 1] < fits[:, 0]).all()  # the whole, then each half, fit better moved
    said = sharpen_shift.misregistered(g, t, x_c, cover, [0], ["reflectance"])
    assert list(said) == [0] and "--reference-shift" in said[0]


def test_a_false_peak_that_helps_some_halves_only_leaves_the_band_to_its_fit():
    g, t, x_c, cover = _case(false_peak=True)
    m = sharpen_shift.measure(t, x_c, cover, [0])
    fits = sharpen_shift.moved_fits(g, t, m, m.dy, m.dx, [0])
    (before, after), bottom = fits[0, :, 0], fits[2, :, 0]
    assert after < 0.995 * before and not bottom[1] < bottom[0]  # the whole gains, the bottom half does not
    assert sharpen_shift.misregistered(g, t, x_c, cover, [0], ["reflectance"]) == {}
