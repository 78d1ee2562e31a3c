"""`make demo-train`'s record: the figures the README and the getting-started page quote, read
from the run the command has just made, written to a JSON record and held to the project's.

    python scripts/demo_train.py RUNS [--command "bandbridge train …"] [--record FILE]
        [--against docs/results/demo_train.json] [--kernel-path "MKL_CBWR=COMPATIBLE"]

Reads the newest finished run under ``RUNS`` (``make demo-train``'s ``runs/demo``): its
``summary.json``, every epoch's validation from its TensorBoard scalars (step 0 is the start)
and what ``model/best`` is. Prints the figures as the docs quote them, writes them to
``--record`` (default ``RUNS/demo_train.json``) and compares them with ``--against`` (the record
the docs quote). That record holds the figures of each CPU kind measured (:func:`kind_of`: the
CPU's name and the widest instructions its math libraries use). The anchor, what ``model/best``
is, the epochs and the precision must be the same on every kind. On a kind the record holds, the
start must be its start and each epoch's validation within :data:`TOLERANCE` of its own; on a
kind it does not hold, each epoch within the range the measured kinds span, widened on each side
by their spread (:func:`bounds`). Exit 1 when they are not, so ``make demo-train`` fails where
the docs' figures are not this machine's. ``make demo-train
DEMO_RECORD=docs/results/demo_train.json`` adds this machine's kind to the project's record (or
re-records it; no failure); ``--kernel-path ENV`` records a run made with a math library's code
path forced by ``ENV`` (evidence for the spread, not a kind). ``tests/project/test_docs.py``
holds the README and the getting-started page to the record.

Why per kind: the demo trains in 32-bit float on one thread on every CPU (the Makefile's
``train.precision=32``, ``train.threads=1``), so crops, noise and the learner search (budgeted
in work, not time) are the same everywhere, and one machine gives the same figures run after
run (AMD EPYC, AVX-512 BF16: start L1 0.3664 in three runs, two of them a newcomer's, issue 77).
But the start (the learner the network is anchored on, fitted on the two training dates) moves
with the order in which the math libraries sum, which their kernels pick by CPU: MKL's (torch's
BLAS) code path alone, forced on one AMD EPYC with ``MKL_CBWR``, gave a start of L1 0.3664
(its default), 0.3670 (``AVX512``) and 0.3773 (``COMPATIBLE``); the Intel Xeon that made the
first record 0.3771. Measured on the Xeon before (2026-11-27): ATen and oneDNN limited to AVX2
against AVX-512, 0.00007 L1 and 0.0016 dB (the start equal); 2 threads against 1, 0.000001 and
0.00002 dB; bf16 autocast against fp32, 0.0005 and 0.011 dB, which the demo therefore does not
use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

# How far a run on a CPU kind the record holds may take each epoch's validation from that kind's
# (model values, range 1; dB): about seven times the AVX2 / AVX-512 gap of ATen and oneDNN
# measured above, short of the bf16 one. The start (the anchor alone, no training) must be equal.
TOLERANCE = {"l1": 0.0005, "psnr": 0.01}
RECORD = Path(__file__).resolve().parents[1] / "docs" / "results" / "demo_train.json"
VERSIONS = ("torch", "lightning", "lightgbm", "numpy", "rasterio")
SAME = ("precision", "anchor", "kept", "best_epoch", "epochs")  # the same on every CPU kind
# The widest instructions the math libraries (MKL, oneDNN, OpenBLAS) pick kernels by, widest first
ISA = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))


def kind_of(cpu: str, flags: frozenset[str] | set[str]) -> str:
    """A CPU kind as the record names it: ``"AMD EPYC, AVX-512 BF16"``."""
    return f"{cpu}, {next((name for flag, name in ISA if flag in flags), 'SSE')}"


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


def measure(run: Path, command: str, path: str | None = None) -> dict:
    """The record of ``run`` alone (a record of one kind, :func:`merged`): what the docs quote
    and what it ran on; ``path``: the environment that forced a math library's code path."""
    import platform

    from bandbridge.machine import cpu_flags, cpu_has_bf16
    s = json.loads((run / "summary.json").read_text())
    started = time.mktime(time.strptime(run.name[:15], "%Y%m%d-%H%M%S"))
    anchor = (s.get("start") or "").removeprefix("the ").split(" learner")[0] or None
    cpu, flags = cpu_flags()
    entry = {
        "kind": kind_of(cpu or platform.machine(), flags), "measured": date.today().isoformat(),
        "start": {"l1": round(s["val_start"]["l1"], 6), "psnr": round(s["val_start"]["psnr"], 6)},
        "end": {"l1": round(s["val_end"]["val/l1"], 6), "psnr": round(s["val_end"]["val/psnr"], 6)},
        "curve": epochs(run),
        # the whole command after its imports: the run folder is named when it starts
        "seconds": round((run / "summary.json").stat().st_mtime - started),
        "fit_seconds": s["fit_seconds"],
        "machine": {"cpu": cpu or platform.machine(), "cores": os.cpu_count(),
                    "native_bf16": cpu_has_bf16(), "load_1min": round(os.getloadavg()[0], 1)},
        "versions": versions(),
    } | ({"env": path} if path else {})
    shared = {"command": "make demo-train", "train": command, "anchor": anchor, "kept": s.get("kept"),
              "best_epoch": best_epoch(run), "epochs": s["epochs"], "precision": s["precision"]}
    return merged(None, shared, entry)


