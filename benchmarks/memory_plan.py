"""Memory as planned: ``bandbridge predict``'s printed plan ("planned under X GB peak") against the
peak resident size the process reached, for every backend ``auto`` may choose, on the 8192² and
20000² mosaics ``bandbridge bench`` builds for the model's kind of input (run ``bandbridge bench``
on the model once first).

    python benchmarks/memory_plan.py [-m rgb2thermal] [--sizes 8192,20000] [--backends "openvino fp32,torch fp32"] [--json docs/results/memory_plan.json]

Each row is its own ``bandbridge predict … --backend B --precision P`` process; its peak is the
kernel's (``wait4``'s ``ru_maxrss``), the plan the line it printed. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = [("openvino", "bf16"), ("openvino", "int8"), ("openvino", "fp32"), ("onnx", "int8"),
              ("onnx", "fp32"), ("torch", "bf16"), ("torch", "fp32")]
PLAN = re.compile(r"planned under ([\d.]+) GB peak")


def row(model: str, raster: Path, backend: str, precision: str) -> dict:
    """One predict process: its plan, its peak RSS, its wall time (or why it refused)."""
    bb = Path(sys.executable).parent / "bandbridge"
    with tempfile.TemporaryDirectory() as d:
        cmd = [str(bb), "predict", str(raster), "-m", model, "--backend", backend, "--precision",
               precision, "-o", str(Path(d) / "out.tif")]
        t0 = time.perf_counter()
        with open(Path(d) / "out.txt", "w") as out, open(Path(d) / "err.txt", "w") as err:
            p = subprocess.Popen(cmd, stdout=out, stderr=err)
            _, status, usage = os.wait4(p.pid, 0)
        text = (Path(d) / "out.txt").read_text()
        errors = (Path(d) / "err.txt").read_text()
    r = {"backend": backend, "precision": precision, "size": raster.stem.split("-")[-1],
         "seconds": time.perf_counter() - t0, "peak_mb": usage.ru_maxrss / 1024}
    if os.waitstatus_to_exitcode(status) != 0:
        return r | {"status": "refused", "why": errors.strip().splitlines()[-1][:200] if errors.strip() else "?"}
    m = PLAN.search(text)
    r["planned_mb"] = float(m.group(1)) * 1e9 / 2**20 if m else None
    r["within"] = r["planned_mb"] is not None and r["peak_mb"] <= r["planned_mb"]
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", default="rgb2thermal")
    ap.add_argument("--sizes", default="8192,20000")
    ap.add_argument("--backends", default=",".join(f"{b} {p}" for b, p in CANDIDATES),
                    help="comma-separated 'backend precision' pairs")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from bandbridge.mosaics import mosaic_kind
    from bandbridge.spec import read_spec, resolve_model_folder
    kind = mosaic_kind(read_spec(resolve_model_folder(a.model)).input.scaling)
    pairs = [tuple(x.split()) for x in a.backends.split(",") if x.strip()]
    rows = []
    for size in [int(s) for s in a.sizes.split(",") if s]:
        raster = Path(tempfile.gettempdir()) / f"bandbridge-{kind}-mosaic-{size}.tif"
        if not raster.exists():
            sys.exit(f"{raster}: missing; run `bandbridge bench -m {a.model}` once to build it")
        for backend, precision in pairs:
            r = row(a.model, raster, backend, precision)
            rows.append(r)
            said = f"refused: {r['why']}" if r.get("status") == "refused" else \
                f"peak {r['peak_mb']:.0f} MB, planned {r['planned_mb'] or float('nan'):.0f} MB"
            print(f"{size}² {backend} {precision}: {said} ({r['seconds']:.0f} s)", flush=True)
    if a.json:  # one record per model; other models' records in the file are kept
        from bandbridge.machine import cpu_flags
        path = Path(a.json)
        rec = json.loads(path.read_text()) if path.is_file() else {"models": {}}
        rec["models"][a.model] = {"rows": rows, "cpu": cpu_flags()[0],
                                  "measured": datetime.date.today().isoformat(),
                                  "command": "python benchmarks/memory_plan.py " + " ".join(sys.argv[1:])}
        path.write_text(json.dumps(rec, indent=1) + "\n")


if __name__ == "__main__":
    main()
