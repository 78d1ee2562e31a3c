"""One image → the others: does a fit on one image of a source carry over to its other images?

    python scripts/one_image_transfer.py PRESET RECIPE[,RECIPE…] [--data ../shared/data] [--picks 6]

For each of ``--picks`` images spread over the recipe's images: the linear map, the context ridge
(models/anchor.py features, all features penalised) and the context ridge that penalises only the
context features (λ → ∞ is the linear map) are fitted on the image's top 80 % of rows, for λ in
1e-5 … 100. Printed per fit: the median, worst and best MAE gain over the linear map on the
source's other images, and which fit the image's own bottom 20 % of rows (what ``adapt`` could
validate on) would choose. This measured why ``bandbridge adapt`` on fewer than four pairs keeps
the plain linear anchor (workflows/adapt.py).
"""

import argparse

import numpy as np
import torch

from bandbridge.config import build_config, preset_dict
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.learners.baselines import _image_features
from bandbridge.learners.ridge import ridge
from bandbridge.models.features import ContextFeatures

LAMBDAS = (1e-5, 1e-3, 1e-1, 1, 10, 100)
PIXELS = 20_000  # sampled per image
OTHERS = 3_000  # per other image, for the transfer test


def mae(w: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.abs(np.clip(np.c_[X, np.ones(len(X))] @ w, 0, 1) - Y).mean())


def sampled(preset: str, recipe: str, root: str) -> tuple[int, list[tuple[np.ndarray, ...]]]:
    """The input band count and, per image: φ(x) ``(N, F)`` (the bands first), targets
    ``(N, Ct)`` and each pixel's row as a fraction of the height."""
    d = preset_dict(preset)
    d.update(name=preset)
    d["data"].update(root=root, sources=[{"recipe": recipe, "split": {"default": "train"}}])
    pairs = PairedDataModule(build_config(d)).load_split("train")
    phi = _image_features(ContextFeatures(pairs[0].x.shape[0], (5, 15, 45), True))
    g = torch.Generator().manual_seed(0)
    out = []
    for p in pairs:
        m = p.mask[0]
        rows = (torch.arange(m.shape[0])[:, None].expand_as(m)[m].float() / m.shape[0]).numpy()
        X, Y = phi(p.x)[:, m].T.double().numpy(), p.y[:, m].T.double().numpy()
        idx = torch.randperm(len(X), generator=g)[:PIXELS].numpy()
        out.append((X[idx], Y[idx], rows[idx]))
    return pairs[0].x.shape[0], out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("preset")
    ap.add_argument("recipes")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--picks", type=int, default=6)
    a = ap.parse_args()
    for recipe in a.recipes.split(","):
        c, data = sampled(a.preset, recipe, a.data)
        n_feat = data[0][0].shape[1]
        picks = sorted({int(i * len(data) / a.picks) for i in range(a.picks)})
        families = {"all": np.ones(n_feat, bool), "ctx": np.r_[np.zeros(c, bool), np.ones(n_feat - c, bool)]}
        rows = []
        for i in picks:
            X, Y, r = data[i]
            tr, va = r < 0.8, r >= 0.8
            Xo = np.concatenate([d[0][:OTHERS] for j, d in enumerate(data) if j != i])
            Yo = np.concatenate([d[1][:OTHERS] for j, d in enumerate(data) if j != i])
            lin = ridge(X[tr][:, :c], Y[tr], 0.0)
            fits = {"linear": np.r_[lin[:c], np.zeros((n_feat - c, Y.shape[1])), lin[c:]]}
            fits.update({f"{k}-{lam:g}": ridge(X[tr], Y[tr], lam, pen)
                         for lam in LAMBDAS for k, pen in families.items()})
            rows.append({k: (mae(w, X[va], Y[va]), mae(w, Xo, Yo)) for k, w in fits.items()})
        gain = {k: np.array([100 * (1 - r[k][1] / r["linear"][1]) for r in rows]) for k in rows[0]}
        chosen = [min(r, key=lambda k: r[k][0]) for r in rows]
        print(f"\n{recipe}: {len(data)} images; fitted on images {picks}")
        print("  own rows would choose: " + ", ".join(
            f"{k} ({gain[k][n]:+.1f} %)" for n, k in enumerate(chosen)))
        for k in rows[0]:
            print(f"  {k:10s} gain on the other images: median {np.median(gain[k]):+6.1f} %, "
                  f"worst {gain[k].min():+6.1f} %, best {gain[k].max():+6.1f} %")


if __name__ == "__main__":
    main()
