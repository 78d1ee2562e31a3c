"""Merge leave-one-source-out runs of one preset made in parallel (e.g. one `bandbridge loso
--fold …` per core) into one table: ``loso.md``, ``loso.csv`` and ``loso.json`` in OUT, the folds in
the order given.

    python scripts/loso_merge.py OUT DIR [DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bandbridge.workflows.loso import write_tables


def main(out: str, dirs: list[str]) -> None:
    runs = [json.loads((Path(d) / "loso.json").read_text()) for d in dirs]
    if len({(r["preset"], tuple(r["overrides"])) for r in runs}) != 1:
        raise SystemExit("the runs differ in preset or --set overrides: not one table")
    Path(out).mkdir(parents=True, exist_ok=True)
    write_tables(Path(out), runs[0]["preset"], [f for r in runs for f in r["folds"]], runs[0]["overrides"])
    print((Path(out) / "loso.md").read_text())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
