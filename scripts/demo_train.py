"""`make demo-train`'s record: the figures the README and the getting-started page quote, read
from the run the command has just made, written to a JSON record and held to the project's.

    python scripts/demo_train.py RUNS [--command "bandbridge train …"] [--record FILE]
        [--against docs/results/demo_train.json]

Reads the newest finished run under ``RUNS`` (``make demo-train``'s ``runs/demo``): its
``summary.json``, every epoch's validation from its TensorBoard scalars (step 0 is the start)
and what ``model/best`` is. Prints the figures as the docs quote them, writes them to
``--record`` (default ``RUNS/demo_train.json``) and compares them with ``--against`` (the record
the docs quote): the anchor, the start and what ``model/best`` is must be the same, each epoch's
validation within :data:`TOLERANCE`. Exit 1 when they are not, so ``make demo-train`` fails
where the docs' figures are not this machine's. ``make demo-train
DEMO_RECORD=docs/results/demo_train.json`` re-records the project's figures (the old ones are
compared and replaced; no failure). ``tests/project/test_docs.py`` holds the README and the
getting-started page to the record.

Why a tolerance: the demo trains in 32-bit float on one thread on every CPU (the Makefile's
``train.precision=32``, ``train.threads=1``), so crops, noise, the learner search (budgeted in
work, not time) and the start are the same everywhere, but the kernels torch picks for the CPU
(AVX2, AVX-512, …) sum in another order, and four epochs of a GAN carry that into the fourth
digit. Measured 2026-11-27 on this project's 2-core Xeon (AVX-512 BF16), the largest gap over the
start and the four epochs: ATen and oneDNN limited to AVX2 against AVX-512, 0.00007 L1 and
0.0016 dB (the start equal); 2 threads against 1, 0.000001 and 0.00002 dB; bf16 autocast (what
``precision: auto`` picks on CPUs with AVX-512 BF16 or AMX) against fp32, 0.0005 and 0.011 dB,
which the demo therefore does not use.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

# How far a CPU of another kind may take each epoch's validation (model values, range 1; dB):
# about seven times the AVX2 / AVX-512 gap measured above, short of the bf16 one. The start (the
# anchor alone, no training) and what model/best is must be equal.
TOLERANCE = {"l1": 0.0005, "psnr": 0.01}
RECORD = Path(__file__).resolve().parents[1] / "docs" / "results" / "demo_train.json"
VERSIONS = ("torch", "lightning", "lightgbm", "numpy", "rasterio")


def newest_run(runs: Path) -> Path:
    """The run under ``runs`` (``runs/<name>/<timestamp>``) whose summary.json is newest."""
    found = sorted(runs.glob("*/*/summary.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        sys.exit(f"{runs}: no finished run here (no */*/summary.json); run make demo-train")
    return found[-1].parent


def epochs(run: Path) -> list[dict]:
    """Validation at the start (epoch -1) and after each epoch, from the run's TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    ea.Reload()
    steps = {}
    for key in ("l1", "psnr"):
        for e in ea.Scalars(f"val/{key}"):
            steps.setdefault(e.step, {})[key] = round(float(e.value), 6)
    return [{"epoch": i - 1, **steps[s]} for i, s in enumerate(sorted(steps))]


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for name in VERSIONS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def measure(run: Path, command: str) -> dict:
    """The record of ``run``: what the docs quote and what it ran on."""
    from bandbridge.machine import cpu_flags, cpu_has_bf16
    s = json.loads((run / "summary.json").read_text())
    best = best_epoch(run)
    curve = epochs(run)
    started = time.mktime(time.strptime(run.name[:15], "%Y%m%d-%H%M%S"))
    anchor = (s.get("start") or "").removeprefix("the ").split(" learner")[0] or None
    return {
        "command": "make demo-train", "train": command, "measured": date.today().isoformat(),
        "anchor": anchor, "kept": s.get("kept"), "best_epoch": best,
        "epochs": s["epochs"], "precision": s["precision"],
        "start": {"l1": round(s["val_start"]["l1"], 6), "psnr": round(s["val_start"]["psnr"], 6)},
        "end": {"l1": round(s["val_end"]["val/l1"], 6), "psnr": round(s["val_end"]["val/psnr"], 6)},
        "curve": curve,
        # the whole command after its imports: the run folder is named when it starts
        "seconds": round((run / "summary.json").stat().st_mtime - started),
        "fit_seconds": s["fit_seconds"],
        "machine": {"cpu": cpu_flags()[0] or platform.machine(), "cores": os.cpu_count(),
                    "native_bf16": cpu_has_bf16(), "load_1min": round(os.getloadavg()[0], 1)},
        "versions": versions(),
        "tolerance": TOLERANCE,
    }


