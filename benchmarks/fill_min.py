"""Where the smallest clear part a fit needs lies (``policy.FILL_FIT_MIN``, issue 70), measured on
the development sample only (WorldCereal 00002806639B424A; ``bandbridge gaps`` reports both).

For the first :data:`PAIRS` date pairs of the protocol, only a seeded disc of N pixels of the later
date is left clear, the rest is the gap; the fit (with SAR, forced) and the per-band linear map
are scored on the gap's really clear pixels. Prints the mean MAE of each per N and the share of
pairs the fit won. ``python benchmarks/fill_min.py [DATA]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bandbridge.evaluation.gaps import pairs, sample_files
from bandbridge.inference.place.fill_read import read_layer, sar_on
from bandbridge.learners import gapfill
from bandbridge.learners.gapfill import Stack, fill

gapfill.FILL_FIT_MIN = 0  # the line being measured: every size tries the fit

SAMPLE = "sample_00002806639B424A"
SIZES = (128, 256, 512, 1024)
PAIRS = 4


def main(data: str) -> None:
    root = Path(data)
    s10, s20, s1 = sample_files(root, SAMPLE)
    prs, _ = pairs(root, SAMPLE)
    res: dict[int, list[tuple[float, float]]] = {n: [] for n in SIZES}
    for i, (a, b, sa, sb) in enumerate(prs[:PAIRS]):
        scene = read_layer(f"{s10}@{b}#scl={s20}", "")
        e = read_layer(f"{s10}@{a}#scl={s20}", "")
        earlier = np.where(e.clear, e.values, np.nan)
        now, then = sar_on(scene, f"{s1}@{sb}", "")[0], sar_on(scene, f"{s1}@{sa}", "")[0]
        valid = scene.valid & scene.clear
        h, w = valid.shape
        rng = np.random.default_rng([70, i])
        cy, cx = rng.uniform(16, h - 16), rng.uniform(16, w - 16)
        yy, xx = np.mgrid[:h, :w]
        order = np.argsort(((yy - cy) ** 2 + (xx - cx) ** 2).ravel(), kind="stable")
        for n in SIZES:
            keep = np.zeros(h * w, bool)
            keep[order[:n]] = True
            keep = keep.reshape(h, w)
            st = Stack(scene.values, valid & keep, scene.valid & ~keep, [earlier], [0], now, then)
            f = fill(st, force="fit")
            lin = fill(st, allow_fit=False, force="linear")
            score = valid & ~keep & np.isfinite(earlier).all(0)
            y = scene.values[:, score]
            fe = float(np.mean(np.abs(f.values[:, score] - y))) if "fit" in f.mae else float("nan")
            le = float(np.mean(np.abs(lin.values[:, score] - y)))
            res[n].append((fe, le))
            print(f"{b[:10]} N={n}: fit {fe:.4f} linear {le:.4f} (fit tried: {'fit' in f.mae})", flush=True)
    for n, v in res.items():
        a = np.array(v)
        ok = np.isfinite(a[:, 0])
        print(f"N={n}: fit {np.nanmean(a[:, 0]):.4f} linear {a[:, 1].mean():.4f}; fit better on "
              f"{int((a[ok, 0] < a[ok, 1]).sum())}/{int(ok.sum())} pairs")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
