"""The precision gate: a faster precision or backend is used only if users would not see it.

Each bundle carries a check sample (``check.safetensors``): one real tile of its validation data,
the target beside it, and the fp32 task metrics on it. A candidate (say OpenVINO, or torch bf16)
is accepted when, on that tile, against torch fp32 on the same machine,

- the task metric — MAE in model units, and NDVI MAE for a NIR model — changes by less than
  ``policy.GATE_REL_TOL`` relative, and
- the mean |Δ| of its output is below half the output's quantisation step (1/255 for 8-bit
  outputs, 1e-4 for reflectance × 10000 and float outputs): on average the stored answer does
  not change.

A single pixel moving by a few DN does not refuse a precision; a shift of the map does. The
sample is cut and measured when a run ends or a model is bundled (``evaluation/check_sample.py``);
here it is only read and judged, with numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bandbridge.bands import INDICES, find_role, is_single_nir
from bandbridge.config import BandSel
from bandbridge.errors import BandbridgeError
from bandbridge.policy import GATE_REL_TOL, percent

CHECK_FILE = "check.safetensors"


@dataclass
class CheckSample:
    x: np.ndarray  # (1, Ci, h, w) model values
    y: np.ndarray  # (Co, h·s, w·s) target, model values
    mask: np.ndarray  # (h·s, w·s) bool, valid pixels
    context: np.ndarray | None  # (1, K) the tile's context row, for generators that take one
    meta: dict  # where it comes from, and its fp32 metrics on the machine that made it


@dataclass
class Verdict:
    ok: bool
    why: str  # one line: the figures behind the decision
    metrics: dict  # the candidate's task metrics on the check sample
    mean_abs_diff: float  # mean |Δ| from fp32 over valid pixels, model units


def quant_step(target: BandSel) -> float:
    """The output's quantisation step in model units: 1/255 for 8-bit targets, else 1e-4
    (reflectance × 10000, and float outputs, read at that resolution)."""
    return 1 / 255 if target.scaling == "uint8" else 1e-4


def task_metrics(pred: np.ndarray, sample: CheckSample, input_names: list[str],
                 target_names: list[str]) -> dict[str, float]:
    """MAE (model units) over valid pixels, and NDVI MAE for a single-NIR output with a red
    input; ``pred`` is ``(Co, H, W)``."""
    m = sample.mask
    p = np.clip(pred, 0.0, 1.0)
    out = {"mae": float(np.abs(p[:, m] - sample.y[:, m]).mean())}
    red = find_role(input_names, "red")
    if is_single_nir(target_names) and red is not None and sample.x.shape[-1] == p.shape[-1]:
        ndvi = INDICES["ndvi"][0]
        r = sample.x[0, red]
        out["ndvi_mae"] = float(np.abs(ndvi(r, p[0]) - ndvi(r, sample.y[0]))[m].mean())
    return out


def judge(ref: np.ndarray, cand: np.ndarray, sample: CheckSample, spec) -> Verdict:
    """Accept or refuse ``cand`` (a candidate's output on the check sample) against ``ref``
    (torch fp32's), both ``(Co, H, W)``."""
    step = quant_step(spec.target)
    r_metrics = task_metrics(ref, sample, spec.input_names, spec.target_names)
    c_metrics = task_metrics(cand, sample, spec.input_names, spec.target_names)
    diff = float(np.abs(np.clip(cand, 0, 1) - np.clip(ref, 0, 1))[:, sample.mask].mean())
    worst, reasons = 0.0, []
    for k, v in r_metrics.items():
        rel = abs(c_metrics[k] - v) / max(abs(v), 1e-12)
        worst = max(worst, rel)
        if rel >= GATE_REL_TOL:
            reasons.append(f"{k} {c_metrics[k]:.5f} vs fp32 {v:.5f} ({rel:.1%} ≥ {percent(GATE_REL_TOL)})")
    if diff >= step / 2:
        reasons.append(f"mean |Δ| {diff:.2e} ≥ half the output step ({step / 2:.1e})")
    figures = ", ".join(f"{k} {c_metrics[k]:.5f}" for k in c_metrics)
    why = "; ".join(reasons) if reasons else \
        f"{figures}: within {worst:.2%} of fp32, mean |Δ| {diff:.1e} < {step / 2:.1e}"
    return Verdict(not reasons, why, c_metrics, diff)


def load_check_sample(folder: Path) -> CheckSample | None:
    """The bundle's check sample, or None if it has none (older bundles, ONNX exports of them)."""
    from safetensors.numpy import safe_open
    path = Path(folder) / CHECK_FILE
    if not path.exists():
        return None
    try:
        with safe_open(str(path), "numpy") as f:
            meta = json.loads((f.metadata() or {}).get("bandbridge_check", "{}"))
            t = {k: f.get_tensor(k) for k in f.keys()}
        sample = CheckSample(t["input"].astype(np.float32), t["target"].astype(np.float32),
                             t["mask"].astype(bool),
                             t["context"].astype(np.float32) if "context" in t else None, meta)
        ok = sample.x.ndim == 4 and sample.y.ndim == 3 and sample.mask.shape == sample.y.shape[1:] \
            and isinstance(meta, dict)
    except Exception as e:  # noqa: BLE001 - safetensors/json raise their own types for damaged files
        why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise BandbridgeError(f"{path}: damaged check sample ({why}); reinstall or re-bundle the "
                              f"model, or delete {CHECK_FILE} to run it without the precision gate") from None
    if not ok:
        raise BandbridgeError(f"{path}: the check sample's tensors have the wrong shapes; reinstall or "
                              f"re-bundle the model, or delete {CHECK_FILE}")
    return sample


VERIFY_TOL = {"fp32": 0.02, "bf16": 0.05, "int8": 0.05}  # relative, on the recorded fp32 metrics


def verify(spec, backend) -> None:
    """Refuse a model whose check sample no longer gives the metrics recorded in the bundle
    (damaged or altered weights or graph): run once per model, backend, precision and machine,
    then remembered in the cache. Bundles without a check sample pass unchecked."""
    from bandbridge.inference.runtime.cache import read_json, record_path, write_json
    sample = load_check_sample(spec.folder)
    want = (sample.meta.get("fp32") if sample is not None else None) or {}
    if not want:
        return
    path = record_path("verified", spec.folder, None, backend.name, backend.precision)
    if read_json(path) is not None:
        return
    out = backend(sample.x, sample.context)[0]
    tol = VERIFY_TOL.get(backend.precision, 0.05)
    got = task_metrics(out, sample, spec.input_names, spec.target_names) if np.isfinite(out).all() \
        else {k: float("nan") for k in want}
    off = [f"{k} {got.get(k, float('nan')):.5f} vs {v:.5f} recorded" for k, v in want.items()
           if not abs(got.get(k, float("nan")) - v) <= tol * max(abs(v), 1e-6)]
    if off and backend.precision != "fp32":  # the kind's arithmetic, not the file: a refusal
        raise BandbridgeError(f"{spec.name}: {backend.name} {backend.precision} moves its check "
                              f"sample's {'; '.join(off)} (more than {tol:.0%}): {spec.holds} "
                              f"cannot take {backend.precision}; use --precision fp32")
    if off:
        raise BandbridgeError(f"{spec.folder}: the model fails its own check sample with "
                              f"{backend.name} {backend.precision} ({'; '.join(off)}): its weights "
                              "or graph are damaged or altered; reinstall or re-bundle the model")
    write_json(path, {"model": spec.name, "backend": backend.name, "precision": backend.precision,
                      "metrics": got, "recorded": want})

