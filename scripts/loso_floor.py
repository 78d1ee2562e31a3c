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

Writes ``docs/loso/floor/<name>.json`` and prints its Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from bandbridge.learners.baselines import LinearBaseline, sample_by_source, sample_pixels
from bandbridge.learners.floor import FLOORS, PIXELS, choose_floor, fit_floor
from bandbridge.workflows.loso import parse_folds
from loso_anchor import loader, mae

OUT = Path(__file__).resolve().parent.parent / "docs" / "loso" / "floor"


class Map:
    """A floor ``W (Ci + 1, Ct)`` on a whole image ``(Ci, H, W)`` → ``(Ct, H, W)`` in [0, 1]."""

    def __init__(self, W: np.ndarray):
        self.W = torch.from_numpy(W).float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("chw,ct->thw", x.float(), self.W[:-1]) + self.W[-1][:, None, None]
        return y.clamp(0, 1)


def by_source(pairs) -> dict:
    """``{source: (X, Y, valid pixels)}`` for :func:`choose_floor` (numpy, up to PIXELS each)."""
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p.source.name] = counts.get(p.source.name, 0) + int(p.mask.sum())
    per = sample_by_source(pairs, n=PIXELS * len(counts))
    return {n: (X.numpy(), Y.numpy(), counts[n]) for n, (X, Y) in per.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True)
    ap.add_argument("--name", required=True, help="the family: the record's file name")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--recipes", required=True)
    ap.add_argument("--fold", action="append", default=[])
    ap.add_argument("--rule", help="the family's LOSO record (loso.json): the shipped rule's column")
    a = ap.parse_args()
    rule = {f["fold"]: f["methods"]["model"]["mae"] for f in json.loads(Path(a.rule).read_text())["folds"]} \
        if a.rule else {}
    folds = parse_folds(a.fold, a.recipes.split(","))
    get = loader(a.preset, a.data)
    rows = []
    for f in folds:
        train = [p for n in f.train for p in get(n, "train")]
        test = [p for n in f.test for p in get(n, "test")]
        per = by_source(train)
        floor = choose_floor(per)
        row = {"fold": f.name, "train": f.train, "test": f.test, "images": len(test),
               "floor": floor.kind, "inner": floor.record() | {"linear": None},
               "linear": mae(LinearBaseline().fit(*sample_pixels(train)), test),
               "candidates": {k: mae(Map(fit_floor(k, per)), test) for k in FLOORS}}
        row["floor_mae"] = row["candidates"][floor.kind]
        if f.name in rule:
            row["rule"] = rule[f.name]
        rows.append(row)
        print(f"{f.name}: floor {floor.kind} {row['floor_mae']:.4g}, linear {row['linear']:.4g}"
              + (f", rule {row['rule']:.4g}" if "rule" in row else ""), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    record = {"preset": a.preset, "recipes": a.recipes.split(","), "folds_given": a.fold,
              "rule_record": a.rule, "rows": rows}
    (OUT / f"{a.name}.json").write_text(json.dumps(record, indent=1))
    print(table(record))


def table(record: dict) -> str:
    """The Markdown table of a floor record (also rendered into the docs)."""
    rows = record["rows"]
    has_rule = any("rule" in r for r in rows)
    head = ["held out", "images", "plain linear", "floor (kind)", "floor vs linear",
            *FLOORS, *(["rule", "rule vs better of floor, linear"] if has_rule else [])]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["fold"], str(r["images"]), f"{r['linear']:.4g}", f"{r['floor_mae']:.4g} ({r['floor']})",
                 f"{100 * (r['floor_mae'] / r['linear'] - 1):+.1f} %",
                 *(f"{r['candidates'][k]:.4g}" for k in FLOORS)]
        if has_rule:
            ref = min(r["floor_mae"], r["linear"])
            cells += [f"{r['rule']:.4g}", f"{100 * (r['rule'] / ref - 1):+.1f} %"] if "rule" in r else ["", ""]
        out.append("| " + " | ".join(cells) + " |")
    lin = np.mean([r["linear"] for r in rows])
    flo = np.mean([r["floor_mae"] for r in rows])
    wins = sum(r["floor_mae"] < r["linear"] for r in rows)
    out.append(f"\nMean over {len(rows)} folds: floor {flo:.4g}, plain linear {lin:.4g} "
               f"({100 * (flo / lin - 1):+.1f} %); the floor is lower on {wins} of {len(rows)} folds.")
    return "\n".join(out)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
