"""Leave-one-source-out of the zero-shot floor (issue 49, ``learners/floor.py``): per fold, every
floor candidate and the chosen floor (chosen by leave-one-source-out *within* the fold's training
sources, refitted on all of them) are fitted on the training sources' train split and scored on
the held-out source whole (``evaluate``'s protocol: mean over images of each image's MAE, in the
target's units), next to the plain linear map of the LOSO tables (least squares on the same
training pixels, ``evaluate``'s ``linear``) and, given the family's LOSO record, the shipped rule.
The held-out source is only scored.

    python scripts/loso_floor.py --preset rgb2nir-pix2pix-cpu --name rgb2nir-s2 \\
        --recipes s2_wildfire,s2_eolearn,s2_sen12mscr,s2_majortom,s2_riotilerpds,landsat8_toa,modis_nbar,worldcereal_s2,s2_rsgislib_wales,s2_rsgislib_tanzania,s2_bigearthnet \\
        --rule docs/loso/anchor-learner/rgb2nir-s2/loso.json

Writes the family's record into ``docs/results/loso_floor.json`` (rendered on the generalisation
page) and prints its table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bandbridge.learners.baselines import FloorBaseline, LinearBaseline, floor_pixels, sample_pixels
from bandbridge.learners.floor import FLOORS, choose_floor, fit_floor, level_carries
from bandbridge.workflows.loso import parse_folds
from loso_anchor import loader, mae

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs" / "hooks"))
from results import floor_family as table  # noqa: E402 - the docs' own rendering

RECORD = Path(__file__).resolve().parent.parent / "docs" / "results" / "loso_floor.json"


def as_map(W: np.ndarray) -> FloorBaseline:
    """A floor ``W (Ci + 1, Ct)`` served as evaluation serves the floor baseline."""
    b = FloorBaseline()
    b.learner.coef_ = W
    return b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True)
    ap.add_argument("--name", required=True, help="the family: the record's file name")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--recipes", required=True)
    ap.add_argument("--fold", action="append", default=[])
    ap.add_argument("--rule", help="the family's LOSO record (loso.json): the shipped rule's column")
    ap.add_argument("--level", action="append", default=[],
                    help="LEVEL=recipe,recipe: the recipes of one processing level (e.g. toa=…, "
                         "surface=…); adds the floor chosen on the training sources of the held-out "
                         "source's level alone")
    a = ap.parse_args()
    level_of = {r: lv for lv, rs in (x.split("=", 1) for x in a.level) for r in rs.split(",")}
    rule = {f["fold"]: f["methods"]["model"]["mae"] for f in json.loads(Path(a.rule).read_text())["folds"]} \
        if a.rule else {}
    folds = parse_folds(a.fold, a.recipes.split(","))
    get = loader(a.preset, a.data)
    rows = []
    for f in folds:
        train = [p for n in f.train for p in get(n, "train")]
        test = [p for n in f.test for p in get(n, "test")]
        per = floor_pixels(train)
        floor = choose_floor(per)
        row = {"fold": f.name, "train": f.train, "test": f.test, "images": len(test),
               "floor": floor.kind, "inner": floor.record() | {"linear": None},
               "linear": mae(LinearBaseline().fit(*sample_pixels(train)), test),
               "candidates": {k: mae(as_map(fit_floor(k, per)), test) for k in FLOORS}}
        row["floor_mae"] = row["candidates"][floor.kind]
        levels = {level_of.get(n) for n in f.test}
        if level_of and len(levels) == 1 and None not in levels:  # the floor of the held-out level
            lv = levels.pop()
            same = {n: v for n, v in per.items() if level_of.get(n) == lv}
            if same:
                fl = choose_floor(same)
                carry = level_carries(per, level_of, lv)  # judged on the training sources alone
                row["level"] = {"level": lv, "sources": sorted(same), "floor": fl.kind,
                                "mae": mae(as_map(fl.W), test), "carries": carry["kept"],
                                "inner": carry["held_out_mae"]}
        if f.name in rule:
            row["rule"] = rule[f.name]
        rows.append(row)
        print(f"{f.name}: floor {floor.kind} {row['floor_mae']:.4g}, linear {row['linear']:.4g}"
              + (f", rule {row['rule']:.4g}" if "rule" in row else "")
              + (f", {row['level']['level']} floor {row['level']['mae']:.4g} (carries: {row['level']['carries']})"
                 if "level" in row else ""),
              flush=True)
    record = {"preset": a.preset, "recipes": a.recipes.split(","), "folds_given": a.fold,
              "rule_record": a.rule, "rows": rows, "measured": time.strftime("%Y-%m-%d"),
              "command": "python scripts/loso_floor.py " + " ".join(
                  f"'{v}'" if any(c in v for c in " >") else v for v in sys.argv[1:])}
    families = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    families[a.name] = record
    RECORD.write_text(json.dumps(families, indent=1))
    print(table(record))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
