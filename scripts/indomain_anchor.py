"""In-domain small data: each scene of a recipe split into bands of rows (train 0–60 %, validation
60–75 %, test 75–100 %); the closed-form bars fitted on the train rows, scored on the test rows.

    python scripts/indomain_anchor.py PRESET RECIPE[,RECIPE…] [--data ../shared/data] [--gbm]

Prints per recipe the test MAE (target units) of the linear map, the constant, the context ridge
(the presets' anchor: its penalty chosen on the validation rows) and, with --gbm, gradient boosting
on the same context features; and each one's gain over the linear map. The README's "Small data"
table was made with this script.
"""

import argparse
import time

import numpy as np

from bandbridge.bands import get_scaling
from bandbridge.config import build_config, preset_dict
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.learners.baselines import (ContextRidgeBaseline, GBMContextBaseline,
                                             LinearBaseline, MeanBaseline, sample_pixels)

REGIONS = {"train": [0, 0.6], "val": [0.6, 0.75], "test": [0.75, 1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("preset")
    ap.add_argument("recipes")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--gbm", action="store_true")
    a = ap.parse_args()
    for rec in a.recipes.split(","):
        t0 = time.time()
        d = preset_dict(a.preset)
        d.update(name=a.preset)
        d["data"].update(root=a.data, sources=[{"recipe": rec, "split": {"regions": REGIONS}}])
        dm = PairedDataModule(build_config(d))
        tr, va, te = (dm.load_split(s) for s in ("train", "val", "test"))
        X, Y = sample_pixels(tr)
        methods = {"linear": LinearBaseline().fit(X, Y), "mean": MeanBaseline().fit(X, Y),
                   "ridge-context": ContextRidgeBaseline().fit_pairs(tr, va)}
        if a.gbm:
            methods["gbm-context"] = GBMContextBaseline().fit_pairs(tr)
        sel = te[0].source.target
        unit = get_scaling(sel.scaling, sel.vmin, sel.vmax).physical[0]
        mae = {k: float(np.mean([float((f(p.x) - p.y).abs()[:, p.mask[0]].mean()) * unit
                                 for p in te])) for k, f in methods.items()}
        print(f"{rec:22s} {len(te):3d} test bands  " + "  ".join(
            f"{k} {v:.4g} ({100 * (1 - v / mae['linear']):+.0f} %)" for k, v in mae.items())
            + f"  λ={methods['ridge-context'].chosen}  {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
