"""s2super (Fibaek; MIT; a pretrained Sentinel-2 sharpener from the package registry) on the Sentinel-2 cases
of the sharpening record, as a baseline beside it: never a dependency of bandbridge (issue 96, item 3).

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/s2super_baseline.py --data /work/shared/data \
        --python /work/s2super_venv/bin/python --json docs/results/s2super.json

s2super runs in an environment of its own (TensorFlow; ``--python`` is its interpreter), made by

    python3 -m venv /work/s2super_venv && /work/s2super_venv/bin/pip install "tensorflow==2.15.1" "numpy<2" \
        setuptools wheel && /work/s2super_venv/bin/pip install --no-build-isolation "gdal==$(gdal-config --version)" \
        && /work/s2super_venv/bin/pip install "buteo==0.8.10" "s2super==1.2.30"

(GDAL's headers from the system, ``apt-get install libgdal-dev``: buteo imports ``osgeo``; buteo 0.8.10 is the
last that has the ``get_patches`` s2super 1.2.30 calls; TensorFlow 2.15 the last whose ``tf.keras`` loads its
SavedModel weights, which ship in its wheel.)

The cases are those ``workflows/s2_prior_record.py`` scores (``sharpen_cases.s2_cases``, Major-TOM realigned,
those under ``CASE_MIN_CELLS`` reference cells left out as the record leaves them out). Each case's guides and
reference go to a .npz, ``benchmarks/s2super_run.py`` gives s2super exactly what its code asks for and writes
its output back, and the output is scored by the record's own scorer (``sharpen_record.run_case``) beside the
five upsamplings, so its ratios are the record's: RMSE and MAE per band over the better cubic's.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.evaluation.sharpen_baselines import UPSAMPLING
from bandbridge.evaluation.sharpen_cases import CASE_MIN_CELLS, Case, s2_cases
from bandbridge.evaluation.sharpen_record import code_state, run_case, save
from bandbridge.workflows.s2_prior import source_of

RUNNER = Path(__file__).with_name("s2super_run.py")
METHOD = "s2super"
INPUT = "s2super's input (GDAL bilinear via buteo)"  # scored too: it should read as the record's bilinear
NEEDS = ("B02", "B03", "B04")  # the guides s2super sharpens every band with (super_sample.py)
MIN_SIDE = 96  # s2super's "fast" passes: its 64-px patches, and the same shifted 32 px (buteo's get_patches); under
# 96 px a side leaves a shifted pass without a patch and s2super raises ("Expected input data to be non-empty")
DESIGN_RATIO = 2  # s2super was made for the 20 m bands at 10 m: its .SAFE reader takes B05–B07, B8A, B11, B12


def why_skipped(case: Case) -> str | None:
    """Why a case is not given to s2super, or None (see :data:`NEEDS`, :data:`MIN_SIDE`)."""
    if case.cells < CASE_MIN_CELLS:
        return f"{case.cells} reference cells, under the record's {CASE_MIN_CELLS}"
    missing = [b for b in NEEDS if b not in case.guide_names]
    if missing:
        return f"s2super sharpens with B02, B03 and B04; the case's guides lack {', '.join(missing)}"
    if min(case.truth.shape[1:]) < MIN_SIDE:
        return (f"{case.truth.shape[1]}×{case.truth.shape[2]} px: s2super's method='fast' needs {MIN_SIDE} px a side "
                "(its 64-px patches, and the same shifted 32 px)")
    return None


def case_stem(i: int, case: Case) -> str:
    return f"{i:03d}_" + "".join(c if c.isalnum() else "_" for c in case.name)


def write_case(case: Case, path: Path) -> Path:
    """The case's inputs as the runner reads them (``s2super_run.py``)."""
    np.savez(path, guides=case.guides.astype(np.float32), guide_names=np.array(case.guide_names),
             reference=case.reference.astype(np.float32), target_names=np.array(case.target_names))
    return path


def read_output(path: Path) -> dict:
    """What the runner wrote for a case: ``output``, ``bilinear`` and ``info``, or ``error``."""
    if not path.exists():
        return {"error": "s2super wrote no output for this case"}
    z = np.load(path)
    if "error" in z:
        return {"error": str(z["error"])}
    return {"output": z["output"], "bilinear": z["bilinear"], "info": json.loads(str(z["info"]))}


def run_s2super(python: str, folder: Path, say: Callable[[str], None]) -> dict:
    """The runner over every case in ``folder``, one process; its versions and wall and CPU seconds."""
    cmd = [python, str(RUNNER), "--cases", str(folder)]
    env = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for line in p.stdout.splitlines():
        say(f"  s2super {line}")
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"s2super's runner failed ({python}): {tail}")
    versions = json.loads((folder / "versions.json").read_text())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return versions | {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(cpu, 1)}


def score(case: Case, got: dict, say: Callable[[str], None]) -> dict:
    """The case scored by the record's scorer: s2super's output (and its input) beside the upsamplings."""
    if "error" in got:
        return {"case": case.name, "source": case.source, "targets": case.target_names, "error": got["error"]}
    fixed = lambda a: lambda g, r, k: a  # noqa: E731 - the precomputed array, as a baseline's callable
    row = run_case(case, dict(UPSAMPLING) | {METHOD: fixed(got["output"]), INPUT: fixed(got["bilinear"])}, say)
    row["methods"][METHOD] |= {"seconds": got["info"]["cpu_s"], "wall_s": got["info"]["wall_s"],
                               "wrapped_pixels": got["info"]["wrapped_pixels"]}
    row["fold"] = source_of(case)
    if case.ratio != DESIGN_RATIO:
        row["outside_design"] = f"×{case.ratio}: s2super was made for the 20 m bands at ×{DESIGN_RATIO}"
    return row


