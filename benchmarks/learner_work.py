"""What each learner candidate costs on this machine: seconds to fit ``FIT_PIXELS`` pixels (one
fold's fit) and microseconds to predict one pixel, at the selection core's thread policy — the
figures behind ``policy.LEARNER_WORK``, the reference seconds the learner search's budget is
spent in (issue 58: the same pixels choose the same candidates on any machine). Run it on the
reference kind (2 cores, quiet) to refresh the table.

    python benchmarks/learner_work.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from bandbridge.learners.folds import gather
from bandbridge.learners.registry import candidates
from bandbridge.learners.select import FIT_PIXELS, fit_threads
from bandbridge.policy import LEARNER_WORK as WORK

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "nir_naip_opengeos"


def measure(repeats: int = 3, n_test: int = 200_000) -> dict[str, tuple[float, float]]:
    """``{candidate: (fit seconds at FIT_PIXELS, predict µs per pixel)}``, medians of ``repeats``."""
    imgs, names = [], []
    for p in sorted(SAMPLE.glob("*.tif")):
        with rasterio.open(p) as s:
            a = s.read().astype(np.float32) / 255
        imgs.append((torch.from_numpy(a[:3]), torch.from_numpy(a[3:4]), torch.ones(a.shape[1:], dtype=torch.bool)))
        names.append(p.stem)
    px, _ = gather(imgs, names, max_pixels=400_000)
    rng = np.random.default_rng(0)
    out = {}
    with fit_threads():
        for c in candidates():
            fits, preds = [], []
            for _ in range(repeats):
                tr, te = rng.choice(len(px), FIT_PIXELS, replace=False), rng.choice(len(px), n_test, replace=False)
                t = time.perf_counter()
                m = c.clone().fit(px.X[tr], px.Y[tr], px.bands)
                fits.append(time.perf_counter() - t)
                t = time.perf_counter()
                m.predict(px.X[te], px.bands)
                preds.append((time.perf_counter() - t) * 1e6 / n_test)
            out[c.name] = (float(np.median(fits)), float(np.median(preds)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(f"| candidate | fit {FIT_PIXELS:,} px (s) | predict (µs/px) | WORK (s, µs/px) |")
    print("|---|---|---|---|")
    for name, (fit, pred) in measure(a.repeats).items():
        print(f"| {name} | {fit:.3f} | {pred:.3f} | {WORK.get(name.split(' ')[0])} |")


if __name__ == "__main__":
    main()
