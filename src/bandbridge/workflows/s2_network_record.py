"""Sentinel-2's residual network held out source by source (issue 96; the network: ``s2_network.py``).

For each development Sentinel-2 source: the network trained on the other sources, saved as a bundle
in the record's work folder and read back as a caller reads it (``load_network``), then every case of
the held-out source (``evaluation/sharpen_cases.s2_cases``, Major-TOM realigned, block means) scored
beside the five upsamplings by ``evaluation/sharpen_record.run_case``: the network alone, its output
on the case's guides and its reference upsampled as ``bandbridge sharpen`` upsamples it (``refine``).
Per band RMSE and MAE and their ratios to the better cubic (GDAL's cubic convolution or the cubic
B-spline) and the best upsampling. :func:`summary` pools them per source and band.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.evaluation.sharpen_baselines import UPSAMPLING
from bandbridge.evaluation.sharpen_cases import CASE_MIN_CELLS, Case, s2_cases
from bandbridge.evaluation.sharpen_record import bandbridge_sharpener, code_state, run_case
from bandbridge.workflows.s2_network import (NetworkConfig, beside_up, load_network, refine, save_network, source_pairs,
                                             train_network, upsampled)
from bandbridge.workflows.s2_prior import S2_MTF, source_of

ALONE = "network alone"
WITHOUT, DEFAULT = "bandbridge --no-network", "bandbridge"  # sharpen without the network (the default since it is
# opt-in); with the fold's network (--network; the column's name from when it was the default)
BETTER_CUBIC = ("cubic", "bspline")
# the asks, RMSE × the better cubic: per band (the 20 m bands, B11/B12, the 60 m bands) and pooled per source
TARGETS = {"20 m": 0.5, "B11/B12": 0.6, "60 m": 0.4, "pooled": 0.45}


def network_alone(net, case: Case) -> np.ndarray:
    """The network's output for a case's bands, on its guides and its reference upsampled (and, at ×6, its
    20 m bands beside, as the 60 m run gives them: ``s2_network.beside_up``)."""
    up, names = upsampled(case.reference, case.grid, case.ratio), list(case.target_names)
    if case.companions is not None:
        up = np.concatenate([up, beside_up(case.companions, case.grid)])
        names += case.companion_names
    return refine(net, case.guides.astype(np.float32), up, names)[:len(case.target_names)]


def fold(held: str, pairs: dict, cases: list[Case], work: Path, cfg: NetworkConfig, command: str,
         say: Callable[[str], None]) -> tuple[dict, list[dict]]:
    """The network trained without ``held``, its bundle read back, and ``held``'s cases scored."""
    others = sorted(s for s in pairs if s != held)
    t0 = time.process_time()
    trained = train_network([p for s in others for p in pairs[s]], cfg)
    secs = round(time.process_time() - t0, 1)
    bundle = work / f"network_without_{held}"
    save_network(trained, bundle, cfg, others, command)
    net = load_network(bundle)
    say(f"fold {held}: trained on {', '.join(others)} ({secs} CPU-s)")
    rows = []
    without, _ = bandbridge_sharpener(work / "without", network=False)  # the fit without it, as a user runs it
    default, _ = bandbridge_sharpener(work / f"default_{held}", network=str(bundle))  # and by default, this fold's
    for case in cases:
        alone = lambda g, r, k, c=case: network_alone(net, c)  # noqa: E731 (the case's own bands)
        row = run_case(case, dict(UPSAMPLING) | {ALONE: alone, WITHOUT: without, DEFAULT: default}, say)
        row["fold"] = held
        rows.append(row)
    return {"held_out": held, "trained_on": others, "train_cpu_s": secs}, rows


def loso_record(data: str | Path, work: str | Path, cfg: NetworkConfig, command: str,
                say: Callable[[str], None] = print) -> dict:
    """Every fold (:func:`fold`), one per development Sentinel-2 source, as one JSON document."""
    work = Path(work)
    pairs = source_pairs(data, say)
    cases = [c for c in s2_cases(Path(data), as_stated=False) if c.cells >= CASE_MIN_CELLS]
    folds, rows = [], []
    for held in pairs:
        f, r = fold(held, pairs, [c for c in cases if source_of(c) == held], work, cfg, command, say)
        folds.append(f)
        rows += r
    record = {"command": command, "code": code_state(), "machine": platform.machine(), "config": asdict(cfg),
              "mtf": S2_MTF, "targets": TARGETS,
              "protocol": "leave one source out: the network trained on the other development Sentinel-2 sources' "
                          "Wald pairs (src/bandbridge/workflows/s2_network.py), the held-out source's cases as the "
                          "sharpening record makes them, Major-TOM realigned (src/bandbridge/evaluation/sharpen_cases.py)",
              "folds": folds, "cases": rows}
    return record | {"summary": {m: summary(record, m) for m in (ALONE, WITHOUT, DEFAULT)}}


