"""The floor's harness (issue 84): a NAIP case keeps its file's georeference (the bundles read it: the same
NAIP tile without it made `predict --reference`'s zero-shot output 1.2–1.3× the best upsampling where with
it the output beat it), a cut keeps it, and one image runs through `bandbridge sharpen` as a user's files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bandbridge.evaluation.floor_cases import naip
from bandbridge.evaluation.floor_run import errors, run_methods, test_share as share_said
from tests.conftest import SAMPLE, SHARED, needs_shared


def test_errors_are_sums_that_pool():
    e = errors(np.array([[1.0, 3.0]], np.float32), np.array([[2.0, 1.0]]))
    assert e == {"sse": 5.0, "sae": 3.0, "n": 2}


def test_the_share_the_test_supports_is_read_from_its_words():
    """The floor records the test's own share beside each run (benchmarks/share_rule.py sets its rule from it),
    also where a share was given: the words of learners/transfer.py, each case by its own phrase."""
    from bandbridge.inference.place.tags import NOT_TESTED
    from bandbridge.learners import transfer
    carry = transfer.Evidence(("a", "b"), (0.4, 0.6), (0.9, 0.7), 10, 400, (0.3, 0.4))
    broken = transfer.Evidence(("a", "b"), (0.95, 1.1), (0.4, 0.1), 10, 400, (0.3, 0.4))
    aside = transfer.Evidence(("a", "b"), (1.0, 1.1), (0.1, 0.0), 10, 400, (0.98, 1.02))
    assert share_said(carry.words()) == carry.share() == 0.8
    assert share_said(transfer.given_words(carry, 1.0)) == 0.8  # the share given, the test's beside it
    assert share_said(broken.words()) == share_said(transfer.given_words(broken, 1.0)) == 0.0
    assert share_said(aside.words()) == share_said(transfer.Evidence(k=10, cells=9).words()) == 1.0
    assert share_said(NOT_TESTED) is None and share_said("") is None


def test_a_naip_case_keeps_its_georeference_through_a_cut():
    c = next(naip(SAMPLE, "nir_naip_opengeos"))
    assert c.crs is not None and c.grid.crs == c.crs and c.model == "rgb2nir"
    cut = c.cut(40)
    assert cut.grid.transform == c.transform and cut.grid.height % 40 == 0 and cut.grid.width % 40 == 0
    assert cut.guides.shape[1:] == cut.truth.shape[1:] == (cut.grid.height, cut.grid.width)


def test_one_image_runs_through_sharpen_as_a_users_files(tmp_path):
    c = next(naip(SAMPLE, "nir_naip_opengeos"))
    c = replace(c, guides=c.guides[:, :64, :64], truth=c.truth[:, :64, :64])
    got = run_methods(c, 4, tmp_path, ("sharpen",))
    assert set(got) == {"sharpen"}, got
    out, route, extra = got["sharpen"]
    assert out.shape == (64, 64) and route and "upsampling" in extra
    # it averages back near the reference (every route is made consistent or is an interpolation of it)
    cells = out.reshape(16, 4, 16, 4).mean((1, 3))
    assert np.abs(cells - c.truth[0].reshape(16, 4, 16, 4).mean((1, 3))).mean() < 3


@needs_shared
def test_every_sentinel2_source_is_a_floor_case_at_its_own_k():
    """Issue 84 asks each Sentinel-2 source at k = 2 and 6: its 10 m red, green and blue the guides and its
    B08 the truth (the wildfire composites: one 20 m grid), in half B (its rules were set on A before)."""
    from bandbridge.evaluation.floor_cases import HALVES
    from bandbridge.evaluation.floor_cases import s2
    cases = list(s2(SHARED))
    assert {c.source for c in cases} == {"s2_majortom", "s2_sen12mscr", "s2_eolearn", "s2_ukis", "s2_sen1floods11",
                                         "s2_wildfire"} <= set(HALVES["B"])
    for c in cases:
        assert c.factors == (2, 6) and c.guides.shape[0] == 3 and c.truth.shape[1:] == c.guides.shape[1:]
        assert np.isfinite(c.guides).all() and np.isfinite(c.truth).all() and 0 < float(c.truth.mean()) < 1
    assert len({(c.source, c.name) for c in cases}) == len(cases)  # one name a scene