def s2super_record(data: str | Path, python: str, command: str, say: Callable[[str], None] = print) -> dict:
    """Every Sentinel-2 case of the record (see the module) by s2super, as one JSON document."""
    cases, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="s2super_") as work:
        for i, case in enumerate(s2_cases(Path(data), None, as_stated=False)):
            why = why_skipped(case)
            if why:
                skipped.append({"case": case.name, "source": case.source, "skipped": why})
                continue
            cases.append((case, write_case(case, Path(work) / f"{case_stem(i, case)}.in.npz")))
        say(f"{len(cases)} cases to s2super, {len(skipped)} skipped")
        run = run_s2super(python, Path(work), say)
        rows = [score(c, read_output(p.with_name(p.name.replace(".in.npz", ".out.npz"))), say) for c, p in cases]
    return {"command": command, "code": code_state(), "machine": platform.machine(), "s2super": run,
            "call": "s2super.super_sample(data, method='fast', fit_data=False, indices=..., preloaded_model=model): "
                    "its README's quickstart; data (H, W, C) in L2A DN: the guides, then each reference band "
                    "resampled onto their grid by GDAL's bilinear through buteo, as its .SAFE reader does",
            "protocol": "the Sentinel-2 cases of the sharpening record (src/bandbridge/evaluation/sharpen_cases.py, "
                        "Major-TOM realigned), scored by its scorer (src/bandbridge/evaluation/sharpen_record.py)",
            "cases": rows, "skipped": skipped}


def _pooled(rows: list[tuple[int, float, float, float, float]]) -> dict:
    """RMSE and MAE over every pixel of the given bands ``(pixels, rmse, mae, cubic rmse, cubic mae)``, ×
    the better cubic's pooled the same way (per band the better of GDAL's cubic and the B-spline)."""
    n = sum(r[0] for r in rows)
    rmse = lambda k: math.sqrt(sum(r[0] * r[k] ** 2 for r in rows) / n)  # noqa: E731
    mae = lambda k: sum(r[0] * r[k] for r in rows) / n  # noqa: E731
    return {"rmse_vs_best_cubic": round(rmse(1) / rmse(3), 4), "mae_vs_best_cubic": round(mae(2) / mae(4), 4),
            "bands": len(rows)}


def _band_rows(row: dict, method: str) -> list[tuple[str, tuple]]:
    m, px = row["methods"], row["size"][0] * row["size"][1]
    best = lambda e, k: min(m[u][e][k] for u in ("cubic", "bspline"))  # noqa: E731
    return [(band, (px, m[method]["rmse"][k], m[method]["mae"][k], best("rmse", k), best("mae", k)))
            for k, band in enumerate(row["targets"])]


def summary(record: dict, method: str = METHOD) -> dict:
    """Per source and scale (×2, ×6): per band ``method``'s RMSE and MAE × the better cubic's over the source's
    cases (pixels pooled), and every band pooled (:data:`INPUT`: s2super's bilinear input, a check)."""
    groups: dict[str, dict[str, list]] = {}
    counts: dict[str, int] = {}
    for row in (r for r in record["cases"] if "methods" in r):
        key = f"{row['fold']} ×{row['ratio']}"
        counts[key] = counts.get(key, 0) + 1
        for band, vals in _band_rows(row, method):
            groups.setdefault(key, {}).setdefault(band, []).append(vals)
    return {key: {"cases": counts[key], "bands": {b: _pooled(v) for b, v in bands.items()},
                  "pooled": _pooled([v for vs in bands.values() for v in vs])} for key, bands in groups.items()}


def table(record: dict) -> str:
    """Markdown: per source and scale, s2super's RMSE and MAE × the better cubic's per band, then pooled; what
    was skipped or failed, and how it was measured."""
    lines = ["| source | cases | band | s2super RMSE × the better cubic | MAE × the better cubic |",
             "|---|---|---|---|---|"]
    for key, s in summary(record).items():
        for band, v in [*s["bands"].items(), ("pooled", s["pooled"])]:
            lines.append(f"| {key} | {s['cases']} | {band} | {v['rmse_vs_best_cubic']:.3f} | "
                         f"{v['mae_vs_best_cubic']:.3f} |")
    why: dict[str, list[str]] = {}  # each reason once, with the cases it left out
    for r in [*record.get("skipped", []), *(r for r in record["cases"] if "error" in r)]:
        why.setdefault(r.get("skipped") or r["error"], []).append(r["case"])
    left = [f"{', '.join(cases)} ({reason})" for reason, cases in why.items()]
    run = record.get("s2super", {})
    return "\n".join(lines) + (
        f"\n\nNot given to s2super or failed: {'; '.join(left) or 'none'}. ×6 is outside what s2super was made for "
        f"(the 20 m bands at ×{DESIGN_RATIO}). s2super {run.get('s2super')}, TensorFlow {run.get('tensorflow')}: "
        f"{run.get('cpu_s')} CPU-s, {run.get('wall_s')} s wall. Measured by `{record.get('command')}`.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--python", required=True, help="the interpreter of s2super's own environment")
    ap.add_argument("--json", default="docs/results/s2super.json", help="where the record goes")
    a = ap.parse_args()
    command = "OMP_NUM_THREADS=1 nice .venv/bin/python " + " ".join(["benchmarks/s2super_baseline.py", *sys.argv[1:]])
    record = s2super_record(a.data, a.python, command)
    record["summary"], record["summary_input"] = summary(record), summary(record, INPUT)
    print(table(record))
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
