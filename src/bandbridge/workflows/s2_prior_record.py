"""The Sentinel-2 band prior's leave-one-source-out record (issue 84; the prior: ``s2_prior.py``).

For each development Sentinel-2 source: the prior trained on the other sources and saved as a
bundle, then every case of the held-out source (``evaluation/sharpen_cases.s2_cases``, Major-TOM as
its files state it and realigned) scored beside the five upsamplings: ``bandbridge sharpen`` as a
user runs it, without and with ``-m`` that fold's bundle, and the prior's own output (its levels,
which no user is given: it says how much of the band the guides alone carry). Per band RMSE and MAE
and their ratios to the better cubic and the best upsampling (``evaluation/sharpen_record``).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from bandbridge.evaluation.sharpen_baselines import UPSAMPLING
from bandbridge.evaluation.sharpen_cases import CASE_MIN_CELLS, Case, s2_cases
from bandbridge.evaluation.sharpen_record import bandbridge_sharpener, code_state, run_case
from bandbridge.workflows.s2_prior import OUTPUTS, S2_MTF, PriorConfig, save_prior, source_of, source_pairs, train_prior

PLAIN, WITH_PRIOR, ALONE = "bandbridge", "bandbridge -m prior", "prior alone"
TARGETS = {"×2": 0.5, "×2 B11/B12": 0.6, "×6": 0.6}  # the asks, RMSE × the better cubic


def prior_alone(net, case: Case) -> np.ndarray:
    """The prior's output for a case's target bands, on the case's guides ``(T, H, W)``."""
    import torch
    with torch.no_grad():
        out = net(torch.from_numpy(case.guides.astype(np.float32))[None])[0].numpy()
    return out[[OUTPUTS.index(b) for b in case.target_names]]


def fold(held: str, pairs: dict, cases: list[Case], work: Path, cfg: PriorConfig,
         say: Callable[[str], None]) -> tuple[dict, list[dict]]:
    """The prior trained without ``held``, its bundle, and ``held``'s cases scored (see the module)."""
    others = sorted(s for s in pairs if s != held)
    t0 = time.process_time()
    net = train_prior([p for s in others for p in pairs[s]], cfg)
    secs = round(time.process_time() - t0, 1)
    bundle = work / f"prior_without_{held}"
    save_prior(net, bundle, cfg, others)
    say(f"fold {held}: trained on {', '.join(others)} ({secs} CPU-s)")
    plain, _ = bandbridge_sharpener(work / "plain")
    with_prior, _ = bandbridge_sharpener(work / "with_prior", str(bundle))
    rows = []
    for case in cases:
        alone = lambda g, r, k, c=case: prior_alone(net, c)  # noqa: E731 (the case's own bands)
        row = run_case(case, dict(UPSAMPLING) | {PLAIN: plain, WITH_PRIOR: with_prior, ALONE: alone}, say)
        row["fold"] = held
        rows.append(row)
    return {"held_out": held, "trained_on": others, "train_cpu_s": secs}, rows


def loso_record(data: str | Path, work: str | Path, cfg: PriorConfig, command: str,
                say: Callable[[str], None] = print) -> dict:
    """Every fold (:func:`fold`), one per development Sentinel-2 source, as one JSON document."""
    work = Path(work)
    pairs = source_pairs(data, say)
    cases = [c for c in s2_cases(Path(data)) if c.cells >= CASE_MIN_CELLS]
    folds, rows = [], []
    for held in pairs:
        f, r = fold(held, pairs, [c for c in cases if source_of(c) == held], work, cfg, say)
        folds.append(f)
        rows += r
    return {"command": command, "code": code_state(), "machine": platform.machine(), "config": cfg.__dict__,
            "mtf": S2_MTF, "targets": TARGETS,
            "protocol": "leave one source out: the prior trained on the other development Sentinel-2 sources' Wald "
                        "pairs (src/bandbridge/workflows/s2_prior.py), the held-out source's cases as the sharpening "
                        "record makes them (src/bandbridge/evaluation/sharpen_cases.py)",
            "folds": folds, "cases": rows}


def summary(record: dict) -> list[dict]:
    """Per case and band: RMSE × the better cubic of bandbridge without and with the prior, of the
    prior alone, and bandbridge with the prior's RMSE and MAE × the best upsampling."""
    out = []
    for row in record["cases"]:
        m = row["methods"]
        for i, band in enumerate(row["targets"]):
            out.append({"case": row["case"], "band": band, "fold": row["fold"],
                        "plain": m[PLAIN]["rmse_vs_best_cubic"][i], "prior": m[WITH_PRIOR]["rmse_vs_best_cubic"][i],
                        "alone": m[ALONE]["rmse_vs_best_cubic"][i],
                        "prior_vs_best_up": [m[WITH_PRIOR]["rmse_vs_best_upsampling"][i],
                                             m[WITH_PRIOR]["mae_vs_best_upsampling"][i]]})
    return out


def target_of(case: str, band: str) -> float:
    """The issue's ask for a band (RMSE × the better cubic): :data:`TARGETS`."""
    if "×6" in case:
        return TARGETS["×6"]
    return TARGETS["×2 B11/B12"] if band in ("B11", "B12") else TARGETS["×2"]


def table(record: dict) -> str:
    """Markdown: per held-out source, case and band, RMSE × the better cubic without and with the
    prior and of the prior alone, the ask, and with the prior × the best upsampling (RMSE / MAE)."""
    out = ["| held out | case | band | `sharpen` | **`sharpen -m s2-prior`** | the prior alone | asked | "
           "with the prior × the best upsampling (RMSE / MAE) |", "|---|---|---|---|---|---|---|---|"]
    rows = summary(record)
    for r in rows:
        ask = target_of(r["case"], r["band"])
        out.append(f"| {r['fold']} | {r['case']} | {r['band']} | {r['plain']:.3g} | {r['prior']:.3g} | "
                   f"{r['alone']:.3g} | {ask} {'✓' if r['prior'] <= ask else '✗'} | "
                   f"{r['prior_vs_best_up'][0]:.3g} / {r['prior_vs_best_up'][1]:.3g} |")
    better = sum(r["prior"] < r["plain"] for r in rows)
    met = (sum(r["plain"] <= target_of(r["case"], r["band"]) for r in rows),
           sum(r["prior"] <= target_of(r["case"], r["band"]) for r in rows))
    folds = "; ".join(f"{f['held_out']} ({f['train_cpu_s']} CPU-s)" for f in record["folds"])
    return "\n".join(out) + (
        f"\n\nRMSE as a multiple of the better cubic's (GDAL's cubic convolution or the cubic B-spline). With the "
        f"prior {better} of {len(rows)} bands are better than without; the ask is met on {met[1]} of {len(rows)} "
        f"with it and {met[0]} without. {record['protocol']}. Folds (each prior's training): {folds}. "
        f"Measured by `{record['command']}`.\n")