def _pooled(rows: list[tuple[dict, int]], method: str) -> float:
    """``√(Σ n·RMSE²) / √(Σ n·RMSE_better_cubic²)`` over ``(case row, band index)`` items, ``n`` a case's pixels:
    the ratio of the RMSE over all their pixels."""
    num = den = 0.0
    for row, i in rows:
        n = row["size"][0] * row["size"][1]
        num += n * row["methods"][method]["rmse"][i] ** 2
        den += n * min(row["methods"][u]["rmse"][i] for u in BETTER_CUBIC) ** 2
    return float(np.sqrt(num / den)) if den > 0 else float("nan")


def target_of(band: str, ratio: int) -> float:
    """The issue's ask for a band (RMSE × the better cubic): :data:`TARGETS`."""
    return TARGETS["60 m"] if ratio == 6 else TARGETS["B11/B12"] if band in ("B11", "B12") else TARGETS["20 m"]


def summary(record: dict, method: str = ALONE) -> list[dict]:
    """Per held-out source and band, then per source pooled over its bands: ``method``'s RMSE over the
    source's pixels × the better cubic's (:func:`_pooled`), the ask and whether it is met."""
    by: dict[str, dict[str, list]] = {}
    for row in record["cases"]:
        if "rmse" not in row["methods"].get(method, {}):
            continue
        for i, band in enumerate(row["targets"]):
            by.setdefault(row["fold"], {}).setdefault(band, []).append((row, i))
    out = []
    for source, bands in by.items():
        for band, items in bands.items():
            ratio, ask = _pooled(items, method), target_of(band, items[0][0]["ratio"])
            out.append({"source": source, "band": band, "cases": len(items), "vs_better_cubic": round(ratio, 4),
                        "asked": ask, "met": ratio <= ask})
        ratio = _pooled([it for items in bands.values() for it in items], method)
        out.append({"source": source, "band": "pooled", "cases": len({id(r) for v in bands.values() for r, _ in v}),
                    "vs_better_cubic": round(ratio, 4), "asked": TARGETS["pooled"], "met": ratio <= TARGETS["pooled"]})
    return out


def table(record: dict) -> str:
    """Markdown: per held-out source and band, RMSE × the better cubic of the network alone, ``sharpen`` without it
    and ``sharpen --network`` (the fold's network offered), and the ask."""
    cols = (ALONE, WITHOUT, DEFAULT)
    got = {m: {(r["source"], r["band"]): r for r in summary(record, m)} for m in cols}
    out = ["| held out | band | cases | the network alone | `sharpen` | `sharpen --network` | asked |",
           "|---|---|---|---|---|---|---|"]
    for key, r in got[ALONE].items():
        v = [got[m].get(key, {}).get("vs_better_cubic", float("nan")) for m in cols]
        ok = "✓" if v[2] <= r["asked"] else "✗"
        out.append(f"| {key[0]} | {key[1]} | {r['cases']} | {v[0]:.3g} | {v[1]:.3g} | {v[2]:.3g} | {r['asked']} {ok} |")
    folds = "; ".join(f"{f['held_out']} ({f['train_cpu_s']} CPU-s)" for f in record["folds"])
    again = record.get("default_rescored", {}).get("command")
    return "\n".join(out) + (
        f"\n\nRMSE over the held-out source's pixels as a multiple of the better cubic's (GDAL's cubic convolution "
        f"or the cubic B-spline, per case and band); ✓ where `--network` meets the issue's ask. {record['protocol']}. "
        f"Folds (each network's training): {folds}. Measured by `{record['command']}`"
        + (f"; the network-alone and `--network` columns scored again by `{again}`"
           + (f", the fold bundles trained by `{record['default_rescored']['trained_by']}`"
              if "trained_by" in record["default_rescored"] else "")
           + f" ({record['default_rescored'].get('why', '')})" if again else "") + ".\n")