def merged(want: dict | None, shared: dict, entry: dict) -> dict:
    """The record ``want`` with ``entry`` (one run's figures) added as its kind's, replacing an
    earlier one of the same kind (or, with ``env``, the same forced code path); the whole record
    replaced where the run's ``shared`` figures (:data:`SAME`) are not the record's. The spread
    and the date are the record's measured ones again."""
    keep = want is not None and all(want.get(k) == shared.get(k) for k in (*SAME, "train"))
    kinds = [k for k in (want or {}).get("kinds", [])
             if keep and (entry.get("env") or k["kind"] != entry["kind"])]
    paths = [k for k in (want or {}).get("kernel_paths", [])
             if keep and (k["kind"], k.get("env")) != (entry["kind"], entry.get("env"))]
    (paths if entry.get("env") else kinds).append(entry)
    rec = shared | {"measured": max(e["measured"] for e in kinds + paths), "tolerance": TOLERANCE,
                    "kinds": kinds, "kernel_paths": paths}
    return rec | {"spread": spread(rec)}


def spread(rec: dict) -> dict[str, float]:
    """The largest gap, over the start and every epoch, between the figures of the record's kinds
    and forced code paths (0 where it holds one)."""
    runs = rec["kinds"] + rec.get("kernel_paths", [])
    out = {}
    for k in TOLERANCE:
        gaps = [max(v) - min(v) for v in zip(*([c[k] for c in r["curve"]] for r in runs))]
        out[k] = round(max(gaps, default=0.0), 4)
    return out


def bounds(rec: dict) -> dict[int, dict[str, tuple[float, float]]]:
    """Each epoch's range on a CPU kind the record does not hold: from the lowest to the highest
    figure of its kinds and forced code paths, widened on each side by :func:`spread` (at least
    the tolerance of one kind)."""
    runs, s = rec["kinds"] + rec.get("kernel_paths", []), rec["spread"]
    by = {}
    for r in runs:
        for c in r["curve"]:
            for k in TOLERANCE:
                by.setdefault(c["epoch"], {}).setdefault(k, []).append(c[k])
    w = {k: max(s[k], rec["tolerance"][k]) for k in s}  # one kind alone: its own tolerance
    return {e: {k: (round(min(v) - w[k], 4), round(max(v) + w[k], 4)) for k, v in d.items()}
            for e, d in sorted(by.items())}


def best_epoch(run: Path) -> int:
    """model/best's epoch: -1 where it is the start (the anchor alone)."""
    import yaml
    meta = run / "model" / "best" / "model.yaml"
    return int(yaml.safe_load(meta.read_text()).get("epoch", -1)) if meta.exists() else -1


def best_words(rec: dict) -> str:
    """What model/best is, as the docs say it (the same on every kind: :data:`SAME`)."""
    if rec["best_epoch"] < 0:
        return "the start itself (no epoch beats it)"
    return f"epoch {rec['best_epoch']}"


def span(values: list[float], fmt: str) -> str:
    """``0.3664–0.3771``, or one figure where the kinds agree to the digits written."""
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    return lo if lo == hi else f"{lo}–{hi}"


def quoted(rec: dict) -> dict[str, str]:
    """The figures the README and the getting-started page quote, as they write them: over the
    CPU kinds the record holds (what any of them gets), and what a run is held to."""
    kinds = rec["kinds"]

    def at(where: str) -> tuple[str, str]:
        return (span([k[where]["l1"] for k in kinds], ".4f"), span([k[where]["psnr"] for k in kinds], ".2f"))
    (s1, s2), (e1, e2) = at("start"), at("end")
    return {"start": f"L1 {s1} / PSNR {s2} dB", "end": f"{e1} / {e2} dB",
            "epochs": f"{rec['epochs']} epochs", "best": best_words(rec),
            "seconds": f"{span([k['seconds'] for k in kinds], 'd')} s",
            "tolerance": f"{rec['tolerance']['l1']} in L1 and {rec['tolerance']['psnr']} dB",
            "spread": f"{rec['spread']['l1']} in L1 and {rec['spread']['psnr']} dB"}


