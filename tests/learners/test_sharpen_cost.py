"""The fit's cost on small inputs (issue 76): the search's work (``select.work_s``) counts a tree
ensemble's fixed cost per fit, so few pixels no longer make trees look cheap."""

from __future__ import annotations

from bandbridge.learners import select


def test_a_tree_fit_costs_its_fixed_part_however_few_its_pixels():
    few = select.work_s("gbm-context", [1_000] * 5, 0)
    assert few >= 5 * select.FIXED["gbm-context"]  # five fold fits, each at least the fixed part
    pixels_alone = select.WORK["gbm-context"][0] * 5_000 / select.FIT_PIXELS
    assert few > 3 * pixels_alone  # what the proportional estimate said, and missed


def test_at_fit_pixels_the_estimate_is_the_measured_one():
    fit, _ = select.WORK["gbm-bands"]
    assert abs(select.work_s("gbm-bands", [select.FIT_PIXELS], 0) - fit) < 1e-12


def test_a_linear_map_stays_proportional_to_its_pixels():
    assert select.work_s("linear", [2_000], 0) * 2 == select.work_s("linear", [4_000], 0)
