"""One catalogue of the development Sentinel-2 sources (issue 97 point 4): the floor's cases
(``floor_cases.s2`` from ``floor_s2.scenes``), the sharpening record's cases (``sharpen_cases.s2_cases``) and the prior's pairs
(``workflows/s2_prior.source_pairs``, the record's cases with the MTF-matched guides) all read them through
``evaluation/s2_sources.py``. The cases each makes are the ones they made before it: names, shapes and a
checksum of every array, against ``s2_sources_cases.json`` (written from the enumerators before the
catalogue: ``python tests/evaluation/test_s2_sources.py ../shared/data``)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

RECORD = Path(__file__).with_name("s2_sources_cases.json")


def checksum(a) -> str:
    """A short digest of an array's values to 5 decimals (NaN as one value), so that the last bit of a
    float sum on another BLAS does not count, and its shape."""
    if a is None:
        return "none"
    v = np.round(np.nan_to_num(np.asarray(a, np.float64), nan=-9999.0), 5) + 0.0  # + 0.0: -0.0 is 0.0
    return f"{v.shape}:{hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:16]}"


def fingerprints(data: Path) -> dict[str, list]:
    """What each enumerator makes on ``data``, in its order."""
    from bandbridge.evaluation.floor_cases import s2
    from bandbridge.evaluation.sharpen_cases import s2_cases
    cases = lambda it: [[c.name, c.source, c.kind, c.ratio, c.step, c.guide_names, c.target_names, c.units,  # noqa: E731
                         [c.grid.height, c.grid.width], str(c.grid.crs), list(c.grid.transform)[:6],
                         checksum(c.guides), checksum(c.reference), checksum(c.truth)] for c in it]
    floor = [[c.source, c.name, c.guide_names, c.target, c.dtype, c.model, c.bits, str(c.crs), list(c.transform)[:6],
              list(c.factors), checksum(c.guides), checksum(c.truth)] for c in s2(data)]
    return {"floor_cases.s2": floor, "sharpen_cases.s2_cases": cases(s2_cases(data)),
            "s2_cases(mtf=0.3, as_stated=False)": cases(s2_cases(data, 0.3, as_stated=False))}


def _check(got: dict, want: dict) -> None:
    for key in want:
        assert [r[0:2] for r in got[key]] == [r[0:2] for r in want[key]], f"{key}: other cases or order"
        for g, w in zip(got[key], want[key]):
            assert g == w, f"{key} {w[0]}: {g} != {w}"


try:
    from conftest import SHARED, needs_shared
except ImportError:  # run as a script
    SHARED, needs_shared = None, pytest.mark.skip


@needs_shared
def test_every_enumerator_makes_the_cases_it_made_before_the_catalogue():
    _check(json.loads(json.dumps(fingerprints(SHARED))), json.loads(RECORD.read_text()))


def test_a_changed_case_is_caught():
    want = {"k": [["a", "s", checksum(np.ones((2, 3)))]]}
    _check({"k": [["a", "s", checksum(np.ones((2, 3)) + 1e-7)]]}, want)  # below the 5th decimal: the same
    for got in ({"k": [["a", "s", checksum(np.ones((2, 3)) + 1e-4)]]}, {"k": [["b", "s", checksum(np.ones((2, 3)))]]},
                {"k": [["a", "s", checksum(np.ones((3, 2)))]]}):
        with pytest.raises(AssertionError):
            _check(got, want)


if __name__ == "__main__":
    found = fingerprints(Path(sys.argv[1]))  # one line a case
    RECORD.write_text("{\n" + ",\n".join(f" {json.dumps(k)}: [\n" + ",\n".join("  " + json.dumps(r) for r in rows) + "]"
                                          for k, rows in found.items()) + "\n}\n")
