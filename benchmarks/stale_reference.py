"""What the consistency correction does with a reference from another year (``policy.STALE_DAYS``):
the rows *another year* of ``bandbridge wald`` (NAIP, k = 6, each date's RGB with the NIR of the
date before it, 315–763 days apart), run as a user runs ``predict --reference`` twice: as the files
say (the gap is over ``STALE_DAYS``: the correction is not applied), and with ``--reference-date``
set to the input's own date (the gap unknown to the run: the held-out check alone decides, and at the
reference's own scale the correction always matches the reference it was fitted to).

MAE in DN against the input date's own NIR; the correction's tag of each run.

    python benchmarks/stale_reference.py --data ../shared/data [--json docs/results/stale_reference.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from bandbridge.evaluation.wald import cases
from bandbridge.inference.core.options import PredictOptions
from bandbridge.inference.core.interpret import Overrides
from bandbridge.inference.place import tags as schema
from bandbridge.inference.place.reference import ReferenceOptions, Request, predict_with_reference
from bandbridge.policy import STALE_DAYS


def run(rgb: str, ref: str, out: Path, date: str | None) -> tuple[np.ndarray, str]:
    """``predict --reference`` (``--reference-date date`` where given): the band in DN, its correction tag."""
    predict_with_reference(Request([rgb], "rgb2nir", str(out), PredictOptions(), Overrides(),
                                   ReferenceOptions(source=ref, date=date), True))
    with rasterio.open(out) as s:  # the correction's decision: the band's why (place/tags.py)
        got = s.read(s.count).astype(np.float32) * s.scales[-1] + s.offsets[-1]
    return got, schema.band(out)["bandbridge_why"]


def row(case, truth: np.ndarray, work: Path) -> dict:
    """One *another year* case run both ways."""
    date = case.name.split()[-1]
    kept, why_kept = run(case.rgb, case.ref, work / "kept.tif", None)
    forced, why_forced = run(case.rgb, case.ref, work / "forced.tif", f"{date[:4]}-{date[4:6]}-{date[6:]}")
    ok = np.isfinite(truth)
    out = {"input": date, "reference": case.what, "k": case.k,
           "as the dates say": round(float(np.abs(kept - truth)[ok].mean()), 2), "its correction": why_kept,
           "dated the input's day": round(float(np.abs(forced - truth)[ok].mean()), 2),
           "its correction, dated the input's day": why_forced}
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return out


def summarise(rows: list[dict]) -> dict:
    applied = [r for r in rows if r["its correction, dated the input's day"].startswith("applied")]
    mean = lambda k: round(float(np.mean([r[k] for r in applied])), 2) if applied else None  # noqa: E731
    return {"pairs": len(rows), "correction applied when dated the input's day": len(applied),
            "worse with it": sum(r["dated the input's day"] > r["as the dates say"] for r in applied),
            "mean MAE as the dates say (applied pairs)": mean("as the dates say"),
            "mean MAE with the correction (applied pairs)": mean("dated the input's day"), "STALE_DAYS": STALE_DAYS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bandbridge-stale-") as d:
        rows = [row(case, truth, Path(d)) for case, truth, _ in cases(Path(a.data), Path(d))
                if case.what.startswith("another year")]
    rec = {"command": "python benchmarks/stale_reference.py " + " ".join(sys.argv[1:]), "summary": summarise(rows),
           "rows": rows}
    print(json.dumps(rec["summary"]))
    if a.json:
        Path(a.json).write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
