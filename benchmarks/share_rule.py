"""The share of detail a guided route takes (issue 95): `TRANSFER_FULL` set on half A of the floor's sources and
reported on half B, then the halves swapped.

    python benchmarks/share_rule.py --given FLOOR.json --full FLOOR_DETAIL1.json --json docs/results/share_rule.json

`--given` is the floor's record at the code (`benchmarks/sharpen_floor.py`: each guided route takes the share of its
detail the test at the output's scale supports, `learners/transfer.share`); `--full` the same floor with `--detail 1`
(every guided route's whole detail), which records beside each image the share the test gave (`test_share`). The
test's share is a least-squares share of a proxy's detail (each guide from the others), and a proxy's errors
shrink it below what the route itself supports (regression dilution). A floor ``f`` takes the whole detail where the
test's share is at or over ``f`` and the test's share below it, so each image's outcome under ``f`` is its row in one
record or the other, exactly (no image is run again). Scored as the floor scores (a (source, k, command, metric)
cell pools a source's images over the best single upsampling's): a half's choice is the fewest cells over 1.01×,
then the lowest geometric mean of the ratios, then the rule before (``never``: the test's share everywhere).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from bandbridge.evaluation.floor_cases import HALVES, LIMIT, half_of
from bandbridge.evaluation.floor_run import METHODS, UPSAMPLERS
from bandbridge.evaluation.sharpen_record import code_state, save

FLOORS = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)  # the shares at or over which the whole detail is taken
NEVER = "never"  # the rule before: the test's share taken as it is


def key(r: dict) -> tuple:
    return r["source"], r["image"], r["k"]


def chosen_rows(given: list[dict], full: dict[tuple, dict], floor: float | None) -> list[dict]:
    """Each image's row under ``floor`` (None: ``given`` as it is): per command, the ``--full`` row's where its test
    gave a share at or over ``floor``, else the ``--given`` row's."""
    out = []
    for r in given:
        f, row = full[key(r)], dict(r)
        for m in METHODS:
            share = f.get(m, {}).get("test_share")
            if floor is not None and share is not None and share >= floor and m in f:
                row[m] = f[m]
        out.append(row)
    return out


def cells(rows: list[dict]) -> dict[str, dict[str, float]]:
    """``{half: {"command source ×k metric": ratio}}``: each command's pooled RMSE and MAE over the best single
    upsampling's, pooled the same way, per source and k (the floor's own cells)."""
    out: dict[str, dict[str, float]] = {h: {} for h in HALVES}
    for src, k in dict.fromkeys((r["source"], r["k"]) for r in rows):
        at = [r for r in rows if r["source"] == src and r["k"] == k]
        n = sum(r["nearest"]["n"] for r in at)
        err = lambda m, e: (math.sqrt(sum(r[m]["sse"] for r in at) / n) if e == "rmse"  # noqa: E731
                            else sum(r[m]["sae"] for r in at) / n)
        for m in METHODS:
            if all(m in r and "error" not in r[m] for r in at):
                for e in ("rmse", "mae"):
                    best = min(err(u, e) for u in UPSAMPLERS)
                    out[half_of(src)][f"{m} {src} ×{k} {e}"] = round(err(m, e) / best, 4)
    return out


def scored(ratios: dict[str, float]) -> dict:
    """The cells over the limit, the worst ratio and the geometric mean of ``ratios``."""
    v = list(ratios.values())
    return {"over": sum(r > LIMIT for r in v), "worst": max(v), "geomean": math.exp(sum(map(math.log, v)) / len(v)),
            "cells": len(v), "over_cells": sorted(c for c, r in ratios.items() if r > LIMIT)}


def choice(table: dict[str, dict], half: str) -> str:
    """The setting ``half`` chooses: the fewest cells over, then the lowest geometric mean, then the rule before."""
    order = list(table)  # NEVER first
    return min(order, key=lambda s: (table[s][half]["over"], round(table[s][half]["geomean"], 4), order.index(s)))


def agreement(given: list[dict], full: dict[tuple, dict]) -> dict:
    """Where the test gave share 1, both records ran the same thing: how many such (image, command) pairs, how many
    differ and by how much at most (their squared errors' ratio less 1): the words give a share to two decimals, so
    0.995 and over reads as 1."""
    pairs = [(r[m]["sse"], full[key(r)][m]["sse"]) for r in given for m in METHODS
             if full[key(r)].get(m, {}).get("test_share") == 1.0 and "sse" in r.get(m, {})]
    gaps = [abs(b / a - 1) for a, b in pairs if a != b]
    return {"share_1_pairs": len(pairs), "differing": len(gaps), "largest": round(max(gaps, default=0.0), 5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--given", required=True, help="the floor's record at the code (the test's share taken)")
    ap.add_argument("--full", required=True, help="the floor's record with --detail 1 (the test's share beside)")
    ap.add_argument("--json", default="docs/results/share_rule.json")
    a = ap.parse_args()
    given = json.loads(Path(a.given).read_text())["rows"]
    full = {key(r): r for r in json.loads(Path(a.full).read_text())["rows"]}
    table = {NEVER: {h: scored(c) for h, c in cells(chosen_rows(given, full, None)).items()}}
    for f in FLOORS:
        table[f"{f:g}"] = {h: scored(c) for h, c in cells(chosen_rows(given, full, f)).items()}
    a_, b_ = choice(table, "A"), choice(table, "B")
    shares = {m: sorted(r[m]["test_share"] for r in full.values() if r.get(m, {}).get("test_share") is not None)
              for m in METHODS}
    out = {"command": "python benchmarks/share_rule.py " + " ".join(sys.argv[1:]), "code": code_state(),
           "limit": LIMIT, "floors": list(FLOORS), "agreement": agreement(given, full), "shares": shares,
           "settings": table, "set_on_A": a_, "reported_on_B": table[a_]["B"], "set_on_B": b_,
           "reported_on_A": table[b_]["A"]}
    for s, t in table.items():
        print(f"  {s:6s} A {t['A']['over']} over, {t['A']['geomean']:.4f}; B {t['B']['over']} over, "
              f"{t['B']['geomean']:.4f}")
    print(f"A chooses {a_} (B: {table[a_]['B']['over']} over); B chooses {b_} (A: {table[b_]['A']['over']} over); "
          f"agreement {out['agreement']}")
    save(out, a.json)


if __name__ == "__main__":
    main()
