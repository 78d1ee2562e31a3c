"""Score every bundled model on its own held-out test split and record the figures the README's
verdict table and the docs' model page are rendered from.

    python scripts/bundle_results.py [DATA_ROOT] [NAME ...]   # default ../shared/data, every bundle

Runs ``bandbridge evaluate --model NAME --data DATA_ROOT --split test -o runs/bundle-results/NAME``
for each bundle (the model and the baselines fitted on its training split) and writes
``docs/results/bundles.json``: per model, the protocol and each method's mean metrics, with the
command and the date. Names not given keep their earlier record.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

from bandbridge.spec import ZOO_ALIASES, zoo_models

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "results" / "bundles.json"
KEEP = ("mae", "rmse", "psnr", "ssim", "pearson_r", "ndvi_mae", "psnr_y", "ssim_y")


def main(argv: list[str]) -> None:
    data = argv[0] if argv else "../shared/data"
    names = argv[1:] or sorted(set(zoo_models()) - set(ZOO_ALIASES))
    record = json.loads(OUT.read_text()) if OUT.is_file() else {"models": {}}
    bb = Path(sys.executable).parent / "bandbridge"
    for name in names:
        out = ROOT / "runs" / "bundle-results" / name
        cmd = [str(bb), "evaluate", "--model", name, "--data", data, "--split", "test", "-o", str(out)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        summary = json.loads((out / "summary.json").read_text())
        record["models"][name] = {
            "command": f"bandbridge evaluate --model {name} --data {data} --split test",
            "measured": datetime.date.today().isoformat(),
            "protocol": {k: summary["protocol"][k] for k in
                         ("split", "images", "groups", "sources", "target_units", "task", "scale")},
            "methods": {m: {k: v for k, v in vals.items() if k in KEEP}
                        for m, vals in summary["methods"].items()}}
        print(f"{name}: " + ", ".join(f"{m} {v['mae']:.4g}" for m, v in
                                      record["models"][name]["methods"].items()), flush=True)
    record["command"] = "python scripts/bundle_results.py " + " ".join(argv)
    OUT.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