def differences(got: dict, want: dict) -> list[str]:
    """How the one-run record ``got`` (:func:`measure`) differs from ``want`` beyond what its CPU
    kind may (empty: the same): its kind's own figures where ``want`` holds the kind, else the
    range of ``want``'s kinds widened by their spread (:func:`bounds`)."""
    out = [f"{k}: {got.get(k)} (the record: {want.get(k)})" for k in SAME if got.get(k) != want.get(k)]
    run = got["kinds"][0]
    mine = {c["epoch"]: c for c in run["curve"]}
    kind = next((k for k in want["kinds"] if k["kind"] == run["kind"]), None)
    if kind is None:  # a CPU kind the record has not seen
        for e, lim in bounds(want).items():
            for k, (lo, hi) in lim.items():
                g = mine.get(e, {}).get(k)
                if g is None or not lo <= g <= hi:
                    out.append(f"epoch {e} {k} {'none' if g is None else f'{g:.4f}'} (the record's "
                               f"kinds ± their spread: {lo:.4f}–{hi:.4f})")
        return out
    for k in TOLERANCE:
        if f"{run['start'][k]:.4f}" != f"{kind['start'][k]:.4f}":
            out.append(f"start {k} {run['start'][k]:.4f} (the record, {kind['kind']}: {kind['start'][k]:.4f})")
    for c in kind["curve"]:
        g = mine.get(c["epoch"])
        for k, tol in want["tolerance"].items():
            if g is None or abs(g[k] - c[k]) > tol:
                out.append(f"epoch {c['epoch']} {k} {'none' if g is None else f'{g[k]:.4f}'} "
                           f"(the record, {kind['kind']}: {c[k]:.4f} ± {tol})")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, help="the folder make demo-train trains into (runs/demo)")
    ap.add_argument("--command", default="", help="the train command make demo-train ran")
    ap.add_argument("--record", type=Path, help="where to write this run's record (default RUNS/demo_train.json)")
    ap.add_argument("--against", type=Path, default=RECORD, help="the record the docs quote")
    ap.add_argument("--kernel-path", help="the environment that forced a math library's code path "
                    "for this run (e.g. MKL_CBWR=COMPATIBLE): recorded as evidence of the spread, not as a kind")
    a = ap.parse_args(argv)
    run = newest_run(a.runs)
    rec = measure(run, a.command, a.kernel_path)
    mine = (rec["kinds"] + rec["kernel_paths"])[0]
    q = quoted(rec | {"kinds": [mine]})
    print(f"make demo-train: {rec['anchor']} anchor; validation {q['start']} at the start → "
          f"{q['end']} after {q['epochs']}; model/best: {q['best']}; {q['seconds']} on {mine['kind']}"
          f"{' with ' + a.kernel_path if a.kernel_path else ''} ({run})")
    record = a.record or a.runs / "demo_train.json"
    want = json.loads(a.against.read_text()) if a.against.exists() else None
    record.parent.mkdir(parents=True, exist_ok=True)
    if want is not None and record.resolve() == a.against.resolve():  # (re-)record this kind
        diff = [] if a.kernel_path else differences(rec, want)
        new = merged(want, {k: rec[k] for k in (*SAME, "command", "train")}, mine)
        write(record, new)
        kept = len(new["kinds"]) + len(new["kernel_paths"]) - 1
        print(f"recorded {mine['kind']}{' with ' + a.kernel_path if a.kernel_path else ''} in {record} "
              f"({kept} other kind(s) and code path(s) kept; spread now {quoted(new)['spread']})"
              + (f"; it differs from what the record held: {'; '.join(diff)}" if diff else ""))
        return 0
    write(record, rec)
    if want is None:
        print(f"written to {record}; no {a.against} to compare with")
        return 0
    diff = differences(rec, want)
    known = any(k["kind"] == mine["kind"] for k in want["kinds"])
    if diff:
        print(f"NOT the figures the README quotes ({a.against}, measured {want['measured']}) for "
              f"{'this CPU kind' if known else 'a CPU kind the record has not seen'}, {mine['kind']}: {'; '.join(diff)}")
        theirs = next((k for k in want["kinds"] if k["kind"] == mine["kind"]), want["kinds"][0])
        other = {k: f"{v} (the record: {theirs['versions'].get(k)})" for k, v in mine["versions"].items()
                 if v != theirs["versions"].get(k)}
        if other:
            print(f"other package versions here: {other}")
        return 1
    print(f"the figures the README quotes ({a.against}) for {mine['kind']}: " + (
        f"the same start and model/best, every epoch within {q['tolerance']}" if known else
        "a CPU kind the record has not seen: the same model/best, every epoch within the range of "
        f"the kinds it holds ± their spread ({quoted(want)['spread']}); `make demo-train "
        "DEMO_RECORD=docs/results/demo_train.json` adds it") + f"; record written to {record}")
    return 0


def write(path: Path, rec: dict) -> None:
    """``rec`` to ``path`` whole or not at all (a temporary file, then renamed)."""
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
