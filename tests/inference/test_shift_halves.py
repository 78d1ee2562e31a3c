"""The shift test on each half of the grid (issue 84): a misregistration moves the whole alike, so the input moved
fits the reference better on every half; a false peak (a thermal frame against its visible one) fits some
halves better only, and is not corrected. ``moved_fits`` by hand on arrays."""

from __future__ import annotations

import numpy as np

from bandbridge.inference.place.reference_fit import context_maps, moved_fits, shift_gains


def _fields(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = rng.random((3, 32, 40)).astype(np.float32)  # the input on the moved grid
    xc = np.roll(xs, 1, axis=2)  # as it is: one cell off
    r = (0.5 * xs[0] + 0.3 * xs[1] - 0.2 * xs[2] + 0.1)[None]  # the reference: exactly linear in the moved input
    return xc, xs, r


def test_a_true_shift_fits_every_half_better():
    xc, xs, r = _fields()
    fits = moved_fits(xc, xs, r, np.ones(r.shape[1:], bool))[:, :, 0]
    assert len(fits) == 5  # the whole, then top, bottom, left, right
    assert all(shift_gains(b, a) for b, a in fits) and all(a < 1e-4 for _, a in fits)
    assert tuple(fits[0]) == (float(context_maps(xc, r, np.ones(r.shape[1:], bool))[0]),
                              float(context_maps(xs, r, np.ones(r.shape[1:], bool))[0]))  # the whole: as before


def test_a_shift_that_helps_one_half_only_is_refused_there():
    xc, xs, r = _fields()
    xs = xs.copy()
    xs[:, 16:] = xc[:, 16:]  # the bottom half gains nothing moved
    fits = moved_fits(xc, xs, r, np.ones(r.shape[1:], bool))[:, :, 0]
    (before, after), top, bottom = fits[0], fits[1], fits[2]
    assert shift_gains(before, after) and shift_gains(*top)  # the whole and the top fit better
    assert not shift_gains(*bottom)  # the bottom does not: register() leaves such a shift alone
