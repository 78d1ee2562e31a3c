"""The default route's column of the Sentinel-2 network's leave-one-source-out record, scored again with the
fold bundles the record's run trained (each without its held-out source), on the code as it is now.

The record (``benchmarks/s2_network.py``) trains a network per fold and scores the held-out source's cases three
ways: the network alone, ``sharpen --no-network`` and ``sharpen`` by default with that fold's network. The last
depends on the route rule (``learners/sharpen_network.prefer``), not on the training: after a change of the rule
this scores that column again, case by case beside the five upsamplings (``evaluation/sharpen_record.run_case``),
and writes the record back with the command that did it. The fold bundles are the run's
``network_without_SOURCE`` folders (kept by copying them out of its work folder while it ran).

    OMP_NUM_THREADS=1 nice python benchmarks/s2_network_default.py --data ../shared/data \
        --json docs/results/s2_network.json --bundles FOLDS
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bandbridge.evaluation.sharpen_baselines import UPSAMPLING
from bandbridge.evaluation.sharpen_cases import CASE_MIN_CELLS, s2_cases
from bandbridge.evaluation.sharpen_record import bandbridge_sharpener, code_state, run_case, save
from bandbridge.workflows.s2_network_record import ALONE, DEFAULT, WITHOUT, summary
from bandbridge.workflows.s2_prior import source_of


def rescored(record: dict, data: str, bundles: Path, work: Path, held: list[str] | None = None) -> dict:
    """``record`` with every held-out case's :data:`DEFAULT` entry scored again by its fold's bundle."""
    cases = [c for c in s2_cases(Path(data), as_stated=False) if c.cells >= CASE_MIN_CELLS]
    rows = {(r["fold"], r["case"]): r for r in record["cases"]}
    for fold in record["folds"]:
        source = fold["held_out"]
        if held and source not in held:
            continue
        bundle = bundles / f"network_without_{source}"
        run, _ = bandbridge_sharpener(work / source, network=str(bundle))
        for case in (c for c in cases if source_of(c) == source):
            row = run_case(case, dict(UPSAMPLING) | {DEFAULT: run}, print)
            rows[(source, case.name)]["methods"][DEFAULT] = row["methods"][DEFAULT]
    return record


def main() -> None:
    import json
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json", default="docs/results/s2_network.json", help="the record, scored again in place")
    ap.add_argument("--bundles", required=True, help="the folder holding the run's network_without_SOURCE bundles")
    ap.add_argument("--held", default=None, help="only these held-out sources, comma-separated")
    a = ap.parse_args()
    record = json.loads(Path(a.json).read_text())
    with tempfile.TemporaryDirectory(prefix="s2_network_default_") as work:
        record = rescored(record, a.data, Path(a.bundles), Path(work), a.held and a.held.split(","))
    command = "OMP_NUM_THREADS=1 nice python " + " ".join(["benchmarks/s2_network_default.py", *sys.argv[1:]])
    record["default_rescored"] = {"command": command, "code": code_state(),
                                  "why": "the route rule changed after the run: the default column on the code now"}
    record["summary"] = {m: summary(record, m) for m in (ALONE, WITHOUT, DEFAULT)}
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
