"""Set the sharpener's line ridge (`policy.LINE_RIDGE`) on one half of the floor's sources and report it on the
other (issue 84: every constant of the route choice set on one half).

    OMP_NUM_THREADS=1 nice python benchmarks/line_ridge.py --data ../shared/data --half A --json A.json
    OMP_NUM_THREADS=1 nice python benchmarks/line_ridge.py --data ../shared/data --half B --json B.json
    python benchmarks/line_ridge.py --settle A.json B.json --json docs/results/line_ridge.json

Every image of a half's sources (`evaluation/floor_cases.py`) at k = 4, 10 and 40 goes through `bandbridge
sharpen` once for each ridge of :data:`RIDGES` (the ridge changes which bands take the line and the line
itself). Per (source, k) the output's pooled MAE and RMSE over the best of the five upsamplings, as the floor's
record gives them. A ridge is chosen on a half by the fewest (source, k, metric) over `LIMIT` (1.01×), then the
lowest mean log ratio; the other half reports it. Then the halves swap.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from bandbridge.data.grids import block_mean, upsample_onto
from bandbridge.evaluation import floor_run
from bandbridge.evaluation.floor_cases import HALVES, LIMIT, all_cases
from bandbridge.evaluation.sharpen_record import code_state, save

RIDGES = (0.5, 1.0, 2.0, 4.0, 8.0)


def rows_of(data: str, sources: tuple[str, ...]) -> list[dict]:
    """Per image and k: the five upsamplings' errors and, per ridge, the sharpened band's and its route."""
    from bandbridge.learners import sharpen_routes
    rows, before = [], sharpen_routes.LINE_RIDGE
    with tempfile.TemporaryDirectory(prefix="line_ridge_") as work:
        for c in all_cases(data):
            if c.source not in sources:
                continue
            for k in c.factors:
                cc = c.cut(k)
                ref, fine = block_mean(cc.truth, k)[0], cc.grid
                row = {"source": c.source, "image": c.name, "k": k} | {
                    u: floor_run.errors(upsample_onto(ref, fine.coarser(k), fine, u)[0], cc.truth[0])
                    for u in floor_run.UPSAMPLERS}
                for ridge in RIDGES:
                    sharpen_routes.LINE_RIDGE = ridge
                    try:
                        got = floor_run.run_methods(cc, k, Path(work), ("sharpen",))["sharpen"]
                    finally:
                        sharpen_routes.LINE_RIDGE = before
                    row[str(ridge)] = {"error": got} if isinstance(got, str) else \
                        floor_run.errors(got[0], cc.truth[0]) | {"route": got[1]}
                rows.append(row)
                print(f"{c.source} {c.name} ×{k}: " + ", ".join(f"{r} {row[str(r)].get('route')}" for r in RIDGES),
                      flush=True)
    return rows


def ratios(rows: list[dict], ridge: float) -> dict[str, float]:
    """Per (source, k, metric): the sharpened band's pooled error over the best upsampling's."""
    out = {}
    for key in dict.fromkeys((r["source"], r["k"]) for r in rows):
        at = [r for r in rows if (r["source"], r["k"]) == key and "sse" in r[str(ridge)]]
        n = sum(r[str(ridge)]["n"] for r in at)
        for metric, total, f in (("rmse", "sse", math.sqrt), ("mae", "sae", lambda v: v)):
            mine = f(sum(r[str(ridge)][total] for r in at) / n)
            best = min(f(sum(r[u][total] for r in at) / n) for u in floor_run.UPSAMPLERS)
            out[f"{key[0]} ×{key[1]} {metric}"] = round(mine / best, 4)
    return out


def score(r: dict[str, float]) -> tuple[int, float]:
    return sum(v > LIMIT for v in r.values()), round(sum(math.log(v) for v in r.values()) / max(len(r), 1), 5)


def settle(rows: list[dict]) -> dict:
    halves = {h: [r for r in rows if r["source"] in s] for h, s in HALVES.items()}
    out = {}
    for h, other in (("A", "B"), ("B", "A")):
        tried = {ridge: score(ratios(halves[h], ridge)) for ridge in RIDGES}
        ridge = min(RIDGES, key=lambda v: tried[v])
        theirs = ratios(halves[other], ridge)
        out[f"set on {h}"] = {"ridge": ridge, "tried": {str(v): {"over_limit": s[0], "mean_log_ratio": s[1]}
                                                        for v, s in tried.items()},
                              f"reported on {other}": {"over_limit": score(theirs)[0], "mean_log_ratio": score(theirs)[1],
                                                       "ratios": theirs}}
        print(f"set on {h}: ridge {ridge} ({tried[ridge]}); on {other}: {score(theirs)}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--half", choices=sorted(HALVES), help="run this half's images")
    ap.add_argument("--settle", nargs="+", metavar="RECORD", help="join the halves' records and set the ridge")
    ap.add_argument("--json", required=True, help="where the record goes")
    a = ap.parse_args()
    command = " ".join(["python benchmarks/line_ridge.py", *sys.argv[1:]])
    if a.settle:
        parts = [json.loads(Path(p).read_text()) for p in a.settle]
        rows = [r for p in parts for r in p["rows"]]
        record = {"command": command, "made_by": [p["command"] for p in parts], "code": parts[0]["code"],
                  "ridges": list(RIDGES), "halves": {h: list(s) for h, s in HALVES.items()}, "limit": LIMIT,
                  "rules": settle(rows), "rows": rows}
    else:
        if not a.half or not Path(a.data, "nir_naip_opengeos").is_dir():
            sys.exit("--half A|B and --data (the development data folder, with nir_naip_opengeos) go together")
        record = {"command": "OMP_NUM_THREADS=1 nice " + command, "code": code_state(),
                  "rows": rows_of(a.data, HALVES[a.half])}
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
