"""Which upsampling a band without a guided route takes (issue 95): `UPSAMPLING_MARGIN` set on half A of the
floor's sources and reported on half B, then the halves swapped.

    python benchmarks/upsampling_rule.py --data ../shared/data --json docs/results/upsampling_rule.json

For every floor image and k (`evaluation/floor_cases.py`, the floor's own cases), the reference (the band averaged
k × k) is averaged once more by the step the commands' check takes (`upsampling.upsampling_choice`: k where that leaves
`FIT_DEGRADED_MIN` cells, else 2) and interpolated back by each of the five upsamplings: their MAE on the
reference's cells is the check; each upsampling of the reference onto the guides' grid is scored against the truth.
A rule picks one upsampling an image: the best at the check (``argmin``, the rule before), or the default
`FALLBACK_UPSAMPLING` unless another beats it at the check by the margin (`upsampling.preferred`). A half's choice: the
fewest (source, k, metric) cells over 1.01× the best single upsampling pooled over the source's images, then the
lowest geometric mean of those ratios, then the smallest margin (the check kept where it decides most).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bandbridge.data.grids import block_mean, upsample_onto
from bandbridge.evaluation.floor_cases import HALVES, LIMIT, all_cases, half_of
from bandbridge.evaluation.sharpen_record import code_state, save
from bandbridge.learners.upsampling import UPSAMPLERS, padded_up, preferred
from bandbridge.policy import FALLBACK_UPSAMPLING, FIT_DEGRADED_MIN, WALD_STEP

MARGINS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0)  # 0: the best at the check whatever the default; 1: the default always


def row(c, k: int) -> dict:
    """One image at ``k``: each upsampling's check MAE (empty where too few cells) and its sums against the truth."""
    c = c.cut(k)
    fine = c.grid
    coarse = fine.coarser(k)
    r = block_mean(c.truth, k)[0].astype(np.float32)
    step = next((s for s in (k, WALD_STEP) if r[0].size / s ** 2 >= FIT_DEGRADED_MIN), None)
    out = {"source": c.source, "image": c.name, "k": k, "step": step, "check": {}, "out": {}}
    if step is not None:
        r2 = block_mean(r, int(step))[0]
        out["check"] = {m: float(np.abs(padded_up(r2, coarse.coarser(step), coarse, m)[0] - r[0]).mean())
                        for m in UPSAMPLERS}
    for m in UPSAMPLERS:
        d = upsample_onto(r, coarse, fine, m)[0].astype(np.float64) - c.truth[0]
        out["out"][m] = {"sse": float((d ** 2).sum()), "sae": float(np.abs(d).sum())}
    return out


def taken(r: dict, margin: float | None) -> str:
    """The upsampling an image takes: ``argmin`` (margin None) or :func:`upsampling.preferred` at ``margin``."""
    if not r["check"]:
        return FALLBACK_UPSAMPLING
    return min(r["check"], key=r["check"].get) if margin is None else preferred(r["check"], margin)


def scored(rows: list[dict], margin: float | None) -> dict:
    """The cells over the limit, the worst ratio and the geometric mean of the (source, k, metric) ratios."""
    cells: dict = {}
    for r in rows:
        cells.setdefault((r["source"], r["k"]), []).append(r)
    ratios, over = [], []
    for (src, k), rs in sorted(cells.items()):
        for met, power in (("sse", 0.5), ("sae", 1.0)):
            best = min(sum(x["out"][m][met] for x in rs) for m in UPSAMPLERS)
            ratio = (sum(x["out"][taken(x, margin)][met] for x in rs) / best) ** power
            ratios.append(ratio)
            if ratio > LIMIT:
                over.append(f"{src} ×{k} {'RMSE' if met == 'sse' else 'MAE'} {ratio:.4f}")
    return {"over_limit": len(over), "cells": len(ratios), "worst": round(max(ratios), 4),
            "geomean": round(float(np.exp(np.mean(np.log(ratios)))), 4), "over": over}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--json", default="docs/results/upsampling_rule.json", help="where the record goes")
    a = ap.parse_args()
    if not Path(a.data, "nir_naip_opengeos").is_dir():
        sys.exit(f"--data {a.data}: no nir_naip_opengeos under it; give the development data folder")
    rows = [row(c, k) for c in all_cases(a.data) for k in c.factors]
    half = {h: [r for r in rows if half_of(r["source"]) == h] for h in HALVES}
    record = {"command": "python " + " ".join(["benchmarks/upsampling_rule.py", *sys.argv[1:]]), "code": code_state(),
              "default": FALLBACK_UPSAMPLING, "margins": list(MARGINS), "limit": LIMIT,
              "halves": {h: list(s) for h, s in HALVES.items()}}
    for h, other in (("A", "B"), ("B", "A")):
        tried = {str(m): scored(half[h], m) for m in MARGINS}
        best = min(MARGINS, key=lambda m: (tried[str(m)]["over_limit"], tried[str(m)]["geomean"], m))
        record[f"set on {h}"] = {"margin": best, "tried": tried, "argmin there": scored(half[h], None),
                                 f"reported on {other}": scored(half[other], best),
                                 f"argmin on {other}": scored(half[other], None)}
        print(f"set on {h}: margin {best}; {other}: {record[f'set on {h}'][f'reported on {other}']['over_limit']} "
              f"over (argmin {record[f'set on {h}'][f'argmin on {other}']['over_limit']})", flush=True)
    record["rows"] = rows
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
