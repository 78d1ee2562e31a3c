"""Merge leave-one-source-out runs of one preset made in parallel (e.g. one `bandbridge loso
--fold …` per core) into one table: ``loso.md``, ``loso.csv`` and ``loso.json`` in OUT, the folds in
the order given. A SOURCE is a ``loso`` output folder (its ``loso.json``) or a ``loso.md`` file —
the record of folds whose runs are gone (headline metrics, as printed).

    python scripts/loso_merge.py OUT SOURCE [SOURCE ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bandbridge.workflows.loso import read_markdown, write_tables


def read(source: str) -> dict:
    p = Path(source)
    return read_markdown(p.read_text()) if p.suffix == ".md" else json.loads((p / "loso.json").read_text())


def main(out: str, sources: list[str]) -> None:
    runs = [read(s) for s in sources]
    if len({(r["preset"], tuple(r["overrides"])) for r in runs}) != 1:
        raise SystemExit("the runs differ in preset or --set overrides: not one table")
    folds = [f for r in runs for f in r["folds"]]
    keys = set.intersection(*(set(f["methods"]["model"]) for f in folds))  # md records: headline only
    folds = [{**f, "methods": {m: {k: v for k, v in d.items() if k in keys} for m, d in f["methods"].items()}}
             for f in folds]
    Path(out).mkdir(parents=True, exist_ok=True)
    write_tables(Path(out), runs[0]["preset"], folds, runs[0]["overrides"])
    print((Path(out) / "loso.md").read_text())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
