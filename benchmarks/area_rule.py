"""Whether each kind's fit learns area to point (issue 95): `AREA_FIT` set on half A of the floor's sources and
reported on half B, then the halves swapped; and any other setting of the floor scored the same way (`--setting`).

    python benchmarks/area_rule.py --off FLOOR.json --on 0.0001=FLOOR_AREA.json \\
        --explore 0.001=FLOOR_A3.json --explore 0.01=FLOOR_A2.json --json docs/results/area_rule.json

Each FLOOR is a whole record of `benchmarks/sharpen_floor.py` on the same code: `--off` without `--area`, each `--on`
with `--area --area-ridge R` (both kinds' fit learned area to point, its ridges at least R). A setting is scored per
kind (`sharpen`, `predict --reference`: they are separate commands, the rule holds one answer each) on a half's
(source, k, metric) cells, as the floor scores them (RMSE and MAE pooled over a source's images, over the best single
upsampling's): a half's choice among off and the `--on` settings is the fewest cells over 1.01×, then the lowest
geometric mean of the ratios, then off (the rule before). `--explore` settings are scored beside and chosen by
neither half: settings thought of after a half-B image was seen (their choice would be tuned on the half it is
reported on). `--setting NAME=FILE` scores any other floor beside off the same way (`CHECK_SHARE`: `sharpen_floor.py
--check-share`, `docs/results/check_share_rule.json`), for the commands `--kinds` names.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from bandbridge.evaluation.floor_cases import LIMIT
from bandbridge.evaluation.sharpen_record import code_state, save

KINDS = ("sharpen", "reference")


def cells(summary: dict, kind: str) -> dict[str, dict[str, float]]:
    """``{half: {"source ×k metric": ratio}}`` of ``kind`` in a floor record's ``summary`` (its pooling)."""
    out: dict[str, dict[str, float]] = {"A": {}, "B": {}}
    for k, v in summary.items():
        for src, sv in v.get("sources", {}).items() if isinstance(v, dict) else ():
            if kind in sv:
                for m in ("rmse", "mae"):
                    out[sv["half"]][f"{src} ×{k} {m}"] = sv[kind][f"{m}_vs_best"]
    return out


def scored(ratios: dict[str, float]) -> dict:
    """The cells over the limit, the worst ratio and the geometric mean of ``ratios``."""
    v = list(ratios.values())
    return {"over": sum(r > LIMIT for r in v), "worst": max(v), "geomean": math.exp(sum(map(math.log, v)) / len(v)),
            "cells": len(v), "over_cells": sorted(c for c, r in ratios.items() if r > LIMIT), "ratios": ratios}


def choice(table: dict[str, dict], half: str) -> str:
    """The setting ``half`` chooses: the fewest cells over, then the lowest geometric mean, then off."""
    order = list(table)  # "off" first
    return min(order, key=lambda s: (table[s][half]["over"], round(table[s][half]["geomean"], 4), order.index(s)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--off", required=True, help="the floor's record without --area")
    ap.add_argument("--on", action="append", default=[], help="R=FILE: the floor's record with --area --area-ridge R")
    ap.add_argument("--explore", action="append", default=[], help="R=FILE: scored beside, chosen by neither half")
    ap.add_argument("--setting", action="append", default=[], help="NAME=FILE: another setting's floor, scored beside off")
    ap.add_argument("--kinds", default=",".join(KINDS), help="the commands scored, comma-separated")
    ap.add_argument("--json", default="docs/results/area_rule.json")
    a = ap.parse_args()
    records, explored = {"off": json.loads(Path(a.off).read_text())}, set()
    for item in a.setting:
        name, _, path = item.partition("=")
        records[name] = json.loads(Path(path).read_text())
    for item in a.on + a.explore:
        ridge, _, path = item.partition("=")
        records[f"area, ridge ≥ {float(ridge):g}"] = json.loads(Path(path).read_text())
        if item in a.explore:
            explored.add(f"area, ridge ≥ {float(ridge):g}")
    out = {"command": "python benchmarks/area_rule.py " + " ".join(sys.argv[1:]), "code": code_state(),
           "limit": LIMIT, "floors": {s: r.get("commands") or r.get("command", "") for s, r in records.items()},
           "explored": sorted(explored), "kinds": {}}
    for kind in a.kinds.split(","):
        table = {s: {h: scored(c) for h, c in cells(r["summary"], kind).items()} for s, r in records.items()}
        candidates = {s: t for s, t in table.items() if s not in explored}
        a_, b_ = choice(candidates, "A"), choice(candidates, "B")
        out["kinds"][kind] = {"settings": table, "set_on_A": a_, "reported_on_B": table[a_]["B"],
                              "set_on_B": b_, "reported_on_A": table[b_]["A"]}
        print(f"{kind}: A chooses {a_} (B: {table[a_]['B']['over']} over, geomean {table[a_]['B']['geomean']:.4f}); "
              f"B chooses {b_} (A: {table[b_]['A']['over']} over, geomean {table[b_]['A']['geomean']:.4f})")
        for s, t in table.items():
            mark = " (explored)" if s in explored else ""
            print(f"  {s:22s}{mark} A {t['A']['over']} over, {t['A']['geomean']:.4f}; "
                  f"B {t['B']['over']} over, {t['B']['geomean']:.4f}")
    save(out, a.json)


if __name__ == "__main__":
    main()
