"""Set the floor's two rules on one half of the sources and report them on the other (issue 84): the
octave trend τ (`policy.OCTAVE_TREND`) and the upsampling taken where too few cells choose one
(`policy.FALLBACK_UPSAMPLING`), from a record of `benchmarks/sharpen_floor.py` made with τ = 0.

    python benchmarks/octave_rules.py docs/results/sharpen_floor_tau0.json --json docs/results/octave_rules.json

Each row of the record holds, for every band that took a guided route, its gains over the best upsampling
one step down and one octave coarser (`octaves`) and the upsampling it would take without the guides. For a
candidate τ a row keeps its route where `octaves.predicted` stays under 1 − margin (sharpen: 0.99, the
consistent route of predict --reference: 1), else it is scored as that upsampling (without the
correction, which only the command applies: an approximation the re-run at the chosen τ replaces). τ is
chosen on a half by the fewest (source, k, method, metric) over 1.01× the best upsampling, then the lowest
mean log ratio; the fallback by the lowest geometric mean of each interpolation's RMSE over the best's on
that half's images of under 400 cells; at that τ and fallback, the sharpener's margin (its fit's and its line's,
`policy.SHARPEN_MARGIN` and `LINE_MARGIN`) from 1 % up the same way (a margin under the record's refuses no
route it took: the record cannot score one). Each is then scored on the other half.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from bandbridge.data.grids import GDAL_NAMES
from bandbridge.evaluation.floor_cases import HALVES, LIMIT
from bandbridge.learners.octaves import predicted

UPSAMPLERS = tuple(GDAL_NAMES)  # every upsampling a user runs
TAUS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
MARGINS = {"sharpen": 0.01, "reference": 0.0}  # the record's: SHARPEN_MARGIN = LINE_MARGIN; the reference's fit
SHARPEN_MARGINS = (0.01, 0.02, 0.05, 0.1)  # the sharpener's fit and line (a smaller one: the record cannot say)
FEW = 400  # cells under which one Wald step of 2 leaves fewer than FIT_DEGRADED_MIN: the fallback decides


def outcome(row: dict, method: str, tau: float, fb: str = "cubic", margin: float | None = None) -> dict | None:
    """The errors of ``method`` on ``row`` had τ been ``tau``, the fallback ``fb`` and the guided routes' margin
    ``margin`` (None: the record's; None returned: the method did not run). The record's fallback was cubic: a
    row under :data:`FEW` cells that took it takes ``fb``. The consistent route is decided by its own rule
    (``benchmarks/consistent_rule.py``), which τ and the margin do not touch."""
    m = row.get(method, {})
    if "sse" not in m:
        return None
    route = m.get("route", "")
    if row["cells"] < FEW and (route == "cubic" or route.startswith("upsampled") and m.get("upsampling") == "cubic"):
        return row[fb]
    o = m.get("octaves") or {}
    if not o or not math.isfinite(o.get("one_step_down", float("nan"))) or route.startswith(("consistent", "upsampled")):
        return m
    g0 = predicted(o["one_step_down"], o.get("octave_coarser", float("nan")), row["k"], tau)
    if g0 < 1 - (MARGINS[method] if margin is None else margin):
        return m
    up = (m.get("upsampling") or "cubic").split("+")[0]
    return row[up] if up in row else m


def ratios(rows: list[dict], tau: float, fb: str = "cubic", margin: float | None = None) -> dict:
    """Per (source, k, method, metric): the method's pooled error over the best upsampling's, at ``tau``,
    the fallback ``fb`` and the sharpener's margin ``margin`` (None: the record's)."""
    out = {}
    for key in {(r["source"], r["k"]) for r in rows}:
        at = [r for r in rows if (r["source"], r["k"]) == key]
        for method in MARGINS:
            got = [outcome(r, method, tau, fb, margin if method == "sharpen" else None) for r in at]
            if any(g is None for g in got):
                continue
            n = sum(g["n"] for g in got)
            for metric, total, f in (("rmse", "sse", math.sqrt), ("mae", "sae", lambda v: v)):
                mine = f(sum(g[total] for g in got) / n)
                best = min(f(sum(r[u][total] for r in at) / n) for u in UPSAMPLERS)
                out[f"{key[0]} ×{key[1]} {method} {metric}"] = mine / best
    return out


def score(r: dict) -> tuple[int, float]:
    return sum(v > LIMIT for v in r.values()), sum(math.log(v) for v in r.values()) / max(len(r), 1)


def fallback(rows: list[dict]) -> dict[str, float]:
    """Each interpolation's geometric mean RMSE over the best's on the rows of under :data:`FEW` cells."""
    few = [r for r in rows if r["cells"] < FEW]
    rmse = lambda r, u: math.sqrt(r[u]["sse"] / r[u]["n"])  # noqa: E731
    return {u: math.exp(sum(math.log(rmse(r, u) / min(rmse(r, v) for v in UPSAMPLERS)) for r in few) / max(len(few), 1))
            for u in UPSAMPLERS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("record", help="a sharpen_floor.py record made with OCTAVE_TREND = 0")
    ap.add_argument("--json", help="where the settings and their scores go")
    a = ap.parse_args()
    rec = json.loads(Path(a.record).read_text())
    halves = {h: [r for r in rec["rows"] if r["source"] in s] for h, s in HALVES.items()}
    result = {"command": "python benchmarks/octave_rules.py " + " ".join(sys.argv[1:]), "record": a.record,
              "record_code": rec.get("code"), "taus": TAUS, "halves": {h: list(s) for h, s in HALVES.items()}}
    for h, other in (("A", "B"), ("B", "A")):
        fb = fallback(halves[h])
        best_fb = min(fb, key=fb.get)
        tried = {t: score(ratios(halves[h], t, best_fb)) for t in TAUS}
        tau = min(TAUS, key=lambda t: tried[t])
        reported = ratios(halves[other], tau, best_fb)
        margins = {mg: score(ratios(halves[h], tau, best_fb, mg)) for mg in SHARPEN_MARGINS}
        margin = min(SHARPEN_MARGINS, key=lambda mg: margins[mg])
        result[f"margin set on {h}"] = {
            "margin": margin, "tried": {str(mg): {"over_limit": v[0], "mean_log_ratio": round(v[1], 5)}
                                        for mg, v in margins.items()},
            f"reported on {other}": score(ratios(halves[other], tau, best_fb, margin))[0]}
        result[f"set on {h}"] = {
            "tau": tau, "tried": {str(t): {"over_limit": s[0], "mean_log_ratio": round(s[1], 5)} for t, s in tried.items()},
            "fallback": best_fb, "fallback_scores": {u: round(v, 4) for u, v in fb.items()},
            f"reported on {other}": {"over_limit": score(reported)[0], "ratios": {k: round(v, 4) for k, v in
                                                                                  sorted(reported.items())}},
            f"on {other} at tau 0": score(ratios(halves[other], 0.0))[0],
            f"fallback on {other}": {u: round(v, 4) for u, v in fallback(halves[other]).items()}}
        print(f"set on {h}: tau {tau} ({tried[tau][0]} over {LIMIT} there), fallback {best_fb}; on {other}: "
              f"{score(reported)[0]} over {LIMIT} (at tau 0: {score(ratios(halves[other], 0.0))[0]})")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
