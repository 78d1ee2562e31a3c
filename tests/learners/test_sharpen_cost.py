"""The fit's cost on small inputs (issue 76): the search's work (``select.work_s``) counts a tree
ensemble's fixed cost per fit, so few pixels no longer make trees look cheap."""

from __future__ import annotations

from bandbridge.learners import select


def test_a_tree_fit_costs_its_fixed_part_however_few_its_pixels():
    few = select.work_s("gbm-context", [1_000] * 5, 0)
    assert few >= 5 * select.LEARNER_FIXED["gbm-context"]  # five fold fits, each at least the fixed part
    pixels_alone = select.LEARNER_WORK["gbm-context"][0] * 5_000 / select.FIT_PIXELS
    assert few > 3 * pixels_alone  # what the proportional estimate said, and missed


def test_at_fit_pixels_the_estimate_is_the_measured_one():
    fit, _ = select.LEARNER_WORK["gbm-bands"]
    assert abs(select.work_s("gbm-bands", [select.FIT_PIXELS], 0) - fit) < 1e-12


def test_a_linear_map_stays_proportional_to_its_pixels():
    assert select.work_s("linear", [2_000], 0) * 2 == select.work_s("linear", [4_000], 0)


def test_a_large_grid_decides_on_the_window_with_most_clear_cells():
    import numpy as np

    from bandbridge.learners.sharpen import window
    seen = np.zeros((40, 30), bool)
    seen[20:, :] = True  # the lower half clear
    rows, cols = window(seen, 300)
    assert (rows.stop - rows.start) * (cols.stop - cols.start) <= 300
    assert seen[rows, cols].all()  # the placement holding the most clear cells: all of them clear
    assert window(seen, 40 * 30) == (slice(0, 40), slice(0, 30))  # a grid that fits is whole


def test_a_window_decision_keeps_the_whole_grid_for_full_scale(monkeypatch):
    import numpy as np
    from affine import Affine

    import bandbridge.learners.sharpen as sharpen
    from bandbridge.data.grids import Grid
    rng = np.random.default_rng(0)
    x = rng.random((3, 60, 50)).astype(np.float32)
    ref = (0.2 + 0.5 * x[:1] + 0.01 * rng.random((1, 60, 50))).astype(np.float32)
    ok = np.ones((60, 50), bool)
    monkeypatch.setattr(sharpen, "SHARPEN_DECIDE_CELLS", 900)
    s = sharpen.decide(x, ref, ok, np.ones((60, 50), np.float32), Grid(None, Affine.scale(2), 60, 50), 2.0, ["T"])
    assert s.filled.shape == (1, 60, 50) and s.seen.shape == (60, 50) and s.grid.height == 60
    assert s.cells <= 900  # decided on the window's cells
