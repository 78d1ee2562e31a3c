"""The test at the output's scale (issue 95): `TRANSFER_CARRY` set on half A of the floor's sources and
reported on half B, then the halves swapped.

    OMP_NUM_THREADS=1 nice python benchmarks/transfer_rule.py --data ../shared/data --floor BEFORE.json \
        --json docs/results/transfer_rule.json

``BEFORE.json`` is the floor's record made before the test existed (`git show 86b54e5^:docs/results/
sharpen_floor.json`): each image's ratio to the best upsampling (MAE) for `sharpen` and `predict
--reference` with every guided route's whole detail. For every floor image the guides' evidence is
computed as the commands compute it (`learners/transfer.evidence`, each guide to ROOM's percentiles, a
window of at most `TRANSFER_PIXELS`); a gate ``c`` stops an image's detail where the guides the others predict at
the reference's scale (coarse ratio under ``c``) have ratios at their own pixels whose mean is at or over ``c``
(`learners/transfer.carried`, the commands' own rule). A stopped
image is counted as *caught* where its route had lost over 1.01× and as a *cost* where it had won under
0.99× (a stopped image takes its upsampling, about 1×). A half's choice: the fewest losses left, then the
fewest costs, then the smallest ``c`` (the most protective gate that costs that half nothing more).
``--rows RECORD`` scores the rows of an earlier record again (the evidence unchanged) instead of computing them.
``--ridge R`` computes the evidence with `TRANSFER_RIDGE` = R; ``--ridges R=RECORD …`` (each a record of this script
at that ridge, on the same floor) sets the ridge the same way, each at the gate its half chose: a half's choice is
the fewest losses left, then the fewest wins stopped, then the ridge of the record written (the rule before). The share of detail taken below the gate
is not scored here: the floor's record at the final code is (`benchmarks/sharpen_floor.py`).

Each row also gives ``target_atp``: the target itself fitted by the same area-to-point ridge (the fine
guides' features averaged onto the cells, made consistent), scored against its truth at the output's
scale over its best upsampling: what area-to-point fitting as the target's route would give.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bandbridge.evaluation.floor_cases import HALVES, all_cases, half_of
from bandbridge.evaluation.sharpen_record import code_state, save
from bandbridge.learners.transfer import carried, evidence, related
from bandbridge.policy import TRANSFER_PIXELS

GATES = (0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05)
UPSAMPLERS = ("nearest", "bilinear", "cubic", "bspline", "lanczos")


def outcomes(floor: dict) -> dict[tuple[str, str, int], dict[str, float]]:
    """Each image's MAE over its best upsampling's, per method, from a floor record."""
    out = {}
    for r in floor["rows"]:
        best = min(r[m]["sae"] / r[m]["n"] for m in UPSAMPLERS)
        out[(r["source"], r["image"], r["k"])] = {m: r[m]["sae"] / r[m]["n"] / best
                                                  for m in ("sharpen", "reference") if "sae" in r.get(m, {})}
    return out


def to_model(x: np.ndarray) -> np.ndarray:
    """Each band's 0.1–99.9 % onto ROOM (0.25–0.75), as the sharpener's guides are mapped."""
    lo, hi = np.nanpercentile(x, (0.1, 99.9), axis=(1, 2), keepdims=True)
    return (0.25 + 0.5 * (x - lo) / np.maximum(hi - lo, 1e-9)).astype(np.float32)


def rows(data: str, before: dict) -> list[dict]:
    """Every floor image at each of its k: the guides' evidence and the outcomes before the test."""
    side = int(TRANSFER_PIXELS ** 0.5)
    out = []
    for c in all_cases(data):
        for k in c.factors:
            cc = c.cut(k)
            x = to_model(cc.guides)[:, :side // k * k, :side // k * k]
            ev = evidence(x, k, cc.guide_names)
            t = to_model(cc.truth)[:, :x.shape[1], :x.shape[2]]
            atp = evidence(np.concatenate([x, t]), k)  # the target by area-to-point fitting, scored on its truth
            out.append({"source": c.source, "half": half_of(c.source), "image": c.name, "k": k,
                        "ratios": [round(v, 4) for v in ev.ratios], "coarse": [round(v, 4) for v in ev.coarse],
                        "informative": ev.informative, "target_atp": round(atp.ratios[-1], 4) if atp.known else None,
                        "outcome": {m: round(v, 4) for m, v in before.get((c.source, c.name, k), {}).items()}})
            print(json.dumps(out[-1]), flush=True)
    return out


def scored(rs: list[dict], gate: float) -> dict[str, int]:
    """What gate ``gate`` stops on ``rs``: losses caught, wins cost, losses left (image × method)."""
    n = {"caught": 0, "cost": 0, "left": 0, "stopped": 0}
    for r in rs:
        stop = bool(r["ratios"]) and bool(related(r["coarse"], gate)) and not carried(r["ratios"], r["coarse"], gate)
        n["stopped"] += stop
        for v in r["outcome"].values():
            n["caught"] += stop and v > 1.01
            n["cost"] += stop and v < 0.99
            n["left"] += (not stop) and v > 1.01
    return n


def settle(rs: list[dict]) -> dict:
    """Each half's choice of gate and how it scores on the other half."""
    table = {h: {str(g): scored([r for r in rs if r["half"] == h], g) for g in GATES} for h in HALVES}
    choice = {h: min(GATES, key=lambda g: (table[h][str(g)]["left"], table[h][str(g)]["cost"], g)) for h in HALVES}
    return {"table": table, "choice": {h: {"gate": g, "on_own": table[h][str(g)],
                                           "on_other": table["B" if h == "A" else "A"][str(g)]}
                                       for h, g in choice.items()}}


def area_to_point(rs: list[dict]) -> dict[str, dict]:
    """Per source: on how many images the target's area-to-point fit beat its best upsampling (under 0.99×) and
    beat each command's route as it was (a lower ratio), with the median of each."""
    out = {}
    for src in dict.fromkeys(r["source"] for r in rs):
        got = [r for r in rs if r["source"] == src and r["target_atp"] is not None]
        med = lambda v: round(float(np.median(v)), 3) if v else None  # noqa: E731
        out[src] = {"images": len(got), "atp_wins": sum(r["target_atp"] < 0.99 for r in got),
                    "atp_median": med([r["target_atp"] for r in got])}
        for m in ("sharpen", "reference"):
            pairs = [(r["target_atp"], r["outcome"][m]) for r in got if m in r["outcome"]]
            out[src][f"atp_beats_{m}"] = sum(a < b for a, b in pairs)
            out[src][f"{m}_median"] = med([b for _, b in pairs])
    return out


def ridges(items: list[str], own: float, mine: dict) -> dict:
    """Each ridge's records (``R=RECORD``; ``own``: this run's, ``mine`` its settlement) at the gate each half chose
    there, and each half's choice of ridge reported on the other."""
    table = {f"{own:g}": mine}
    for item in items:
        r, _, path = item.partition("=")
        table[f"{float(r):g}"] = settle(json.loads(Path(path).read_text())["rows"])
    pick = {h: min(table, key=lambda r: (table[r]["choice"][h]["on_own"]["left"], table[r]["choice"][h]["on_own"]["cost"],
                                         r != f"{own:g}")) for h in HALVES}
    return {"by_ridge": {r: t["choice"] for r, t in table.items()}, "ridge_choice": pick}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--floor", help="the floor's record before the test (see the module's docstring)")
    ap.add_argument("--rows", help="an earlier record of this benchmark: its rows scored again, nothing computed")
    ap.add_argument("--json", default="docs/results/transfer_rule.json", help="where the record goes")
    ap.add_argument("--ridge", type=float, default=None, help="the evidence's ridge (policy.TRANSFER_RIDGE)")
    ap.add_argument("--ridges", action="append", default=[], help="R=RECORD: this script's record at ridge R, scored "
                    "beside to set the ridge")
    a = ap.parse_args()
    from bandbridge.learners import transfer
    if a.ridge is not None:
        transfer.TRANSFER_RIDGE = a.ridge
    if a.rows:
        rs = json.loads(Path(a.rows).read_text())["rows"]
    elif not a.floor or not Path(a.data, "nir_naip_opengeos").is_dir():
        sys.exit(f"--data {a.data} with --floor FILE (or --rows RECORD): the development data folder and the floor's "
                 "record before the test")
    else:
        rs = rows(a.data, outcomes(json.loads(Path(a.floor).read_text())))
    record = {"command": "OMP_NUM_THREADS=1 nice python " + " ".join(["benchmarks/transfer_rule.py", *sys.argv[1:]]),
              "code": code_state(), "halves": {h: list(s) for h, s in HALVES.items()}, "gates": list(GATES),
              "ridge": transfer.TRANSFER_RIDGE, **settle(rs), "area_to_point": area_to_point(rs), "rows": rs}
    if a.ridges:
        record |= ridges(a.ridges, transfer.TRANSFER_RIDGE, settle(rs))
        print(f"ridge set on A: {record['ridge_choice']['A']}, on B: {record['ridge_choice']['B']}")
    for h, c in record["choice"].items():
        print(f"set on {h}: {c['gate']} (own {c['on_own']}; on the other half {c['on_other']})")
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
