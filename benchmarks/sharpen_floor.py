"""Never worse than upsampling (issue 84): `bandbridge sharpen` and `predict --reference` on every
development source that holds a band at its guides' scale (`evaluation/floor_cases.py`), the band
averaged k × k the reference, for k = 4, 10 and 40, against nearest, bilinear, cubic convolution, cubic
B-spline and Lanczos upsampling of that reference, in MAE and RMSE, per source and per half.

    OMP_NUM_THREADS=1 nice python benchmarks/sharpen_floor.py --data ../shared/data --json docs/results/sharpen_floor.json

Each image is written as a user's files (the guides in their stored type, the reference float32) and
run through the commands' own functions; the output is read back. A source's figure pools every pixel
of its images; its ratio divides by the best of the five upsamplings pooled the same way.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bandbridge.data.grids import block_mean, upsample_onto
from bandbridge.evaluation.floor_cases import FACTORS, HALVES, LIMIT, FloorCase, all_cases, half_of
from bandbridge.evaluation.floor_run import METHODS, UPSAMPLERS, errors, run_methods
from bandbridge.evaluation.sharpen_record import code_state, save

REGRESSIONS = ("tsharp", "dms")  # the thermal literature's baselines (issue 84: thermal at or below the best of
# cubic, TsHARP-style and DMS-style): evaluation/sharpen_baselines.py on the arrays


def one(c: FloorCase, k: int, work: Path, detail: float | None = None) -> dict:
    """One image at factor ``k``: each method and the five upsamplings, scored (sums, so sources pool)."""
    c = c.cut(k)
    fine = c.grid
    ref = block_mean(c.truth, k)[0]
    row = {"source": c.source, "image": c.name, "k": k, "cells": int(ref[0].size), "size": list(c.truth.shape[1:])}
    folder = work / f"{c.source}_{c.name}_{k}"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    for m, got in run_methods(c, k, folder, detail=detail).items():
        row[m] = {"error": got} if isinstance(got, str) else errors(got[0], c.truth[0]) | {"route": got[1]} | got[2]
    row["cpu_s"] = round(time.process_time() - t0, 2)
    for m in UPSAMPLERS:
        row[m] = errors(upsample_onto(ref, fine.coarser(k), fine, m)[0], c.truth[0])
    from bandbridge.evaluation.sharpen_baselines import dms, tsharp
    for m, f in zip(REGRESSIONS, (tsharp, dms)):
        row[m] = errors(f(c.guides.astype(np.float32), ref, k)[0], c.truth[0])
    return row


def pooled(rows: list[dict]) -> dict:
    """Every method's RMSE and MAE pooled over ``rows``' pixels, and each method's over the best upsampling's."""
    out = {"images": len(rows)}
    for m in (*METHODS, *UPSAMPLERS, *REGRESSIONS):
        ok = [r[m] for r in rows if m in r and "error" not in r[m]]
        if len(ok) < len(rows) or not ok:
            continue
        n = sum(r["n"] for r in ok)
        out[m] = {"rmse": float(np.sqrt(sum(r["sse"] for r in ok) / n)), "mae": sum(r["sae"] for r in ok) / n}
    for e in ("rmse", "mae"):
        best = min(UPSAMPLERS, key=lambda u: out[u][e])
        out[f"best_upsampling_{e}"] = best
        for m in METHODS:
            if m in out:
                out[m][f"{e}_vs_best"] = round(out[m][e] / out[best][e], 4)
        base = [b for b in ("cubic", "bspline", *REGRESSIONS) if b in out]  # the thermal ask: the better cubic, the regressions
        out[f"best_baseline_{e}"] = min(base, key=lambda b: out[b][e])
        for m in METHODS:
            if m in out:
                out[m][f"{e}_vs_baselines"] = round(out[m][e] / out[out[f"best_baseline_{e}"]][e], 4)
    for m in METHODS:
        if m in out:
            out[m]["within"] = out[m]["rmse_vs_best"] <= LIMIT and out[m]["mae_vs_best"] <= LIMIT
            routes: dict[str, int] = {}
            for r in rows:
                routes[r[m]["route"]] = routes.get(r[m]["route"], 0) + 1
            out[m]["routes"] = routes
    return out


def summary(rows: list[dict]) -> dict:
    """Per factor, per source (with its half) and per half: :func:`pooled`."""
    out = {}
    for k in sorted({r["k"] for r in rows}):
        at = [r for r in rows if r["k"] == k]
        sources = {s: pooled([r for r in at if r["source"] == s]) | {"half": half_of(s)}
                   for s in dict.fromkeys(r["source"] for r in at)}
        out[str(k)] = {"sources": sources,
                       "halves": {h: pooled([r for r in at if r["source"] in ss]) for h, ss in HALVES.items()
                                  if any(r["source"] in ss for r in at)}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--json", default="docs/results/sharpen_floor.json", help="where the record goes")
    ap.add_argument("--factors", default="", help=f"k, comma-separated (default: each source's own: {FACTORS}, "
                    "Sentinel-2 2 and 6)")
    ap.add_argument("--sources", default="", help="only these sources, comma-separated (default: all)")
    ap.add_argument("--area", action="store_true", help="both kinds' fit learned area to point (policy.AREA_FIT: "
                    "its rule is set by this record, benchmarks/area_rule.py)")
    ap.add_argument("--area-ridge", type=float, default=None, help="the weakest ridge an area-to-point fit may take "
                    "(policy.AREA_RIDGE_MIN)")
    ap.add_argument("--detail", type=float, default=None, help="the share of a guided route's detail both commands "
                    "take (default: the test at the output's scale decides; the test's own share is recorded either "
                    "way): a record to set the share rule from, benchmarks/share_rule.py")
    ap.add_argument("--check-share", action="store_true", help="predict --reference's fit takes at most the share of "
                    "detail its own held-out check supports (policy.CHECK_SHARE: its rule is set by this record)")
    a = ap.parse_args()
    from bandbridge import policy
    if a.check_share:
        policy.CHECK_SHARE = ("reference",)
    if a.area:
        policy.AREA_FIT = ("sharpen", "reference")
    if a.area_ridge is not None:
        policy.AREA_RIDGE_MIN = a.area_ridge
    if not Path(a.data, "nir_naip_opengeos").is_dir():
        sys.exit(f"--data {a.data}: no nir_naip_opengeos under it; give the development data folder")
    factors = [int(v) for v in a.factors.split(",") if v]
    only = set(filter(None, a.sources.split(",")))
    rows = []
    with tempfile.TemporaryDirectory(prefix="sharpen_floor_") as work:
        for c in all_cases(a.data):
            if only and c.source not in only:
                continue
            for k in factors or c.factors:
                r = one(c, k, Path(work), a.detail)
                rows.append(r)
                said = {m: r[m].get("route", r[m].get("error")) for m in METHODS if m in r}
                print(f"{c.source} {c.name} ×{k}: {said}", flush=True)
    record = {"command": "OMP_NUM_THREADS=1 nice python " + " ".join(["benchmarks/sharpen_floor.py", *sys.argv[1:]]),
              "code": code_state(), "machine": f"{platform.machine()} {platform.node()}",
              "protocol": "per image: the guides at full resolution, the band averaged k × k the reference, the band the "
                          "truth; cut to whole cells of k; sharpen: bandbridge sharpen of the guides' file by the "
                          "reference; reference: bandbridge predict -m MODEL --reference",
              "halves": {h: list(s) for h, s in HALVES.items()}, "limit": LIMIT,
              "summary": summary(rows), "rows": rows}
    for k, s in record["summary"].items():
        for src, p in s["sources"].items():
            print(f"×{k} {src} ({p['half']}): " + "; ".join(
                f"{m} RMSE {p[m]['rmse_vs_best']:.3f} MAE {p[m]['mae_vs_best']:.3f}" for m in METHODS if m in p))
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
