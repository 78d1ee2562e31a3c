"""The Sentinel-2 network's rule (``policy.NETWORK_ALLOWANCE``, issue 96), set on half A of the development
Sentinel-2 sources and reported on half B, then the halves swapped.

From the network's leave-one-source-out record (``docs/results/s2_network.json``), per held-out case and band: the
network alone and ``sharpen --no-network`` at the output's scale, and the default run's check of the network
(``checks``: its gain over the best upsampling at the reference's scale, the band's own route's applied beyond
its fit, the network's one Wald step down; scored at an allowance of 1). For an allowance ``F`` a band takes the
network where its gain is under ``0.99 · min(1, F · own)`` and its gain one step down under 0.99
(``learners/sharpen_network.prefer``); the band is then scored by the network's route as the default run made it
(made consistent where that held out better, its detail shared as the output's scale test says), else by the run
without it.
The allowance is the one of :data:`ALLOWANCES` whose pooled RMSE (over the half's held-out pixels and bands, ×
the better cubic's) is lowest on the half it is set on; the halves are fixed before any figure: the sources in
the sharpening record's order (``evaluation/s2_sources.SOURCES``), alternately.

    python benchmarks/network_rule.py docs/results/s2_network.json [--json docs/results/network_rule.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from bandbridge.policy import SHARPEN_MARGIN
from bandbridge.workflows.s2_network_record import ALONE, DEFAULT, WITHOUT

HALVES = {"A": ("nir_s2_majortom", "nir_s2_eolearn", "wildfire_s2_20m"),
          "B": ("sar_sen12mscr_glfcr", "sar_sen1floods11", "ukis_csmask_s2")}
ALLOWANCES = (0.0, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, math.inf)  # 0: never (the run without it)
BETTER_CUBIC = ("cubic", "bspline")


def takes(check: dict, allowance: float) -> bool:
    """Whether a band whose network check is ``check`` takes the network at ``allowance`` (the module's rule)."""
    if not check or "network_gain" not in check:
        return False
    if not allowance:
        return False
    own = min(1.0, allowance * check["network_own_gain"])
    keep = 1 - SHARPEN_MARGIN
    return check["network_gain"] < keep * own and check["network_step_down"] < keep


def items(record: dict, sources: tuple[str, ...]) -> list[tuple[dict, int]]:
    """Every ``(row, band)`` of the half's held-out cases the three columns scored."""
    cols = (ALONE, WITHOUT, DEFAULT)
    return [(row, i) for row in record["cases"] if row["fold"] in sources
            and all("rmse" in row["methods"].get(m, {}) for m in cols) for i in range(len(row["targets"]))]


def network_route(default: dict, i: int) -> str:
    """The column holding band ``i``'s output by the network's route: the default run's, where it took the network
    (the record's default is scored at the largest allowance of :data:`ALLOWANCES` it needs: every band any
    allowance takes, it took), else the network alone (its raw output, no correction: a stand-in)."""
    return DEFAULT if default["routes"][i].removesuffix("+correction") == "network" else ALONE


def pooled(its: list[tuple[dict, int]], allowance: float | None) -> float:
    """RMSE over the items' pixels × the better cubic's: the rule at ``allowance`` (None: never the network)."""
    num = den = 0.0
    for row, i in its:
        n, m = row["size"][0] * row["size"][1], row["methods"]
        checks = m[DEFAULT].get("checks") or []
        net = allowance is not None and i < len(checks) and takes(checks[i], allowance)
        num += n * m[network_route(m[DEFAULT], i) if net else WITHOUT]["rmse"][i] ** 2
        den += n * min(m[u]["rmse"][i] for u in BETTER_CUBIC) ** 2
    return math.sqrt(num / den) if den > 0 else float("nan")


def rule(record: dict, set_on: str) -> dict:
    """The allowance set on half ``set_on`` and every allowance's pooled ratio on both halves."""
    other = "B" if set_on == "A" else "A"
    on, off = items(record, HALVES[set_on]), items(record, HALVES[other])
    rows = [{"allowance": a if math.isfinite(a) else "upsampling alone", set_on: round(pooled(on, a), 4), other: round(pooled(off, a), 4),
             "taken_" + set_on: sum(takes((r[0]["methods"][DEFAULT].get("checks") or [{}] * 99)[r[1]], a) for r in on),
             "taken_" + other: sum(takes((r[0]["methods"][DEFAULT].get("checks") or [{}] * 99)[r[1]], a) for r in off)}
            for a in ALLOWANCES]
    best = min(rows, key=lambda r: r[set_on])  # the first (the smallest allowance) of equals
    return {"set_on": set_on, "reported_on": other, "bands": {set_on: len(on), other: len(off)},
            "without": {set_on: round(pooled(on, None), 4), other: round(pooled(off, None), 4)},
            "rows": rows, "chosen": best["allowance"]}


def table(record: dict) -> str:
    """Markdown: per allowance, the pooled ratio on each half (set on A, reported on B), then the swap."""
    a, b = record["rules"]
    out = ["| allowance | A: pooled RMSE × the better cubic | bands taken | B | bands taken |", "|---|---|---|---|---|",
           f"| without the network | {a['without']['A']:.4g} | 0 | {a['without']['B']:.4g} | 0 |"]
    for r in a["rows"]:
        out.append(f"| {r['allowance']} | {r['A']:.4g} | {r['taken_A']} of {a['bands']['A']} | {r['B']:.4g} | "
                   f"{r['taken_B']} of {a['bands']['B']} |")
    return "\n".join(out) + (
        f"\n\nHalf A: {', '.join(HALVES['A'])}; half B: {', '.join(HALVES['B'])} (held-out case × band items). Set on "
        f"A: allowance {a['chosen']}; set on B (swapped): {b['chosen']}. A band the network takes scored by its "
        f"route as `sharpen` made it, the others by `sharpen --no-network`. Made by `{record['command']}` from `{record['source']}`.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("record", help="the network's leave-one-source-out record (docs/results/s2_network.json)")
    ap.add_argument("--json", default="docs/results/network_rule.json")
    a = ap.parse_args()
    record = json.loads(Path(a.record).read_text())
    out = {"command": "python " + " ".join(["benchmarks/network_rule.py", *sys.argv[1:]]), "source": a.record,
           "halves": HALVES, "rules": [rule(record, "A"), rule(record, "B")]}
    Path(a.json).write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(table(out))


if __name__ == "__main__":
    main()