def best_epoch(run: Path) -> int:
    """model/best's epoch: -1 where it is the start (the anchor alone)."""
    import yaml
    meta = run / "model" / "best" / "model.yaml"
    return int(yaml.safe_load(meta.read_text()).get("epoch", -1)) if meta.exists() else -1


def best_words(rec: dict) -> str:
    """What model/best is, as the docs say it."""
    if rec["best_epoch"] < 0:
        return "the start itself (no epoch beats it)"
    e = next(c for c in rec["curve"] if c["epoch"] == rec["best_epoch"])
    return f"epoch {e['epoch']} ({e['l1']:.4f} / {e['psnr']:.2f} dB)"


def quoted(rec: dict) -> dict[str, str]:
    """The figures the README and the getting-started page quote, as they write them."""
    return {"start": f"L1 {rec['start']['l1']:.4f} / PSNR {rec['start']['psnr']:.2f} dB",
            "end": f"{rec['end']['l1']:.4f} / {rec['end']['psnr']:.2f} dB",
            "epochs": f"{rec['epochs']} epochs",
            "best": best_words(rec),
            "seconds": f"{rec['seconds']} s",
            "tolerance": f"{rec['tolerance']['l1']} in L1 and {rec['tolerance']['psnr']} dB"}


def differences(got: dict, want: dict) -> list[str]:
    """How ``got`` differs from ``want`` beyond what another CPU kind may (empty: the same)."""
    out = [f"{k}: {got.get(k)} (the record: {want.get(k)})"
           for k in ("precision", "anchor", "kept", "best_epoch", "epochs") if got.get(k) != want.get(k)]
    for k in ("l1", "psnr"):
        if f"{got['start'][k]:.4f}" != f"{want['start'][k]:.4f}":
            out.append(f"start {k} {got['start'][k]:.4f} (the record: {want['start'][k]:.4f})")
    mine = {c["epoch"]: c for c in got["curve"]}
    for c in want["curve"]:
        g = mine.get(c["epoch"])
        for k, tol in want["tolerance"].items():
            if g is None or abs(g[k] - c[k]) > tol:
                out.append(f"epoch {c['epoch']} {k} {'none' if g is None else f'{g[k]:.4f}'} "
                           f"(the record: {c[k]:.4f} ± {tol})")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, help="the folder make demo-train trains into (runs/demo)")
    ap.add_argument("--command", default="", help="the train command make demo-train ran")
    ap.add_argument("--record", type=Path, help="where to write this run's record (default RUNS/demo_train.json)")
    ap.add_argument("--against", type=Path, default=RECORD, help="the record the docs quote")
    a = ap.parse_args(argv)
    run = newest_run(a.runs)
    rec = measure(run, a.command)
    q = quoted(rec)
    print(f"make demo-train: {rec['anchor']} anchor; validation {q['start']} at the start → "
          f"{q['end']} after {q['epochs']}; model/best: {q['best']}; {q['seconds']} ({run})")
    record = a.record or a.runs / "demo_train.json"
    want = json.loads(a.against.read_text()) if a.against.exists() else None
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
    if want is None:
        print(f"written to {record}; no {a.against} to compare with")
        return 0
    diff = differences(rec, want)
    if record.resolve() == a.against.resolve():
        print(f"re-recorded {record}" + (f"; it differs from the one it replaces: {'; '.join(diff)}" if diff else
                                          ", the same figures as before"))
        return 0
    if diff:
        print(f"NOT the figures the README quotes ({a.against}, measured {want['measured']} on "
              f"{want['machine']['cpu']}): {'; '.join(diff)}")
        other = {k: f"{v} (the record: {want['versions'].get(k)})" for k, v in rec["versions"].items()
                 if v != want["versions"].get(k)}
        if other:
            print(f"other package versions here: {other}")
        return 1
    print(f"the figures the README quotes ({a.against}): the same start and model/best, every "
          f"epoch within {q['tolerance']}; record written to {record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
