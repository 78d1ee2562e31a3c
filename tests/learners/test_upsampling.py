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
