"""Which model `rgb2nir` picks for each kind of 8-bit RGB, and whether the pick is the better one
(issue 21): every image of each set is routed as `predict -m rgb2nir` would route it, and scored
with both 8-bit models.

    python scripts/routing_table.py [--data ../shared/data] [RECIPE[:SPLIT] …] [--json docs/results/routing.json]

Default sets: the EPFL camera photos' test split (JPEG, no georeference), GeoEye-1 (8-bit
GeoTIFF without georeference), NAIP's held-out 2020 date (georeferenced). MAE in DN, mean over
images; `picked` counts the images routed to each model. ``--json`` writes the record the models
page's table is held to (tests/project/test_doc_figures.py). First written at commit c39e6ba,
restored for that record.
"""

import argparse
import datetime
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from bandbridge.bundle import load_model
from bandbridge.data.items import discover
from bandbridge.evaluation.evaluate import evaluate, with_data
from bandbridge.inference.core.route import route_model
from bandbridge.workflows.loso import held_out_source

MODELS = ("rgb2nir-naip", "rgb2nir-photo")
DEFAULT = ["epfl_photos:test", "vhr_geoeye1", "naip_opengeos:test"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="*", default=DEFAULT)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json", type=Path, help="write the record here")
    a = ap.parse_args()
    rec = {"command": "python scripts/routing_table.py " + " ".join(sys.argv[1:]),
           "measured": datetime.date.today().isoformat(), "units": "DN", "rows": []}
    lines = ["| set | images | routed to | " + " | ".join(f"`{m}` MAE" for m in MODELS) + " | the pick is |",
             "|---|---|---|" + "---|" * len(MODELS) + "---|"]
    for s in a.sets:
        recipe, _, split = s.partition(":")
        source = recipe if split else held_out_source(recipe)
        res = evaluate(MODELS[0], a.data, split or "test", [source], keep_samples=0,
                       others={MODELS[1]: MODELS[1]}, with_baselines=False)
        rows = res.rows
        cfg = with_data(load_model(MODELS[0]).config, a.data, [source])
        picked = Counter(route_model("rgb2nir", it.input_path)[0].name
                         for it in discover(cfg.data)[split or "test"])
        method = {MODELS[0]: "model", MODELS[1]: MODELS[1]}  # evaluate's names for the two
        vals = [np.mean([r["mae"] for r in rows if r["method"] == method[m]]) for m in MODELS]
        top = picked.most_common(1)[0][0]
        better = MODELS[int(np.argmin(vals))]
        lines.append(f"| {s} | {len({r['id'] for r in rows})} | {', '.join(f'{k} ({n})' for k, n in picked.items())} | "
                     + " | ".join(f"{v:.2f}" for v in vals)
                     + f" | {'the better one' if top == better else 'the worse one'} |")
        print(lines[-1], flush=True)
        rec["rows"].append({"set": s, "images": len({r["id"] for r in rows}), "routed": dict(picked),
                            "mae": dict(zip(MODELS, map(float, vals))), "pick": top, "better": better})
    print("\n".join(lines))
    if a.json:
        a.json.write_text(json.dumps(rec, indent=1) + "\n")


if __name__ == "__main__":
    main()
