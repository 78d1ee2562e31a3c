"""Leave-one-source-out records fold by fold: a new record's model MAE against the record it
replaces (and both against the linear map), as one Markdown table per family.

    python scripts/loso_compare.py OLD/loso.json NEW/loso.json [OLD2 NEW2 …] > table.md
    (a record kept as loso.md alone is read from its table)

The issue-32 rule: no fold may score more than 1 % worse than in the table it replaces.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bandbridge.policy import WITHIN as TOLERANCE  # the one never-worse threshold
from bandbridge.policy import percent


def folds(path: Path) -> dict[str, dict]:
    """``{fold: {images, methods: {method: {mae}}}}`` of a loso.json — or, for a record kept as
    loso.md alone, of its table (``| fold (held out) | images | model mae | linear mae | …``)."""
    if path.suffix == ".json":
        return {f["fold"]: f for f in json.loads(path.read_text())["folds"]}
    rows = [r.strip().strip("|").split("|") for r in path.read_text().splitlines()
            if r.startswith("| ")]
    head = [h.strip() for h in rows[0]]
    out = {}
    for r in rows[1:]:
        cells = [c.strip() for c in r]
        if not cells[0] or cells[0].startswith("**"):
            continue
        methods = {h[:-4]: {"mae": float(c)} for h, c in zip(head, cells) if h.endswith(" mae")}
        out[cells[0].split(" (")[0]] = {"images": int(cells[1]), "methods": methods}
    return out


def table(old: Path, new: Path) -> str:
    a, b = folds(old), folds(new)
    lines = [f"`{new}` against `{old}` (MAE, the target's units)", "",
             "| held out | images | before | now | now vs before | linear | now vs linear |",
             "|---|---|---|---|---|---|---|"]
    worse = 0
    for name in a:
        if name not in b:
            lines.append(f"| {name} | {a[name]['images']} | {a[name]['methods']['model']['mae']:.4g} "
                         "| not run | | | |")
            continue
        m0, m1 = a[name]["methods"]["model"]["mae"], b[name]["methods"]["model"]["mae"]
        lin = b[name]["methods"]["linear"]["mae"]
        worse += m1 > m0 * (1 + TOLERANCE)
        lines.append(f"| {name} | {b[name]['images']} | {m0:.4g} | {m1:.4g} | "
                     f"{100 * (m1 / m0 - 1):+.1f} % | {lin:.4g} | {100 * (m1 / lin - 1):+.1f} % |")
    run = [n for n in a if n in b]
    lines += ["", f"{worse} of {len(run)} folds more than {percent(TOLERANCE)} worse than before."]
    return "\n".join(lines) + "\n"


def main(args: list[str]) -> None:
    if not args or len(args) % 2:
        sys.exit("usage: loso_compare.py OLD/loso.json NEW/loso.json [OLD NEW …]")
    print("\n".join(table(Path(o), Path(n)) for o, n in zip(args[::2], args[1::2])))


if __name__ == "__main__":
    main(sys.argv[1:])
