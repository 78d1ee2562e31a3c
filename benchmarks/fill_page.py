"""The web page's "Fill a cloud gap" at a few upload sizes (issue 75, point 4): time and peak memory
of one request, so the page's size cap is set from a measurement.

The uploads are ``benchmarks/fill_speed.py``'s inputs at SIDE² (the WorldCereal development sample
00002806639B424A tiled: a 4-band uint16 scene with a 40 % gap given as the mask, one earlier date
with its SCL band, Sentinel-1 VV, VH at both dates), placed in the page's upload folder. Each size
runs in a process of its own through the page's own handler (``demo/page.Page.handle_fill``: the
one file check, ``demo/fill.fill_upload``, the panels drawn), the page's pixel and MB caps lifted
for the measurement only; the process's wall and CPU time and peak resident memory (GNU time's
maximum RSS) are recorded with the upload files' sizes (the page's other cap is MB per file) and
the page's status line. Prints the record and, with ``--out``, writes it as JSON.

``python benchmarks/fill_page.py --mpix 1 4 16 [--data ../shared/data] [--work DIR] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEED = Path(__file__).with_name("fill_speed.py")  # the tile benchmark: its inputs, made at the page's sizes

BIN = Path(sys.executable).parent
FILES = ("scene", "earlier", "now", "then", "mask")


def one(folder: Path) -> None:
    """One request of the page on the uploads in ``folder`` (its ``gradio`` folder), in this process;
    prints the status line as JSON."""
    import bandbridge.demo.files as files
    import bandbridge.demo.fill as fill
    from bandbridge.demo.page import Page
    from bandbridge.spec import zoo_models
    fill.MAX_FILL_MPIX, files.MAX_MB = 1e9, 1e9  # measured, not refused
    up = {k: str(folder / "gradio" / k / p.name) for k, p in
          ((k, next((folder / "gradio" / k).iterdir())) for k in FILES)}
    page = Page(zoo_models())
    out = page.handle_fill(up["scene"], up["earlier"], up["now"], up["then"], up["mask"])
    page.dirs.remove(out[-1])
    print("STATUS " + json.dumps(out[6]))


def measure(side: int, data: Path, work: Path) -> dict:
    """Make the uploads at ``side``² and run one request under GNU time."""
    folder = work / str(side)
    (folder / "earlier").mkdir(parents=True, exist_ok=True)
    made = {k: Path(v) for k, v in json.loads(subprocess.run(
        [sys.executable, str(SPEED), "--inputs-only", "--size", str(side), "--data", str(data), "--work", str(folder)],
        check=True, capture_output=True, text=True).stdout.splitlines()[-1]).items()}
    for k in FILES:  # each upload in a folder of its own under the page's upload folder, as Gradio puts it
        dst = folder / "gradio" / k / made[k].name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.link(made[k], dst)
    env = {"OMP_NUM_THREADS": "2", "PATH": str(BIN) + ":/usr/bin:/bin", "GRADIO_TEMP_DIR": str(folder / "gradio"),
           "TMPDIR": str(folder)}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "TIME %M %U %S", sys.executable, __file__, "--one", str(folder)],
                       capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    line = next((x for x in p.stderr.splitlines()[::-1] if x.startswith("TIME ")), None)
    status = next((json.loads(x[7:]) for x in p.stdout.splitlines() if x.startswith("STATUS ")), None)
    if p.returncode or line is None or status is None:
        raise SystemExit(f"side {side} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    kb, user, system = line.split()[1:]
    return {"side": side, "mpix": round(side * side / 1e6, 2), "wall_s": round(wall, 1),
            "cpu_s": round(float(user) + float(system), 1), "peak_gb": round(int(kb) / 1e6, 3),
            "load_1min_before": round(load, 2), "upload_mb": {k: round(made[k].stat().st_size / 1e6, 1) for k in FILES},
            "filled": status.startswith("**Filled**"), "status": status[:600]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mpix", type=float, nargs="+", default=[1, 4, 16])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--work", default=None, help="folder for the uploads (default: a temporary one, removed)")
    ap.add_argument("--out", default=None, help="write the record here (JSON)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        return one(Path(a.one))
    with tempfile.TemporaryDirectory(prefix="fill-page-") as tmp:  # the uploads, unless --work keeps them
        rows = []
        for m in a.mpix:
            rows.append(measure(int(round((m * 1e6) ** 0.5)), Path(a.data), Path(a.work or tmp)))
            print(json.dumps(rows[-1]), flush=True)
    record = {"machine": platform.node(), "cores": os.cpu_count(), "sizes": rows,
              "command": "python benchmarks/fill_page.py " + " ".join(sys.argv[1:])}
    print(json.dumps(record, indent=2))
    if a.out:
        Path(a.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
