"""The adapt page's NAIP example, measured and recorded (docs/results/adapt_naip.json; the page is
held to it by tests/project/test_doc_figures.py).

    python scripts/adapt_naip.py [--data ../shared/data] [--json docs/results/adapt_naip.json]

1. ``bandbridge adapt -m rgb2nir-naip DATE --region rows:0:0.5 --within-scene`` on the bundled
   NAIP date (``data/sample``): the card's out-of-fold table and what was kept; then the adapted
   model predicts the date and is scored on the bottom half, beside the linear map and the two
   boosted learners (on the bands, on the context features) fitted on every top-half pixel.
2. The same date as one pair without ``--within-scene``: the card's table and what was kept.
3. Six NAIP dates of ``--data`` as pairs: the card's table, the wall time and the peak memory of
   the command's process (``getrusage`` of the child), with the machine's load beside them.
MAE in DN (8-bit).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from bandbridge.learners.folds import image_features
from bandbridge.learners.gbm import GBM
from bandbridge.learners.linear import Linear

ROOT = Path(__file__).resolve().parents[1]
DATE = ROOT / "data" / "sample" / "nir_naip_opengeos" / "m_4709963_se_14_1_20200831.tif"
BB = [sys.executable, "-m", "bandbridge.cli"]


def card_table(folder: Path) -> tuple[dict[str, float], str]:
    """The card's out-of-fold table (label → MAE) and the kept row's label."""
    rows, kept = {}, None
    for line in (folder / "MODEL_CARD.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3 and not cells[0].startswith("method"):
            label = cells[0].replace("**", "").replace(" — kept", "")
            rows[label] = float(cells[1])
            if "**" in cells[0]:
                kept = label
    return rows, kept


def adapt(args: list[str], out: Path) -> dict:
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = subprocess.run([*BB, "adapt", "-m", "rgb2nir-naip", *args, "-o", str(out)],
                       capture_output=True, text=True, check=False)
    if r.returncode:
        sys.exit(r.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rows, kept = card_table(out)
    return {"command": "bandbridge adapt -m rgb2nir-naip " + " ".join(args), "oof": rows, "kept": kept,
            "seconds": round(time.perf_counter() - t, 1), "peak_mb": round(max(peak, before) / 1024, 0),
            "load": round(os.getloadavg()[0], 2)}


def bottom_half(model_dir: Path, tmp: Path) -> dict:
    """The adapted model and the fits on every top-half pixel, scored on the bottom half."""
    pred = tmp / "pred.tif"
    r = subprocess.run([*BB, "predict", str(DATE), "-m", str(model_dir), "-o", str(pred)],
                       capture_output=True, text=True, check=False)
    if r.returncode:
        sys.exit(r.stderr)
    with rasterio.open(DATE) as src:
        a = src.read().astype(np.float32)
    with rasterio.open(pred) as src:
        p = src.read(src.count).astype(np.float32)
    h = a.shape[1] // 2
    f = image_features(torch.from_numpy(a[:3] / 255)).numpy()
    X = f.reshape(f.shape[0], -1).T
    Y = (a[3] / 255).reshape(-1, 1)
    top, bot = slice(0, h * a.shape[2]), slice(h * a.shape[2], None)
    out = {"adapted": float(np.abs(p[h:] - a[3, h:]).mean())}
    for name, learner in (("linear map", Linear()), ("gradient boosting on the bands", GBM(context=False)),
                          ("gradient boosting on context", GBM())):
        learner.fit(X[top], Y[top], 3)
        out[name] = float(np.abs(np.clip(learner.predict(X[bot], 3)[:, 0], 0, 1) * 255 - a[3, h:].ravel()).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    dates = sorted((a.data / "nir_naip_opengeos").glob("*.tif"))[:6]
    rec = {"command": "python scripts/adapt_naip.py " + " ".join(sys.argv[1:]),
           "measured": datetime.date.today().isoformat(), "units": "DN", "threads": 1,
           "cpu": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rel = str(DATE.relative_to(ROOT))
        rec["top_half"] = adapt([rel, "--region", "rows:0:0.5", "--within-scene"], tmp / "top")
        rec["top_half"]["bottom"] = bottom_half(tmp / "top", tmp)
        rec["one_pair"] = adapt([rel], tmp / "pair")
        rec["six_dates"] = adapt([str(d) for d in dates], tmp / "six")
        with rasterio.Env():
            rec["six_dates"]["mpix"] = round(sum(np.prod(rasterio.open(d).shape) for d in dates) / 1e6, 2)
    text = json.dumps(rec, indent=1) + "\n"
    print(text)
    if a.json:
        a.json.write_text(text)


if __name__ == "__main__":
    main()
