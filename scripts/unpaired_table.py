"""The README's unpaired table (issue 24): a CycleGAN trained on RoadScene with the pairing
broken, scored on the registered test pairs beside the paired model and the baselines.

    python scripts/unpaired_table.py RUN_OR_BUNDLE [--paired rgb2thermal] [--data ../shared/data]
                                     [--split test] [--out runs/eval/unpaired]

Per-pixel metrics come from `bandbridge evaluate` (the same code, both models in one run); the
W₁ distances of values and gradient magnitudes need no pairs (src/bandbridge/evaluation/unpaired.py
says how they are computed and what they cannot see). Writes table.md and report.json to --out
and prints the table with the run's training time.
"""

import argparse
import json
from pathlib import Path

from bandbridge.evaluation.unpaired import unpaired_report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("unpaired", help="run folder (its model/best) or bundle of the CycleGAN")
    ap.add_argument("--paired", default="rgb2thermal", help="paired model: bundled name, run or bundle")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", default="runs/eval/unpaired")
    a = ap.parse_args()
    rep = unpaired_report(a.unpaired, a.paired, a.data, a.split)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(rep["table"])
    (out / "report.json").write_text(json.dumps({k: v for k, v in rep.items() if k != "table"},
                                                indent=1, default=str))
    summary = Path(a.unpaired) / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        print(f"CycleGAN trained {s['fit_seconds'] / 60:.1f} min, {s['epochs']} epochs, "
              f"{s['global_step']} optimizer steps ({s['precision']})")
    print(f"{rep['protocol']['images']} {a.split} images of {rep['protocol']['sources']}; "
          f"units {rep['protocol']['target_units']}")
    print(rep["table"])
    print(f"written to {out}")


if __name__ == "__main__":
    main()
