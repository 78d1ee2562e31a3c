"""``data/grids``' upsampling candidates (nearest, bilinear, cubic convolution, the cubic B-spline,
Lanczos): their kernels against hand-computed weights, the B-spline interpolating (it passes through
every cell's value and reproduces a cubic, which cubic convolution does not), and GDAL's warper
(``upsample_onto``) against the lattice's gathers (``fields.Lattice``)."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from bandbridge.data.grids import GDAL_NAMES, Grid, kernel_weights, upsample_onto

HALF = np.array([1.5, 0.5, 0.5, 1.5])  # a pixel half-way between two cell centres: its four taps' distances


def test_the_kernels_by_hand():
    """Half-way between two centres: Keys (a = −0.5) 9/16 and −1/16; β³ 23/48 and 1/48; Lanczos (a = 3)
    sinc(½)sinc(⅙) = 0.60793, sinc(1.5)sinc(½) = −0.13509, sinc(2.5)sinc(⅚) = 0.02432, over their sum."""
    assert np.allclose(kernel_weights("bilinear", np.array([0.5, 0.5])), [0.5, 0.5])
    assert np.allclose(kernel_weights("cubic", HALF), [-1 / 16, 9 / 16, 9 / 16, -1 / 16])
    assert np.allclose(kernel_weights("bspline", HALF), [1 / 48, 23 / 48, 23 / 48, 1 / 48])
    raw = np.array([0.02432, -0.13509, 0.60793, 0.60793, -0.13509, 0.02432])
    assert np.allclose(kernel_weights("lanczos", np.array([2.5, 1.5, 0.5, 0.5, 1.5, 2.5])), raw / raw.sum(), atol=1e-5)
    assert np.allclose(kernel_weights("bspline", np.array([1.0, 0.0, 1.0, 2.0])), [1 / 6, 2 / 3, 1 / 6, 0])


def _grids(k: int, h: int = 12, w: int = 10) -> tuple[Grid, Grid]:
    coarse = Grid("EPSG:32631", Affine(10.0 * k, 0, 500000, 0, -10.0 * k, 4000000), h, w)
    return coarse, Grid("EPSG:32631", Affine(10.0, 0, 500000, 0, -10.0, 4000000), h * k, w * k)


def test_the_bspline_interpolates_and_reproduces_a_cubic():
    """At k = 3 each cell's centre pixel is the cell's own value (every cell, the edges too); on a cubic
    in x the B-spline's interior is the cubic itself, where cubic convolution errs."""
    coarse, fine = _grids(3)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(1, 12, 10)).astype(np.float32)
    up = upsample_onto(v, coarse, fine, "bspline")
    assert np.abs(up[0, 1::3, 1::3] - v[0]).max() < 1e-5
    coarse, fine = _grids(3, 4, 40)  # wide: the edge held beyond it reaches the interior by 0.27 a cell
    x = (np.arange(40) - 19.5) / 4
    cube = np.broadcast_to(x ** 3, (1, 4, 40)).astype(np.float32)
    xf = ((np.arange(120) + 0.5) / 3 - 0.5 - 19.5) / 4  # each fine pixel's place on the cells' x
    inner = slice(36, 84)  # twelve cells from either edge
    b, c = (upsample_onto(cube, coarse, fine, m)[0, 5, inner] for m in ("bspline", "cubic"))
    assert np.abs(b - xf[inner] ** 3).max() < 1e-4  # float32 on values to ±64
    assert np.abs(c - xf[inner] ** 3).max() > 1e-3


@pytest.mark.parametrize("method", sorted(GDAL_NAMES))
def test_a_flat_field_stays_flat(method):
    coarse, fine = _grids(2)
    assert np.allclose(upsample_onto(np.full((1, 12, 10), 7.0, np.float32), coarse, fine, method), 7.0, atol=1e-5)
