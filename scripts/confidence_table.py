"""How well `predict --confidence` says where not to trust a model (issue 21).

    python scripts/confidence_table.py rgb2nir-s2=s2_rsgislib_wales,s2_bigearthnet rgb2thermal=tno \
        [--data ../shared/data] [--out runs/eval/confidence]
    python scripts/confidence_table.py --add rgb2nir-s2 [--data ../shared/data]   # write it into a bundle

Each MODEL=RECIPE,… takes the model's expected-error model (fitted on its own validation split,
`evaluation/confidence.py`; fitted on the fly when the bundle has none) and scores it on every
image of sources the model never trained on: Spearman ρ between expected and real absolute error
per pixel, and the share of the real error carried by the 10 % of pixels it flags worst (pixels
pooled over the source's images, up to 200 000, the same number from each image). The goals:
ρ ≥ 0.3 and a share ≥ 25 % on every source.
"""

import argparse
import json
from pathlib import Path

from bandbridge.bundle import load_model
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.evaluation.confidence import calibration, predict_pairs, sample
from bandbridge.evaluation.evaluate import with_data
from bandbridge.inference.core.confidence import calibrated
from bandbridge.spec import resolve_model_folder
from bandbridge.workflows.loso import held_out_source
from bandbridge.workflows.trust import add_confidence


def score(model: str, recipe: str, data: str) -> dict:
    b = load_model(model)
    conf = b.info.get("confidence")
    pairs = PairedDataModule(with_data(b.config, data, [held_out_source(recipe)])).load_split("test")
    F, E = sample(predict_pairs(b, pairs))
    return {"images": len(pairs), **calibration(calibrated(F.T, conf), E)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", nargs="*", help="MODEL=RECIPE[,RECIPE…]")
    ap.add_argument("--add", nargs="*", default=[], help="fit and write the error model into these bundles")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="runs/eval/confidence")
    a = ap.parse_args()
    for m in a.add:
        conf = add_confidence(resolve_model_folder(m), data_root=a.data)
        v = conf["validation"]
        print(f"{m}: fitted on {conf['fitted_on']}; on those pixels ρ {v['spearman']:.3f}, "
              f"worst 10 % carry {v['top10_share']:.1%} of the error")
    lines = ["| model | held-out source | images | pixels | Spearman ρ | worst 10 % carry | mean expected | mean real |",
             "|---|---|---|---|---|---|---|---|"]
    report = {}
    for pair in a.pairs:
        name, recipes = pair.split("=", 1)
        if not load_model(name).info.get("confidence"):
            raise SystemExit(f"{name} has no error model: run with --add {name} first")
        for r in recipes.split(","):
            s = score(name, r, a.data)
            report[f"{name}/{r}"] = s
            lines.append(f"| {name} | {r} | {s['images']} | {s['pixels']} | {s['spearman']:.3f} | "
                         f"{s['top10_share']:.1%} | {s['mean_expected']:.4g} | {s['mean_real']:.4g} |")
            print(lines[-1], flush=True)
    if a.pairs:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "table.md").write_text("\n".join(lines) + "\n")
        (out / "report.json").write_text(json.dumps(report, indent=1))
        print("\n".join(lines))


if __name__ == "__main__":
    main()
