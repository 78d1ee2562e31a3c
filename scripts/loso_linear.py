"""Leave-one-source-out of the *anchor alone*: the closed-form linear fit (what an anchored
generator starts from) under each input normalisation, in seconds, next to the raw linear and MLP
baselines. Chooses the normalisation before any GAN is trained; the held-out source is only scored.
First written at commit 1f0156b (removed at 176aeb3), restored (imports sorted) for the record of the
generalisation page's table (docs/results/loso_linear.md, its stdout).

    python scripts/loso_linear.py --data ../shared/data \
        --recipes s2_wildfire,s2_eolearn,s2_sen12mscr,s2_majortom,s2_riotilerpds,landsat8_toa,modis_nbar
"""

from __future__ import annotations

import argparse

import torch

from bandbridge.config import build_config, load_config
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.evaluation.evaluate import score_pair
from bandbridge.learners.baselines import LinearBaseline, MLPBaseline, sample_pixels
from bandbridge.models.anchor import normalize_bands
from bandbridge.workflows.loso import held_out_source, parse_folds, train_source

MODES = ("none", "dark_object", "robust")


def pairs_of(sources: list[dict], split: str, root: str):
    cfg = load_config("rgb2nir-pix2pix-cpu", data_root=root)
    d = cfg.model_dump(mode="json")
    d["data"]["sources"] = sources
    return PairedDataModule(build_config(d)).load_split(split)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--recipes", required=True)
    ap.add_argument("--fold", action="append", default=[])
    a = ap.parse_args()
    names = a.recipes.split(",")
    folds = parse_folds(a.fold, names)
    cols = [f"linear[{m}]" for m in MODES] + ["mlp[none]"]
    print("| fold | " + " | ".join(f"{c} MAE / NDVI MAE" for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    tot = {c: [0.0, 0.0] for c in cols}
    for f in folds:
        train = pairs_of([train_source(n) for n in f.train], "train", a.data)
        test = pairs_of([held_out_source(n) for n in f.test], "test", a.data)
        row = {}
        for m in MODES:
            lin = LinearBaseline().fit(*sample_pixels(train, input_norm=m))
            scores = []
            for p in test:
                c = p.x.shape[0]
                xn = normalize_bands(p.x[None], p.stats[None, :c], p.stats[None, c:], m)[0]
                scores.append(score_pair(p, lin(xn), "translation", 1))
            row[f"linear[{m}]"] = scores
        mlp = MLPBaseline().fit(*sample_pixels(train))
        row["mlp[none]"] = [score_pair(p, mlp(p.x), "translation", 1) for p in test]
        cells = []
        for c in cols:
            mae = sum(s["mae"] for s in row[c]) / len(row[c])
            nd = sum(s["ndvi_mae"] for s in row[c]) / len(row[c])
            tot[c][0] += mae / len(folds)
            tot[c][1] += nd / len(folds)
            cells.append(f"{mae:.4f} / {nd:.4f}")
        print(f"| {f.name} | " + " | ".join(cells) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{v[0]:.4f} / {v[1]:.4f}**" for v in tot.values()) + " |")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
