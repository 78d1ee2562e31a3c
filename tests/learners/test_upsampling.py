"""Which upsampling a band without a guided route takes (``learners/upsampling.preferred``, issue 95): the default
unless another beats it at the check by the margin, hand-made errors."""

from __future__ import annotations

import pytest

from bandbridge import policy
from bandbridge.learners.upsampling import preferred


@pytest.mark.parametrize("errors, margin, want", [
    ({"nearest": 1.0, "cubic": 0.99, "lanczos": 1.0}, 0.02, "lanczos"),  # 1 % better: within the margin
    ({"nearest": 1.0, "cubic": 0.97, "lanczos": 1.0}, 0.02, "cubic"),  # 3 % better: taken
    ({"cubic": 0.99, "lanczos": 1.0}, 0.0, "cubic"),  # no margin: the best at the check, the rule before
    ({"cubic": 0.5, "lanczos": 1.0}, 1.0, "lanczos"),  # a margin of 1: the default always
    ({"cubic": 0.9, "lanczos": 1.0, "lanczos+correction": 0.95}, 0.02, "cubic"),  # against the default's best form
    ({"cubic+correction": 0.94, "lanczos": 1.0, "lanczos+correction": 0.95}, 0.02, "lanczos+correction"),
    ({"nearest": 1.0, "cubic": 0.99}, 0.02, "cubic"),  # no default among them: the best
])
def test_the_default_unless_another_beats_it_by_the_margin(errors, margin, want):
    assert preferred(errors, margin) == want


def test_the_margin_is_the_policys_read_at_the_call(monkeypatch):
    errors = {"cubic": 0.96, "lanczos": 1.0}
    monkeypatch.setattr(policy, "UPSAMPLING_MARGIN", 0.05)
    assert preferred(errors) == "lanczos"
    monkeypatch.setattr(policy, "UPSAMPLING_MARGIN", 0.02)
    assert preferred(errors) == "cubic"


def test_the_check_is_the_same_with_a_margin_of_filled_cells_round_the_clear_ones():
    """A reference read with one cell of margin beyond its input, the margin its nearest cells' values: the check's
    blocks begin at the first clear cell, so the choice is the clear cells' own (blocks across the margin and the
    edge cell had scored a framed image by its border: nearest taken at 0.74× Lanczos's error on a TNO frame)."""
    import numpy as np
    from affine import Affine
    from scipy import ndimage

    from bandbridge.data.grids import Grid
    from bandbridge.learners.upsampling import upsampling_choice
    rng = np.random.default_rng(5)
    r = ndimage.gaussian_filter(rng.normal(size=(48, 64)), 1.5).astype(np.float32)
    r[:, 0], r[:, -1], r[0], r[-1] = 3.0, 3.0, 3.0, 3.0  # a frame round the image, as a camera's border
    padded = np.pad(r, 1, mode="edge")[None]
    seen = np.pad(np.ones(r.shape, bool), 1)
    grid = Grid(None, Affine.scale(10, -10), 50, 66)
    inner = Grid(None, Affine.translation(10, -10) @ Affine.scale(10, -10), 48, 64)
    alone = upsampling_choice(r[None], np.ones(r.shape, bool), inner, 10)
    assert upsampling_choice(padded, seen, grid, 10) == alone
