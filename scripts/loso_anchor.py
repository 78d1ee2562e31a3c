"""Leave-one-source-out of the *context anchor alone* (what an anchored generator starts from,
closed form, minutes): the ridge with its penalty chosen on the training sources' validation
pixels (the rule before issue 21) against the ridge chosen by leave-one-source-out *within* the
training sources (``ContextRidgeBaseline``'s rule with two or more sources), next to the linear map
and the constant mean fitted on the same training sources. The held-out source is only scored.

    python scripts/loso_anchor.py --preset rgb2nir-pix2pix-cpu \\
        --recipes s2_wildfire,s2_eolearn,s2_sen12mscr,s2_majortom,s2_riotilerpds,landsat8_toa,modis_nbar,worldcereal_s2,s2_rsgislib_wales,s2_rsgislib_tanzania,s2_bigearthnet
    python scripts/loso_anchor.py --preset sar2optical-cpu --recipes sen12mscr,worldcereal_s1s2,sen1floods11,bigearthnet_s1s2
    python scripts/loso_anchor.py --preset rgb2thermal-cpu --recipes roadscene,tno

Prints one Markdown row per fold (MAE in the target's units, as ``evaluate``) and the worst
ratio of each rule to the better of linear and constant. ``--learner`` adds the learner-selection
core's choice (``learners/``: the training sources held out in turn, refitted on all of them),
what `bandbridge train` and `evaluate`'s ``learner`` row now fit.

First written at commit 1f0156b (removed at 176aeb3), restored (imports sorted) for the record of the
generalisation page's anchor table (docs/results/loso_anchor_s2.md, its stdout).
"""

from __future__ import annotations

import argparse

import torch

from bandbridge.config import build_config, load_config
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.evaluation.evaluate import score_pair
from bandbridge.learners.baselines import (
    ContextRidgeBaseline,
    LinearBaseline,
    MeanBaseline,
    sample_pixels,
)
from bandbridge.workflows.loso import held_out_source, parse_folds, train_source


def pairs_of(preset: str, sources: list[dict], split: str, root: str):
    d = load_config(preset, data_root=root).model_dump(mode="json")
    d["data"]["sources"] = sources
    return PairedDataModule(build_config(d)).load_split(split)


def loader(preset: str, root: str):
    """``get(recipe, split)``: each recipe's pairs loaded once — as a training source
    (``train``/``val``) or held out whole (``test``) — and reused by every fold."""
    cache: dict = {}

    def get(name: str, split: str):
        if (name, split) not in cache:
            src = held_out_source(name) if split == "test" else train_source(name)
            cache[name, split] = pairs_of(preset, [src], split, root)
        return cache[name, split]
    return get


def mae(method, pairs) -> float:
    """Mean over images of each whole image's MAE (``evaluate``'s protocol)."""
    return sum(score_pair(p, method(p.x), "translation", 1)["mae"] for p in pairs) / len(pairs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--recipes", required=True)
    ap.add_argument("--fold", action="append", default=[])
    ap.add_argument("--lambdas", help="comma-separated penalties to try instead of the class's")
    ap.add_argument("--learner", action="store_true", help="add the learner-selection core's column")
    a = ap.parse_args()
    if a.lambdas:
        ContextRidgeBaseline.LAMBDAS = tuple(float(v) for v in a.lambdas.split(","))
    folds = parse_folds(a.fold, a.recipes.split(","))
    cols = ["linear", "mean", "ridge[validation]", "ridge[sources]"] + (["learner"] if a.learner else [])
    print("| held out | images | " + " | ".join(cols) + " | chosen: validation / sources |")
    print("|---|---|" + "---|" * len(cols) + "---|")
    worst = {c: 0.0 for c in cols}
    get = loader(a.preset, a.data)
    for f in folds:
        train = [p for n in f.train for p in get(n, "train")]
        val = [p for n in f.train for p in get(n, "val")]
        test = [p for n in f.test for p in get(n, "test")]
        X, Y = sample_pixels(train)
        by_val = ContextRidgeBaseline().fit_pairs(train, val, rule="validation")
        by_src = ContextRidgeBaseline().fit_pairs(train, val)
        row = {"linear": mae(LinearBaseline().fit(X, Y), test), "mean": mae(MeanBaseline().fit(X, Y), test),
               "ridge[validation]": mae(by_val, test), "ridge[sources]": mae(by_src, test)}
        note = ""
        if a.learner:
            from bandbridge.learners.baselines import LearnerBaseline
            lrn = LearnerBaseline().fit_pairs(train, budget_s=None)
            row["learner"] = mae(lrn, test)
            note = f"; learner {lrn.selection.chosen}"
        ref = min(row["linear"], row["mean"])
        for c in cols:
            worst[c] = max(worst[c], row[c] / ref)
        print(f"| {f.name} | {len(test)} | " + " | ".join(f"{row[c]:.4g}" for c in cols)
              + f" | {by_val.chosen} / {by_src.chosen} ({by_src.rule}){note} |", flush=True)
    print("\nworst ratio to the better of linear and constant: "
          + ", ".join(f"{c} {v:.3f}" for c, v in worst.items()))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
