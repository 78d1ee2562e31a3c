"""The consistent route's check across octaves (issue 84): the model's output made consistent is checked at
2, 4, 8, … cells a side up to k, the first two always, and is taken only where every octave checked beats
the best upsampling by ``policy.CONSISTENT_MARGIN`` (the check at 2 alone took thermal frames whose output
lost up to 2.2× to the best upsampling). The decision by hand, each octave's check given."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine

from bandbridge.data.grids import Grid
from bandbridge.learners import guided
from bandbridge.policy import CONSISTENT_MARGIN

NAN = float("nan")


@pytest.mark.parametrize("k, factors", [(2, [2]), (3, [2]), (4, [2, 4]), (10, [2, 4, 8]), (40, [2, 4, 8, 16, 32])])
def test_the_octaves_run_from_two_up_to_k(k, factors):
    assert guided.octave_factors(k) == factors


def _decided(monkeypatch, k: float, gains: dict[float, float]) -> tuple[dict, list[float]]:
    """``consistent_octaves`` where the check at factor f gives ``(gains[f], 1.0)``: the route's MAE over an
    upsampling MAE of 1 (NaN: too few cells there); and the factors it checked."""
    asked = []

    def check(z, r, seen, grid, factor):
        asked.append(factor)
        return gains[factor], (1.0 if math.isfinite(gains[factor]) else NAN)
    monkeypatch.setattr(guided, "consistent_check", check)
    a = np.zeros((8, 8), np.float32)
    octaves, e, b = guided.consistent_octaves(a, a, a > -1, Grid(None, Affine.identity(), 8, 8), k)
    assert e == gains[2] and b == 1.0  # the MAE the plan states: the route's and the upsampling's at 2
    return octaves, asked


def test_every_octave_under_the_margin_takes_the_worst(monkeypatch):
    o, asked = _decided(monkeypatch, 10, {2: 0.6, 4: 0.7, 8: 0.65})
    assert asked == [2, 4, 8] and o == {"one_step_down": 0.6, "octave_coarser": 0.7, "output_scale": 0.7}
    assert o["output_scale"] < 1 - CONSISTENT_MARGIN


def test_a_loss_at_a_coarser_octave_decides_and_stops(monkeypatch):
    # 0.72 at 2 (the check the rule took before), 1.09 at 4: not taken, 8 never checked
    o, asked = _decided(monkeypatch, 16, {2: 0.72, 4: 1.09, 8: 0.5, 16: 0.5})
    assert asked == [2, 4] and o["output_scale"] == 1.09


def test_a_gain_short_of_the_margin_is_a_loss(monkeypatch):
    o, asked = _decided(monkeypatch, 4, {2: 0.95, 4: 0.5})
    assert asked == [2] and o["output_scale"] == 0.95 and not o["output_scale"] < 1 - CONSISTENT_MARGIN


def test_a_coarse_octave_past_the_first_two_with_too_few_cells_is_skipped(monkeypatch):
    o, asked = _decided(monkeypatch, 40, {2: 0.6, 4: 0.7, 8: NAN, 16: 0.75, 32: NAN})
    assert asked == [2, 4, 8, 16, 32] and o["output_scale"] == 0.75


def test_too_few_cells_at_the_second_octave_is_no_check(monkeypatch):
    o, _ = _decided(monkeypatch, 24, {2: 0.7, 4: NAN, 8: NAN, 16: NAN})
    assert o["one_step_down"] == 0.7 and math.isnan(o["output_scale"])  # NaN: never taken


def test_below_four_one_octave_is_the_check(monkeypatch):
    o, asked = _decided(monkeypatch, 3, {2: 0.6})
    assert asked == [2] and o["output_scale"] == 0.6 and math.isnan(o["octave_coarser"])
