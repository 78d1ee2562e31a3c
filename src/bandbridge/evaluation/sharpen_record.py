"""The sharpening record: every case of ``sharpen_cases.py`` sharpened by the baselines (and by
``bandbridge sharpen`` where its entry point exists), scored per band (RMSE, MAE) and per case
(ERGAS, SAM) against the truth, and written as one JSON document with the command that made it.

``bandbridge sharpen`` is run as a user runs it, on files: the case's guides and reference are
written as float32 GeoTIFFs (with the case's georeference; plain images without one), band
descriptions naming each band, and its output is read back. Where its entry point cannot be
imported the record holds no bandbridge column and says why; nothing stands in for it.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rasterio.errors import NotGeoreferencedWarning

from bandbridge.evaluation.sharpen_baselines import BASELINES, PANSHARPENING, UPSAMPLING
from bandbridge.evaluation.sharpen_cases import CASE_MIN_CELLS, Case, all_cases
from bandbridge.fileio import atomic_write_bytes
from bandbridge.metrics import sharpen_metrics

# Landsat's band numbers are not Sentinel-2's (B5 is NIR, B10 thermal, where S2's B10 is cirrus):
# the files name them by what they are, so that nothing reads them as S2 codes
RATIOS = {"cubic": ("cubic",), "best_cubic": ("cubic", "bspline"), "best_upsampling": tuple(UPSAMPLING)}  # per band
FILE_NAMES = {"B2": "blue", "B3": "green", "B4": "red", "B5": "nir", "B6": "swir16", "B7": "swir22",
              "B10": "B10 thermal", "B11": "B11 thermal"}


def bandbridge_sharpener(work: Path, model: str | None = None, network: bool | str = False
                         ) -> tuple[Callable[[Case], tuple[np.ndarray, dict]] | None, str]:
    """``(sharpen a case → (output, its route and why per band), what it is)``, or ``(None, why
    not)`` where the command's entry point (``inference.place.sharpen.sharpen``) cannot be imported;
    ``model``: its ``-m`` (a bundle whose output joins the guides); ``network``: the Sentinel-2 network's
    route offered (``--network``; a folder: that bundle of it, a fold's)."""
    try:
        from bandbridge.inference.place.sharpen import sharpen
    except ImportError as e:
        return None, f"bandbridge sharpen not importable ({e})"

    def run(case: Case) -> np.ndarray:
        import rasterio

        from bandbridge.evaluation.wald import write_raster
        folder = work / (case.name.replace(" ", "_").replace("×", "x") + ("_m" if model else ""))
        folder.mkdir(parents=True, exist_ok=True)  # the case's guides and reference as float32 GeoTIFFs
        named = lambda names: [n if case.kind == "s2" else FILE_NAMES.get(n, n) for n in names]  # noqa: E731 - Landsat's
        guides = write_raster(folder / "guides.tif", case.guides, case.grid, named(case.guide_names))
        reference, bands = write_raster(folder / "reference.tif", case.reference, case.grid.coarser(case.ratio),
                                        named(case.target_names)), None
        if network is not False and case.companions is not None:  # a band folder: the ×6 case's 20 m bands beside
            reference, bands = beside_folder(folder / "reference", case), list(case.target_names)
        res = sharpen(fine=[guides], reference=reference, output=folder / "sharpened.tif", overwrite=True, model=model,
                      network=network, bands=bands)
        with warnings.catch_warnings(), rasterio.open(res.output) as src:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            out = src.read().astype(np.float32)
        return out, {"routes": [b.route for b in res.decisions], "why": [b.why for b in res.decisions],
                     "checks": [{k: float(v) for k, v in b.checks.items()} for b in res.decisions]}
    m = (f", model={model!r}" if model else "") + ("" if network is False else f", network={network!r}")
    return run, f"bandbridge.inference.place.sharpen.sharpen(fine=[guides.tif], reference=reference.tif{m})"


def beside_folder(folder: Path, case: Case) -> Path:
    """A band folder of the case's reference bands (on ``grid.coarser(ratio)``) and its companions averaged by
    ``BETWEEN`` (the ×6 case's 20 m bands as the 60 m run of a product holds them: twice its output pixel), one
    file a band: what ``sharpen --network`` reads beside the guides."""
    from bandbridge.data.grids import block_mean
    from bandbridge.evaluation.wald import write_raster
    from bandbridge.models.s2_residual import BETWEEN
    folder.mkdir(parents=True, exist_ok=True)
    for name, band in zip(case.target_names, case.reference):
        write_raster(folder / f"{name}.tif", band[None], case.grid.coarser(case.ratio), [name])
    for name, band in zip(case.companion_names, block_mean(case.companions, BETWEEN)[0]):
        write_raster(folder / f"{name}.tif", band[None], case.grid.coarser(BETWEEN), [name])
    return folder


def run_case(case: Case, methods: dict[str, Callable], say: Callable[[str], None]) -> dict:
    """Every method on one case, scored; a method that fails is recorded with its error. A method
    named ``bandbridge…`` takes the case (it runs on files) and returns its output and what it says."""
    row = {"case": case.name, "source": case.source, "kind": case.kind, "ratio": case.ratio, "units": case.units,
           "guides": case.guide_names, "targets": case.target_names, "size": list(case.truth.shape[1:]),
           "reference_cells": case.cells, "truth_mean": [float(t.mean()) for t in case.truth], "methods": {}}
    for name, f in methods.items():
        t0 = time.process_time()
        try:
            pred, extra = f(case) if name.startswith("bandbridge") else (f(case.guides, case.reference, case.ratio), {})
        except Exception as e:  # the record says what failed and goes on with the other methods
            row["methods"][name] = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
            say(f"  {name}: failed ({row['methods'][name]['error']})")
            continue
        secs = {"seconds": round(time.process_time() - t0, 2)}  # the method's own, not the scoring's
        row["methods"][name] = sharpen_metrics(torch.from_numpy(pred), torch.from_numpy(case.truth), torch.ones(
            case.truth.shape[1:], dtype=torch.bool), case.ratio) | secs | extra
    for m in row["methods"].values():  # per band against GDAL's cubic, the better cubic, the best upsampling
        for (key, of), e in ((r, e) for r in RATIOS.items() for e in ("rmse", "mae")):
            base = [row["methods"][u][e] for u in of if e in row["methods"].get(u, {})]
            if e in m and base:
                m[f"{e}_vs_{key}"] = [round(a / b, 4) if b > 0 else None for a, b in zip(m[e], np.min(base, axis=0))]
    parts = [f"{n} ERGAS {m['ergas']:.3g}" + (f" SAM {m['sam_deg']:.3g}°" if "sam_deg" in m else "")
             for n, m in row["methods"].items() if "ergas" in m]
    say(f"{row['case']}: " + "; ".join(parts))
    return row


def run_record(data: str | Path, work: str | Path, command: str, bandbridge: bool = True,
               say: Callable[[str], None] = print) -> dict:
    """Every case (those under ``CASE_MIN_CELLS`` reference cells listed as skipped) by every method."""
    work = Path(work)
    ours, what = bandbridge_sharpener(work) if bandbridge else (None, "not asked (--no-bandbridge)")
    say(f"bandbridge: {what}")
    rows, skipped = [], []
    for case in all_cases(data):
        if case.cells < CASE_MIN_CELLS:
            skipped.append({"case": case.name, "why": f"{case.cells} reference cells, under {CASE_MIN_CELLS}"})
            continue
        methods = dict(PANSHARPENING if case.kind == "pansharpening" else BASELINES)
        if ours is not None:
            methods["bandbridge"] = ours
        rows.append(run_case(case, methods, say))
    return {"command": command, "bandbridge": what, "code": code_state(), "machine": platform.machine(),
            "protocol": "Wald: every band degraded by the ratio (block means), the product's bands the truth; "
                        "see src/bandbridge/evaluation/sharpen_cases.py",
            "metrics": "per band RMSE and MAE in the case's units; ERGAS = 100/ratio·sqrt(mean_k RMSE_k²/μ_k²); "
                       "SAM: mean per-pixel spectral angle in degrees; seconds: CPU time of this process (threads counted, "
                       "subprocesses not); bandbridge's routes and why per band, as its result states them",
            "cases": rows, "skipped": skipped}


def code_state() -> dict:
    """The commit the record ran on and the sharpener's files that differed from it (a record
    of uncommitted code says so)."""
    import subprocess
    root = Path(__file__).resolve().parents[3]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "src/bandbridge").splitlines() if "sharpen" in ln]
    return {"commit": git("rev-parse", "HEAD"), "sharpen_files_uncommitted": dirty}


def save(record: dict, path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode())
    return path


def table(record: dict) -> str:
    """Markdown: per case and target band, each method's RMSE (× the better cubic's: GDAL's cubic convolution
    or the cubic B-spline), then ERGAS and SAM."""
    out = []
    for row in record["cases"]:
        names = [n for n, m in row["methods"].items() if "rmse" in m]
        out += [f"\n{row['case']} ({row['units']}, {row['reference_cells']} reference cells)",
                "| band | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for k, band in enumerate(row["targets"]):
            cells = [f"{row['methods'][n]['rmse'][k]:.4g} ({row['methods'][n]['rmse_vs_best_cubic'][k]:.2f})" for n in names]
            out.append(f"| {band} | " + " | ".join(cells) + " |")
        out.append("| ERGAS | " + " | ".join(f"{row['methods'][n]['ergas']:.3g}" for n in names) + " |")
        if all("sam_deg" in row["methods"][n] for n in names):
            out.append("| SAM ° | " + " | ".join(f"{row['methods'][n]['sam_deg']:.3g}" for n in names) + " |")
    return "\n".join(out)
