"""Which model `rgb2nir` picks for each kind of 8-bit RGB, and whether the pick is the better one
(issue 21): every image of each set is routed as `predict -m rgb2nir` would route it, and scored
with both 8-bit models.

    python scripts/routing_table.py [--data ../shared/data] [RECIPE[:SPLIT] …]

Default sets: the EPFL camera photos' test split (JPEG, no georeference), GeoEye-1 (8-bit
GeoTIFF without georeference), NAIP's held-out 2020 date (georeferenced). MAE in DN, mean over
images; `picked` counts the images routed to each model.
"""

import argparse
from collections import Counter

import numpy as np

from bandbridge.evaluation.evaluate import evaluate
from bandbridge.inference.core.route import route_model
from bandbridge.workflows.loso import held_out_source

MODELS = ("rgb2nir-naip", "rgb2nir-photo")
DEFAULT = ["epfl_photos:test", "vhr_geoeye1", "naip_opengeos:test"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="*", default=DEFAULT)
    ap.add_argument("--data", default="../shared/data")
    a = ap.parse_args()
    lines = ["| set | images | routed to | " + " | ".join(f"`{m}` MAE" for m in MODELS) + " | the pick is |",
             "|---|---|---|" + "---|" * len(MODELS) + "---|"]
    for s in a.sets:
        recipe, _, split = s.partition(":")
        source = recipe if split else held_out_source(recipe)
        res = evaluate(MODELS[0], a.data, split or "test", [source], keep_samples=0,
                       others={MODELS[1]: MODELS[1]}, with_baselines=False)
        rows = [r for r in res.rows]
        ids = sorted({r["id"] for r in rows})
        paths = {r["id"]: r for r in rows}
        from bandbridge.bundle import load_model
        from bandbridge.data.datamodule import PairedDataModule
        from bandbridge.evaluation.evaluate import with_data
        cfg = with_data(load_model(MODELS[0]).config, a.data, [source])
        picked = Counter(route_model("rgb2nir", p.item.input_path)[0].name
                         for p in PairedDataModule(cfg).load_split(split or "test"))
        mae = {("model" if m == MODELS[0] else m): np.mean([r["mae"] for r in rows
               if r["method"] == ("model" if m == MODELS[0] else m)]) for m in MODELS}
        vals = [mae["model"], mae[MODELS[1]]]
        top = picked.most_common(1)[0][0]
        better = MODELS[int(np.argmin(vals))]
        lines.append(f"| {s} | {len(ids)} | {', '.join(f'{k} ({n})' for k, n in picked.items())} | "
                     + " | ".join(f"{v:.2f}" for v in vals)
                     + f" | {'the better one' if top == better else 'the worse one'} |")
        print(lines[-1], flush=True)
        del paths
    print("\n".join(lines))


if __name__ == "__main__":
    main()
