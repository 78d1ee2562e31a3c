"""``bandbridge gaps`` (issue 70) on one date pair of one WorldCereal sample: the record holds every
column for the seeded disc and for a real cloudy date's SCL laid over the pair, and its tables."""

from __future__ import annotations

import json

import numpy as np

from conftest import SHARED, needs_shared
from bandbridge.evaluation.gaps import COLUMNS, SAMPLES, run_gaps, save


@needs_shared
def test_one_pair_is_scored_in_every_column(tmp_path):
    said = []
    record = run_gaps(SHARED, say=said.append, limit=1, samples=SAMPLES[:1])
    rows = record["rows"]
    assert [r["mask"] == "disc" for r in rows] == [True, False]  # the disc, then a real SCL mask
    for r in rows:
        assert set(r["mae"]) == set(COLUMNS) and all(np.isfinite(v) and 0 < v < 0.2 for v in r["mae"].values())
        assert r["days"] > 0 and r["hidden"] > 100
    assert record["summary"]["disc"]["all"]["pairs"] == 1 and len(said) == 2
    assert set(record["realism"]) == set(COLUMNS)
    folder = save(record, tmp_path, "bandbridge gaps --data D -o O --pairs 1")
    md = (folder / "gaps.md").read_text()
    assert "`bandbridge gaps --data D -o O --pairs 1`" in md and "fit with SAR" in md
    assert json.loads((folder / "gaps.json").read_text())["command"].startswith("bandbridge gaps")
