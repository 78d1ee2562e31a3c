"""In-domain small data with the learner-selection core: each scene of a recipe split into bands
of rows (the top 75 % given, the bottom 25 % test). On the given rows the core chooses by spatial
cross-validation and refits on every given pixel; every single candidate is also refitted on the same
pixels. All are scored on the test rows, which chose nothing. The test rows are other rows of the
same scenes, so the core chooses as `bandbridge adapt --within-scene` does: four blocks of rows of
every image, each 45 px from any training pixel.

    python scripts/indomain_learners.py PRESET RECIPE[,RECIPE…] [--data ../shared/data] [--json F]

Prints per recipe the test MAE (target units, mean over test bands) of each candidate family (the
ridge at each penalty: its best), the core's choice, and the choice's gap to the best single
candidate and gain over the linear map. ``--json`` appends the rows to a JSON file; the manual
renders its table from docs/results/indomain_learners.json (``docs/hooks/results.py``).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bandbridge.bands import get_scaling
from bandbridge.config import build_config, preset_dict
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.learners.base import family
from bandbridge.learners.folds import image_features, pair_pixels
from bandbridge.learners.registry import candidates
from bandbridge.learners.select import choose

REGIONS = {"train": [0, 0.75], "test": [0.75, 1]}


def test_mae(fitted, pairs, unit: float) -> float:
    out = []
    for p in pairs:
        f = image_features(p.x).numpy()
        m = p.mask[0].numpy()
        pred = fitted.predict(f[:, m].T, p.x.shape[0])
        out.append(float(np.abs(pred - p.y.numpy()[:, m].T).mean()) * unit)
    return float(np.mean(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("preset", nargs="?")
    ap.add_argument("recipes", nargs="?")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    for rec in a.recipes.split(","):
        t0 = time.time()
        d = preset_dict(a.preset)
        d.update(name=a.preset)
        d["data"].update(root=a.data, sources=[{"recipe": rec, "split": {"regions": REGIONS}}])
        dm = PairedDataModule(build_config(d))
        given, test = dm.load_split("train"), dm.load_split("test")
        sel_t = given[0].source.target
        unit = get_scaling(sel_t.scaling, sel_t.vmin, sel_t.vmax).physical[0]
        # the test rows are other rows of the same scenes (adapt's --within-scene): blocks of
        # rows of every image choose, as they would for a user predicting the rest of a scene
        px, _ = pair_pixels(given, ["scenes"] * len(given))
        sel = choose(px)
        each = {c.name: test_mae(c.fit(px.X, px.Y, px.bands), test, unit) for c in candidates()}
        fams: dict[str, tuple[str, float]] = {}
        for name, v in each.items():
            if family(name) not in fams or v < fams[family(name)][1]:
                fams[family(name)] = (name, v)
        chosen = test_mae(sel.fitted, test, unit)  # the refit the core hands back
        best = min(each.values())
        row = {"recipe": rec, "preset": a.preset, "test_images": len(test),
               "given_images": len(given), "groups": int(len(np.unique(px.group))),
               "folds": sel.folds[0], "chosen": sel.chosen, "blend_of": list(sel.blend_of),
               "choice_mae": chosen,
               "best_single": min(each, key=each.get), "best_single_mae": best,
               "gap_to_best": chosen / best - 1, "gain_vs_linear": 1 - chosen / each["linear"],
               "families": {k: {"candidate": n, "mae": v} for k, (n, v) in fams.items()},
               "oof": sel.oof, "seconds": round(time.time() - t0, 1),
               "command": f"python scripts/indomain_learners.py {a.preset} {rec}",
               "measured": time.strftime("%Y-%m-%d")}
        print(f"{rec:22s} {len(test):3d} test  " + "  ".join(
            f"{k} {v:.4g}" for k, (_, v) in fams.items())
            + f"  | choice {sel.chosen} {chosen:.4g} ({row['gap_to_best'] * 100:+.1f} % vs best, "
            f"{row['gain_vs_linear'] * 100:+.1f} % gain vs linear)  {row['seconds']:.0f} s", flush=True)
        if a.json:
            p = Path(a.json)
            rows = json.loads(p.read_text()) if p.exists() else []
            rows = [r for r in rows if r["recipe"] != rec] + [row]
            p.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
