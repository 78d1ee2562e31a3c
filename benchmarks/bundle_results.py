"""Score every bundled model on its own held-out test split and record the figures the README's
verdict table and the docs' model page are rendered from.

    python benchmarks/bundle_results.py [DATA_ROOT] [NAME_OR_FOLDER ...]   # default ../shared/data, every bundle

Runs what ``bandbridge evaluate --model NAME --data DATA_ROOT --split test -o runs/bundle-results/NAME`` runs
for each bundle (the model and the baselines fitted on its training split) and writes
``docs/results/bundles.json``: per model, the protocol and each method's mean metrics, with the
command and the date. Names not given keep their earlier record.
(``tests/project/test_bundle_results.py`` runs :func:`main` on a bundle narrowed to the sample.)
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from bandbridge.spec import ZOO_ALIASES, zoo_models

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "results" / "bundles.json"
WORK = ROOT / "runs" / "bundle-results"
KEEP = ("mae", "rmse", "psnr", "ssim", "pearson_r", "ndvi_mae", "psnr_y", "ssim_y")
PROTOCOL = ("split", "images", "groups", "sources", "target_units", "task", "scale")


def entry(name: str, data: str, summary: dict) -> dict:
    """One model's record from its evaluation's ``summary.json``: the protocol, each method's
    kept metrics, the command and the date."""
    return {"command": f"bandbridge evaluate --model {name} --data {data} --split test",
            "measured": datetime.date.today().isoformat(),
            "protocol": {k: summary["protocol"][k] for k in PROTOCOL},
            "methods": {m: {k: v for k, v in vals.items() if k in KEEP}
                        for m, vals in summary["methods"].items()}}


def measure(name: str, data: str, out: Path) -> dict:
    """``bandbridge evaluate`` of ``name`` (a bundled name or a bundle folder) on its test split,
    with every baseline, into ``out``; returns its ``summary.json``."""
    from bandbridge.evaluation.evaluate import evaluate
    evaluate(name, data, "test", out_dir=out)
    return json.loads((out / "summary.json").read_text())


def main(argv: list[str], out: Path = OUT, work: Path = WORK) -> dict:
    """Evaluate the bundles named in ``argv`` (``[DATA_ROOT] [NAME ...]``) and write the record
    ``out`` (earlier entries of other names kept); evaluations go to ``work/NAME``."""
    data = argv[0] if argv else "../shared/data"
    names = argv[1:] or sorted(set(zoo_models()) - set(ZOO_ALIASES))
    record = json.loads(out.read_text()) if out.is_file() else {"models": {}}
    for name in names:
        key = Path(name).name  # a folder is recorded under its own name
        summary = measure(name, data, work / key)
        record["models"][key] = entry(name, data, summary)
        print(f"{key}: " + ", ".join(f"{m} {v['mae']:.4g}" for m, v in
                                     record["models"][key]["methods"].items()), flush=True)
    record["command"] = "python benchmarks/bundle_results.py " + " ".join(argv)
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
