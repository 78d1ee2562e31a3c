"""Compiled trees against the student: what serving a boosted learner costs per pixel.

Issue 46 asks whether a teacher that holds trees should be served by compiled trees (lleaves:
LLVM-compiled LightGBM models; treelite's GTIL) rather than by its distilled student. This fits
the selection core's boosted candidate (``gbm-context``: LightGBM on the context features) on
the top half of a NAIP date, then times, on the bottom half (same pixels for every row):

- the context features alone (the direct box filters trees are fitted on, torch fp32);
- LightGBM's own predict on those features;
- lleaves (compiled once, timed after) and treelite GTIL, where installed;
- the student of those trees (``Student.of``: an MLP on the nested-sum features, one graph) in
  torch fp32, features included.

Trees rows exclude the features (add the first row to compare with the student). Every row
predicts the same pixels; the MAE against the real NIR is given beside, in DN.

    pip install lleaves treelite   # measurement only: not dependencies of bandbridge
    python benchmarks/compiled_trees.py ../shared/data/nir_naip_opengeos/m_4709963_se_14_1_20200831.tif
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

from bandbridge.learners.folds import image_features
from bandbridge.learners.gbm import GBM
from bandbridge.learners.student import Student


def best_of(fn, rounds: int = 3) -> float:
    """The fastest of ``rounds`` calls of ``fn``, seconds."""
    t = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("naip", help="a 4-band 8-bit NAIP file (R, G, B, NIR)")
    ap.add_argument("--fit-pixels", type=int, default=200_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with rasterio.open(a.naip) as src:
        img = torch.from_numpy(src.read().astype(np.float32) / 255)
    h = img.shape[1] // 2
    top, bottom = img[:, :h], img[:, h:]
    F_top = image_features(top[:3]).reshape(-1, top.shape[1] * top.shape[2]).T.numpy()
    Y_top = top[3:].reshape(1, -1).T.numpy()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(F_top), min(a.fit_pixels, len(F_top)), replace=False)
    gbm = GBM(context=True).fit(F_top[pick], Y_top[pick], 3)
    student = Student.of(gbm, F_top, 3)
    x = bottom[None, :3].contiguous()
    y = bottom[3].numpy().ravel()
    n = x.shape[2] * x.shape[3]
    feats = lambda: image_features(x[0]).reshape(-1, n).T.numpy()  # noqa: E731
    F = feats()
    A = gbm.columns(F, 3).astype(np.float64)
    rows = []

    def row(name: str, seconds: float, pred: np.ndarray | None, note: str = "") -> None:
        r = {"row": name, "mpix_s": n / 1e6 / seconds, "seconds": seconds, "note": note}
        if pred is not None:
            r["mae_dn"] = float(np.abs(np.clip(pred.ravel(), 0, 1) - y).mean() * 255)
        rows.append(r)
        print(f"{name:42s} {r['mpix_s']:7.2f} MPix/s" + (f"  MAE {r['mae_dn']:.2f} DN" if pred is not None else "")
              + (f"  ({note})" if note else ""), flush=True)

    row("context features (direct filters, torch)", best_of(feats), None)
    import lightgbm as lgb
    booster = lgb.Booster(model_str=gbm.trees_[0])
    pred = booster.predict(A, num_threads=a.threads)
    row("LightGBM predict (trees only)", best_of(lambda: booster.predict(A, num_threads=a.threads)), pred)
    with tempfile.TemporaryDirectory() as d:
        model_file = Path(d) / "trees.txt"
        model_file.write_text(booster.model_to_string())  # with tree_sizes, which lleaves reads
        try:
            import lleaves
        except ImportError:
            row("lleaves", float("inf"), None, "not installed: pip install lleaves")
        else:
            t0 = time.perf_counter()
            ll = lleaves.Model(model_file=str(model_file))
            ll.compile(cache=str(Path(d) / "trees.o"))
            built = time.perf_counter() - t0
            p = ll.predict(A, n_jobs=a.threads)
            row("lleaves (LLVM-compiled trees only)", best_of(lambda: ll.predict(A, n_jobs=a.threads)), p,
                f"compiled in {built:.1f} s")
        try:
            import treelite
        except ImportError:
            row("treelite GTIL", float("inf"), None, "not installed: pip install treelite")
        else:
            tm = treelite.frontend.load_lightgbm_model(str(model_file))
            p = treelite.gtil.predict(tm, A.astype(np.float32), nthread=a.threads)
            row("treelite GTIL (trees only)", best_of(lambda: treelite.gtil.predict(
                tm, A.astype(np.float32), nthread=a.threads)), p)
    m = student.module(3, 1).eval()
    with torch.inference_mode():
        p = m(x)[0, 0].numpy()
        row("student (nested features + MLP, torch)", best_of(lambda: m(x)), p)
    if a.json:
        Path(a.json).write_text(json.dumps({"command": "python benchmarks/compiled_trees.py " + a.naip,
                                            "measured": time.strftime("%Y-%m-%d"), "threads": a.threads,
                                            "pixels": n, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
