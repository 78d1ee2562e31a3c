"""``data/grids.block_mean``: the one whole-step block mean (sums over each k × k cell of a lattice),
against hand-computed cells, partial edge cells, an offset into the first cell and GDAL's average."""

from __future__ import annotations

import numpy as np
from affine import Affine

from bandbridge.data.grids import Grid, average_onto, block_mean, block_sums

X = np.arange(1, 16, dtype=np.float32).reshape(1, 3, 5)  # 1..15, three rows of five


def test_whole_and_partial_cells_by_hand():
    """k = 2 on 3 × 5 pixels: 2 × 3 cells; a cell at the edge holds 2 or 1 of its 4 pixels, its mean
    theirs and its cover that share of the cell."""
    means, cover = block_mean(X, 2)
    assert np.allclose(means[0], [[4, 6, 7.5], [11.5, 13.5, 15]])
    assert np.allclose(cover, [[1, 1, 0.5], [0.5, 0.5, 0.25]])
    sums, counts = block_sums(X, 2)
    assert sums.dtype == np.float64 and np.allclose(sums[0], [[16, 24, 15], [23, 27, 15]])
    assert np.array_equal(counts, [[4, 4, 2], [2, 2, 1]])


def test_invalid_pixels_and_nan_are_left_out():
    """A pixel outside ``valid`` (or, with no mask, a NaN) never enters a sum; a cell of none is NaN, cover 0."""
    x = X.copy()
    x[0, 1, 1] = np.nan  # the pixel of value 7
    ok = np.isfinite(x[0])
    ok[2, 4] = False  # the lone pixel of the corner cell
    means, cover = block_mean(x, 2, ok)
    assert means[0, 0, 0] == np.float32((1 + 2 + 6) / 3) and cover[0, 0] == 0.75
    assert np.isnan(means[0, 1, 2]) and cover[1, 2] == 0
    nan_aware, cover2 = block_mean(x, 2)  # no mask: the finite pixels
    assert nan_aware[0, 0, 0] == means[0, 0, 0] and cover2[0, 0] == 0.75 and nan_aware[0, 1, 2] == 15


def test_an_image_starting_inside_its_first_cell():
    """``off = (1, 1)``: the first pixel is the last of its cell's; 2 × 3 cells, each the mean of what it holds."""
    means, cover = block_mean(X, 2, off=(1, 1))
    assert np.allclose(means[0], [[1, 2.5, 4.5], [8.5, 10, 12]])
    assert np.allclose(cover, [[0.25, 0.5, 0.5], [0.5, 1, 1]])


def test_float64_input_keeps_its_precision():
    """A float64 image is summed as float64 (a variance's sum of squares needs it)."""
    x = np.full((1, 2, 2), 1e8, np.float64) + np.array([[0, 1], [2, 3]])
    means, _ = block_sums(x, 2)
    assert means[0, 0, 0] == 4e8 + 6


def test_as_gdal_averages_onto_the_coarser_grid():
    """With ``off = (0, 0)`` the cells are ``Grid.coarser(k)``'s: ``average_onto`` (GDAL's average)
    gives the same means and cover over every whole cell, masked pixels included (at a partial edge cell
    GDAL reads pixels past the image's edge: there the mean and share of the pixels the cell holds are this one's)."""
    rng = np.random.default_rng(3)
    x = rng.random((2, 23, 17)).astype(np.float32)
    ok = rng.random((23, 17)) > 0.25
    fine = Grid("EPSG:32631", Affine(10, 0, 500000, 0, -10, 4600000), 23, 17)
    for k in (2, 3, 6):
        want, want_cover = average_onto(x, ok, fine, fine.coarser(k))
        got, cover = block_mean(x, k, ok)
        whole = (slice(None), slice(0, 23 // k), slice(0, 17 // k))
        assert np.array_equal(np.isnan(got[whole]), np.isnan(want[whole]))
        assert np.nanmax(np.abs(got[whole] - want[whole])) < 1e-6
        assert np.abs(cover[whole[1:]] - want_cover[whole[1:]]).max() < 1e-6
