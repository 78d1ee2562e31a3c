"""Where the smallest clear part a fit needs lies (``policy.FILL_FIT_MIN``, issue 70), measured on
the development sample only (WorldCereal 00002806639B424A; ``bandbridge gaps`` reports both).

For the first :data:`PAIRS` date pairs of the protocol, only a seeded disc of N pixels of the later
date is left clear, the rest is the gap (``--mask``, with the scene's own clouds: ``gaps_fill.mask_of``);
``bandbridge fill``'s own path (``run_fill`` on the cube's steps, ``gaps_fill.run``) with the fit forced
(with SAR) and with the per-band linear map forced is scored on the gap's really clear pixels. Prints the
mean MAE of each per N and the share of pairs the fit won. ``python benchmarks/fill_min.py [DATA]``
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from bandbridge.evaluation.gaps import pairs, sample_files
from bandbridge.evaluation.gaps_fill import Case, mask_of, run
from bandbridge.inference.place import fill_strips
from bandbridge.inference.place.fill_read import read_layer
from bandbridge.learners import fill_fit

fill_fit.FILL_FIT_MIN = 0  # the line being measured: every size tries the fit
fill_strips.FILL_DILATE = 0  # N is the clear pixels the fit sees: the command's dilation of the gap would eat
# most of a small disc (128 px: a radius of 6.4, 2.4 once dilated by 4)

SAMPLE = "sample_00002806639B424A"
SIZES = (128, 256, 512, 1024)
PAIRS = 4


def main(data: str) -> None:
    root = Path(data)
    s10, s20, s1 = sample_files(root, SAMPLE)
    prs, _ = pairs(root, SAMPLE)
    res: dict[int, list[tuple[float, float]]] = {n: [] for n in SIZES}
    work = Path(tempfile.mkdtemp(prefix="fill_min-"))
    for i, (a, b, sa, sb) in enumerate(prs[:PAIRS]):
        step = lambda d: f"{s10}@{d}#scl={s20}"  # noqa: E731
        scene, e = read_layer(step(b), ""), read_layer(step(a), "")
        earlier = np.where(e.clear, e.values, np.nan)
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
            case = Case(step(b), [step(a)], mask_of(work / f"{i}_{n}.tif", ~keep, scene), f"{s1}@{sb}", f"{s1}@{sa}")
            fit, done, _ = run(case, earlier, work, 0, "fit")
            lin = run(case, earlier, work, 0, "linear")[0]
            score = valid & ~keep & np.isfinite(earlier).all(0)
            y = scene.values[:, score]
            fe = float(np.mean(np.abs(fit[:, score] - y))) if "fit" in done.mae else float("nan")
            le = float(np.mean(np.abs(lin[:, score] - y)))
            res[n].append((fe, le))
            print(f"{b[:10]} N={n}: fit {fe:.4f} linear {le:.4f} (fit tried: {'fit' in done.mae})", flush=True)
    for n, v in res.items():
        a = np.array(v)
        ok = np.isfinite(a[:, 0])
        print(f"N={n}: fit {np.nanmean(a[:, 0]):.4f} linear {a[:, 1].mean():.4f}; fit better on "
              f"{int((a[ok, 0] < a[ok, 1]).sum())}/{int(ok.sum())} pairs")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
