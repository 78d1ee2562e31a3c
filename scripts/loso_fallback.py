"""Leave-one-source-out with the per-image fallback to the zero-shot floor (issue 49,
models/fallback.py), for fold runs trained before ``train`` gave its bundle the fallback.

For each fold of a ``bandbridge loso`` output folder: the fold's ``model/best`` is copied, given
the floor and the guard ``train`` now gives it at the end of a run (``trust.floor_and_guard`` on
the fold's own training split and validation split: the same function, the same pixels), and
scored on the held-out source as ``loso`` scores it (``evaluate``, the test split of the held-out
recipes). The held-out source is only scored. Per fold it records the model without and with the
fallback, the floor and the plain linear map of the fold's record, and how many held-out images
the guard sent to the floor (weight below 1) and wholly (weight 0), and how many were files of
another sensor, which the floor predicts wholly (inference/core/route.floor_instead): the model is
scored alone, with the per-image fallback alone (``guard_only``) and as it ships (``fallback``).

    python scripts/loso_fallback.py runs/loso-fb/rgb2thermal --data ../shared/data
    python scripts/loso_fallback.py runs/loso-fb/naip-bundle --bundle rgb2nir-naip \
        --fold geoeye1=vhr_geoeye1 --fold vhr_11bit=vhr_11bit --fold epfl_photos=epfl_photos

Writes ``<out>/fallback.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from bandbridge.bundle import load_model
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.evaluation.evaluate import evaluate, floors_for, with_data
from bandbridge.radiometry import guard_weight
from bandbridge.workflows.loso import held_out_source
from bandbridge.spec import FLOOR_DIR
from bandbridge.workflows.trust import floor_and_guard, give_floor, write_floor


def fold_row(fold: dict, out: Path, data: str) -> dict:
    """One fold: ``fold["run"]``'s ``model/best`` (or ``fold["model"]``, a bundle trained on
    the fold's training sources) with the fallback, scored on ``fold["test"]``; the floor and
    linear columns from ``fold["methods"]`` (the fold's record), else fitted here by
    ``evaluate`` on the bundle's own training split."""
    best = Path(fold["model"]) if "model" in fold else Path(fold["run"]) / "model" / "best"
    dst = out / "fallback" / fold["fold"] / "model"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(best, dst, ignore=shutil.ignore_patterns(FLOOR_DIR))
    write_floor(dst, None)  # the model alone first: a bundle that ships with its fallback loses it here
    cfg = with_data(load_model(dst).config, data, None)
    dm = PairedDataModule(cfg)
    run = Path(fold.get("run", best))
    baseline = json.loads((run / "baseline.json").read_text()) if (run / "baseline.json").exists() else {}
    floor, guard = floor_and_guard(dm.load_split("train"), dm.load_split("val"),
                                   (baseline.get("anchor") or {}).get("floor"))
    held = [held_out_source(n) for n in fold["test"]]
    m = fold.get("methods")
    if m is None:  # the model alone and the baselines on the bundle's training split
        m = evaluate(dst, data_root=data, split="test", recipes=held,
                     out_dir=out / "fallback" / fold["fold"] / "without").summary["methods"]
    write_floor(dst, floor, guard)  # the per-image fallback alone
    res = evaluate(dst, data_root=data, split="test", recipes=held,
                   out_dir=out / "fallback" / fold["fold"] / "guard", with_baselines=False)
    guarded = res.summary["methods"]["model"]["mae"]
    give_floor(dst, floor, guard, dm.load_split("val"))  # and the floor for files of another sensor
    pairs = PairedDataModule(with_data(cfg, data, held)).load_split("test")
    foreign = floors_for(dst, pairs)[1]  # sources of another sensor: the floor wholly, as predict
    if foreign:
        res = evaluate(dst, data_root=data, split="test", recipes=held,
                       out_dir=out / "fallback" / fold["fold"] / "scores", with_baselines=False)
    w = np.array([guard_weight(p.stats.double().numpy(), guard) for p in pairs])
    return {"fold": fold["fold"], "images": len(pairs), "model": m["model"]["mae"],
            "guard_only": guarded, "fallback": res.summary["methods"]["model"]["mae"], "floor": m["floor"]["mae"],
            "linear": m["linear"]["mae"], "floor_kind": floor["kind"],
            "to_floor": int((w < 1).sum()), "wholly": int((w == 0).sum()), "mean_weight": float(w.mean()),
            "another_sensor": sum(p.source.name in foreign for p in pairs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", help="a `bandbridge loso` output folder (its loso.json and runs/), or with "
                                "--bundle the folder to write into")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--bundle", help="a bundle (name or folder) trained on every fold's training "
                                     "sources, scored as each fold's model")
    ap.add_argument("--fold", action="append", default=[], help="NAME=RECIPE[,RECIPE]: held out (with --bundle)")
    a = ap.parse_args()
    out = Path(a.out)
    if a.bundle:
        from bandbridge.spec import resolve_model_folder
        model = str(resolve_model_folder(a.bundle))
        folds = [{"fold": n, "test": r.split(","), "model": model}
                 for n, r in (f.split("=", 1) for f in a.fold)]
    else:
        folds = json.loads((out / "loso.json").read_text())["folds"]
    out.mkdir(parents=True, exist_ok=True)
    rows = [fold_row(f, out, a.data) for f in folds]
    (out / "fallback.json").write_text(json.dumps({"folds": rows}, indent=1))
    print("| held out | images | model | per-image fallback | and another sensor's floor | floor | linear | to the floor (wholly) | another sensor | vs the better |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        better = min(r["floor"], r["linear"])
        print(f"| {r['fold']} | {r['images']} | {r['model']:.4g} | {r['guard_only']:.4g} | {r['fallback']:.4g} | {r['floor']:.4g} | "
              f"{r['linear']:.4g} | {r['to_floor']} ({r['wholly']}) | {r['another_sensor']} | {r['fallback'] / better - 1:+.1%} |")


if __name__ == "__main__":
    main()
