"""The date baselines of ``bandbridge gaps`` (``evaluation/gaps_dates.py``): the median of the clear
dates before the scene and temporal interpolation between the nearest clear dates on each side,
on a series made by hand (one band, 1×3 pixels)."""

from __future__ import annotations

import numpy as np

from bandbridge.evaluation.gaps_dates import MEDIAN_DAYS, day, interpolation, median_composite, nearest

N = np.nan


def _series() -> tuple[np.ndarray, np.ndarray]:
    """Days 0, 10, 20, 30 (the scene), 40, 60; per pixel the value, NaN where not clear. Pixel 0
    is clear every date; pixel 1 not at day 20 nor at day 40; pixel 2 never after the scene."""
    days = np.array([0, 10, 20, 30, 40, 60])
    v = np.array([[1.0, 1.0, 1.0],
                  [2.0, 5.0, 2.0],
                  [3.0, N, 3.0],
                  [9.0, 9.0, 9.0],  # the scene: never enters
                  [5.0, N, N],
                  [7.0, 8.0, N]], np.float32)
    return days, v[:, None, None, :]  # (T, C=1, H=1, W=3)


def test_day_numbers():
    assert day("1970-01-11") == 10 and day("2018-06-03T10:56:51") - day("2018-05-24") == 10


def test_nearest_clear_dates_on_each_side():
    days, v = _series()
    b, tb = nearest(days, v, 30, after=False)
    a, ta = nearest(days, v, 30, after=True)
    np.testing.assert_array_equal(b[0, 0], [3, 5, 3])
    np.testing.assert_array_equal(tb[0], [20, 10, 20])
    np.testing.assert_array_equal(a[0, 0], [5, 8, N])
    np.testing.assert_array_equal(ta[0], [40, 60, N])


def test_interpolation_by_hand():
    days, v = _series()
    out, both = interpolation(days, v, 30)
    # pixel 0: 3 at day 20, 5 at day 40 → 4 at 30; pixel 1: 5 at day 10, 8 at day 60 → 5 + 3·20/50 = 6.2;
    # pixel 2: no clear date after, so the nearest before (3 at day 20)
    np.testing.assert_allclose(out[0, 0], [4.0, 6.2, 3.0], rtol=1e-6)
    np.testing.assert_array_equal(both[0], [True, True, False])


def test_median_of_the_clear_dates_before():
    days, v = _series()
    assert MEDIAN_DAYS >= 30  # the whole series before the scene lies within the window here
    got = median_composite(days, v, 30, since=20)
    # before day 30: pixel 0 {1, 2, 3} → 2; pixel 1 {1, 5} → 3; pixel 2 {1, 2, 3} → 2 (the scene's 9 never)
    np.testing.assert_allclose(got[0, 0], [2.0, 3.0, 2.0])


def test_the_median_window_reaches_back_to_the_earlier_date_only_where_that_is_further():
    days = np.array([0, 100, 150, 200])
    v = np.array([10.0, 20.0, 40.0, 0.0], np.float32)[:, None, None, None]
    # the scene at day 200, MEDIAN_DAYS 90: the window is days 110 … 199 (day 150 alone) unless the
    # pair's earlier date lies further back (day 0: the median of 10, 20, 40)
    assert MEDIAN_DAYS == 90
    assert median_composite(days, v, 200, since=150)[0, 0, 0] == 40.0
    assert median_composite(days, v, 200, since=0)[0, 0, 0] == 20.0
