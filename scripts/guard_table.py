"""The never-worse guard measured: each model scored on sources it never saw, with and without
its guard, beside the baselines fitted on its training data (issue 21).

    python scripts/guard_table.py rgb2thermal=tno rgb2nir-s2=s2_rsgislib_wales,s2_bigearthnet \
        [--data ../shared/data] [--out runs/eval/guard]

Each MODEL=RECIPE,… scores the bundled (or run's) model on every image of the recipes (their own
splits ignored, as leave-one-source-out does): the model as shipped without a guard, the same
weights with the guard fitted on its own training and validation images (`workflows/trust.py`),
and the linear, context-ridge, MLP and constant baselines. Prints one markdown table (mean MAE
over images, per source) and the images the guard faded.
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bandbridge.bundle import load_model
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.evaluation.evaluate import evaluate, with_data
from bandbridge.radiometry import guard_weight
from bandbridge.spec import resolve_model_folder
from bandbridge.workflows.trust import fit_guard, write_guard
from bandbridge.workflows.loso import held_out_source

SHOWN = ("unguarded", "model", "linear", "ridge-context", "mlp", "mean")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", nargs="+", help="MODEL=RECIPE[,RECIPE…]")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="runs/eval/guard")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| model | held-out source | images | faded (mean weight) | " + " | ".join(
        "model, guarded" if m == "model" else m for m in SHOWN) + " | guard vs unguarded |",
        "|" + "---|" * (len(SHOWN) + 5)]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in a.pairs:
            name, recipes = pair.split("=", 1)
            src = resolve_model_folder(name)
            guarded, bare = Path(tmp) / f"{name}-guard", Path(tmp) / f"{name}-bare"
            for d in (guarded, bare):
                shutil.copytree(src, d)
            guard = fit_guard(src, a.data)
            write_guard(guarded, guard)
            write_guard(bare, False)
            for r in recipes.split(","):
                res = evaluate(guarded, a.data, "test", [held_out_source(r)], out / name / r,
                               keep_samples=0, others={"unguarded": bare})
                cfg = with_data(load_model(guarded).config, a.data, [held_out_source(r)])
                w = np.asarray([guard_weight(p.stats.numpy(), guard)
                                for p in PairedDataModule(cfg).load_split("test")])
                mae = {m: np.mean([row["mae"] for row in res.rows if row["method"] == m])
                       for m in SHOWN if any(row["method"] == m for row in res.rows)}
                gain = 100 * (1 - mae["model"] / mae["unguarded"])
                lines.append(f"| {name} | {r} | {len(w)} | {int((w < 1).sum())} ({w.mean():.2f}) | "
                             + " | ".join(f"{mae[m]:.4g}" if m in mae else "–" for m in SHOWN)
                             + f" | {gain:+.1f} % |")
                report[f"{name}/{r}"] = {"mae": mae, "weights": w.tolist(), "guard": guard}
                print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    (out / "table.md").write_text(table)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(table)


if __name__ == "__main__":
    main()
