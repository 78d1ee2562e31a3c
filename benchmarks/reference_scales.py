"""`predict --reference` at every scale and where the reference does not see (issue 68), on the
bundled NAIP model's held-out date (NAIP 2020, 5 m): its own NIR averaged over k × k blocks is the
reference, the full-resolution NIR the truth.

    python benchmarks/reference_scales.py --data ../shared/data [--json docs/results/reference_scales.json]

Rows: k = 16, 24, 48, 96 and 200 (a 5 cm drone image under a 10 m Sentinel-2 pixel is k = 200),
each beside the nearest upsampled reference and the model alone (plain `predict`); and the
reference at k = 6 over the left 40 % of the image only, scored on the part it covers and on the
part it does not (against plain `predict` there). MAE in DN; the route the run took, from its tags.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from bandbridge.data.grids import upsample_onto
from bandbridge.data.reference import open_reference
from bandbridge.evaluation.wald import NAIP_TEST, make_reference, naip_rgb
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.jobs.predict import predict
from bandbridge.inference.core.interpret import Overrides
from bandbridge.inference.place import tags as schema
from bandbridge.inference.place.reference import ReferenceOptions, Request, predict_with_reference

KS = (16, 24, 48, 96, 200)
LEFT = 0.4  # of the columns the partial reference covers
MARGIN = 12  # px either side of its edge left out of both parts' scores (the fade across it)


def band(path: Path) -> tuple[np.ndarray, dict]:
    """The band written and its tags: the file's, with its band's decision where it has one (``place/tags.read``;
    plain predict's output has none)."""
    decided = schema.read(path)[1]
    with rasterio.open(path) as s:
        return s.read(s.count).astype(np.float32) * (s.scales[-1] or 1.0) + (s.offsets[-1] or 0.0), \
            s.tags() | (decided[-1] if decided else {})


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(np.abs(a - b).mean()), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        rgb, img, fine = naip_rgb(Path(a.data), NAIP_TEST, d)
        truth = img[3]
        predict([str(rgb)], "rgb2nir", str(d / "plain.tif"), PredictOptions(dtype="float32"), overwrite=True)
        plain = band(d / "plain.tif")[0]  # its scale tag (255) read: DN

        def guided(ref: Path) -> tuple[np.ndarray, dict]:
            predict_with_reference(Request([str(rgb)], "rgb2nir", str(d / "out.tif"), PredictOptions(), Overrides(),
                                           ReferenceOptions(source=str(ref)), True))
            return band(d / "out.tif")

        for k in KS:
            ref = make_reference(truth, fine, k, d / f"nir_k{k}.tif")
            got, tags = guided(ref)
            r = open_reference(ref, "nir", fine)
            nearest = upsample_onto(np.nan_to_num(r.values), r.grid, fine, "nearest")[0]
            row = {"k": k, "cells": int(r.valid.sum()), "reference-guided": mae(got, truth),
                   "nearest upsampled reference": mae(nearest, truth), "model alone": mae(plain, truth),
                   "route": tags["bandbridge_route"], "min": round(float(got.min()), 1)}
            row["vs nearest"] = round(row["reference-guided"] / row["nearest upsampled reference"], 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
        full = make_reference(truth, fine, 6, d / "nir_k6.tif")
        with rasterio.open(full) as s:
            v, prof = s.read(), s.profile
        v[:, :, int(v.shape[2] * LEFT):] = np.nan
        with rasterio.open(d / "nir_k6_left.tif", "w", **prof) as o:
            o.write(v)
            o.descriptions = ("nir",)
        got, tags = guided(d / "nir_k6_left.tif")
        c = int(fine.width * LEFT)
        seen, unseen = np.s_[:, :c - MARGIN], np.s_[:, c + MARGIN:]
        row = {"case": f"k = 6 over the left {LEFT:.0%}", "covered": mae(got[seen], truth[seen]),
               "uncovered": mae(got[unseen], truth[unseen]), "model alone, uncovered": mae(plain[unseen], truth[unseen]),
               "model alone, covered": mae(plain[seen], truth[seen]), "filled from": tags["bandbridge_unseen_filled_from"],
               "route": tags["bandbridge_route"], "min": round(float(got.min()), 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    rec = {"command": "python benchmarks/reference_scales.py " + " ".join(sys.argv[1:]), "date": NAIP_TEST,
           "rows": rows}
    if a.json:
        Path(a.json).write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
