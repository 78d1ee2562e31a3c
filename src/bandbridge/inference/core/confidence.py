"""Where not to trust the output: a per-pixel expected absolute error (``predict --confidence``).

A model's error model (``model.yaml: confidence``, fitted by evaluation/confidence.py on its
held-out validation groups) is a least-squares map from per-pixel features to the absolute error,
then a monotone calibration of that score to the mean absolute error of validation pixels with
that score. The features are what prediction has anyway: the output, how far it departs from the
bundle's linear map, and how busy the output and the input are around the pixel (edges, thin
structures and misregistration carry most of a translation's error).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bandbridge.errors import BandbridgeError
from bandbridge.inference.core.writer import physical_note
from bandbridge.policy import FLAT_ERROR
from bandbridge.spec import ModelSpec

FEATURES = ("1", "output", "output^2", "|output - linear map|", "output local std (5 px)",
            "input local std (5 px)", "input mean")
WINDOW = 5


def box_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over ``k × k`` windows centred on each pixel of ``a (H, W)``, edges replicated —
    ``models.features.box_means`` in numpy (summed-area table), so the error map needs no torch
    (``--backend onnx --confidence`` stays torch-free)."""
    p = k // 2
    c = np.cumsum(np.cumsum(np.pad(a.astype(np.float64), p, mode="edge"), 0), 1)
    c = np.pad(c, ((1, 0), (1, 0)))
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def local_std(a: np.ndarray, k: int = WINDOW) -> np.ndarray:
    """Standard deviation over ``k × k`` windows (edges replicated) of ``a (H, W)``."""
    mu, mu2 = box_mean(a, k), box_mean(np.square(a, dtype=np.float64), k)
    return np.sqrt(np.clip(mu2 - mu * mu, 0, None)).astype(np.float32)


def error_features(x: np.ndarray, y: np.ndarray, linear: np.ndarray | None) -> np.ndarray:
    """``(F, H, W)`` features of each output pixel (model values): ``x (Ci, H, W)`` the input,
    ``y (Co, H, W)`` the output, ``linear`` the bundle's linear map on ``x`` (or None)."""
    ym, xm = y.mean(0), x.mean(0)
    dis = np.abs(y - linear).mean(0) if linear is not None and linear.shape == y.shape \
        else np.zeros_like(ym)
    return np.stack([np.ones_like(ym), ym, ym * ym, dis, local_std(ym), local_std(xm), xm]
                    ).astype(np.float32)


def calibrated(features: np.ndarray, conf: dict) -> np.ndarray:
    """Expected absolute error (model values) of features ``(F, …)``: the score through the
    calibration's knots (piecewise linear, monotone, flat past the ends); shape ``(…)``."""
    score = np.tensordot(np.asarray(conf["coef"], np.float32), features, 1)  # coef · features per pixel
    return np.interp(score, conf["knots"], conf["values"])


def check_block(conf: dict, folder) -> None:
    """Refuse a malformed error model (edited ``model.yaml``) in one line naming the bundle:
    ``coef`` one finite number per feature, ``knots`` and ``values`` finite, of one length (≥ 2),
    knots increasing, values not negative."""
    def numbers(key: str) -> np.ndarray | None:
        v = conf.get(key) if isinstance(conf, dict) else None
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        return a if a.ndim == 1 and np.isfinite(a).all() else None
    coef, knots, values = numbers("coef"), numbers("knots"), numbers("values")
    why = ("'coef' must be one finite number per feature" if coef is None or len(coef) != len(FEATURES)
           else "'knots' and 'values' must be finite lists of one length (at least 2)"
           if knots is None or values is None or len(knots) != len(values) or len(knots) < 2
           else "'knots' must increase" if (np.diff(knots) < 0).any()
           else "'values' (expected errors) must not be negative" if (values < 0).any() else None)
    if why:
        raise BandbridgeError(f"{folder}/model.yaml: its confidence block is malformed ({why}); "
                              "re-fit it with `python scripts/confidence_table.py --add MODEL` or "
                              "drop --confidence")


@dataclass
class ErrorRaster:
    """``predict --confidence``'s raster: expected |error| per pixel in the output's stored units."""

    spec: ModelSpec
    factor: float  # model values → the output file's values (255 for uint8, 10000 for uint16)
    description: str
    fitted: str

    moments: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # n, Σe, Σe² of valid pixels

    def __call__(self, x: np.ndarray, pred: np.ndarray) -> np.ndarray:
        features = error_features(x, pred, self.spec.linear_baseline(x))
        return calibrated(features, self.spec.confidence).astype(np.float32) * self.factor

    def count(self, err: np.ndarray, valid: np.ndarray) -> None:
        """Add a written strip's valid pixels to the map's running mean and spread."""
        e = err.reshape(-1)[valid.reshape(-1)].astype(np.float64)
        self.moments = [self.moments[0] + e.size, self.moments[1] + e.sum(), self.moments[2] + (e * e).sum()]

    def flat_note(self, units: str) -> str | None:
        """A note when the written map carries no per-pixel information: its standard deviation
        below ``FLAT_ERROR`` of its mean (a photo far from the training data: every pixel gets
        about the same expected error), else None."""
        n, s1, s2 = self.moments
        if n < 2:
            return None
        mean = s1 / n
        sd = float(np.sqrt(max(s2 / n - mean * mean, 0.0)))
        if mean <= 0 or sd >= FLAT_ERROR * mean:
            return None
        return (f"{FLAT_NOTE} ({mean:.2f} ± {sd:.2f} {units}, a spread under "
                f"{FLAT_ERROR:.0%} of its mean): it says nothing pixel by pixel on this image, only "
                f"that about {mean:.2f} {units} is expected everywhere")


FLAT_NOTE = "the error map is flat"


def error_plan(spec: ModelSpec, dtype: str) -> ErrorRaster:
    """The error raster's writer, or a one-line refusal for a model without an error model."""
    if not spec.confidence:
        raise BandbridgeError(f"--confidence: {spec.name} carries no expected-error model (models "
                              "bundled or trained since issue 21 do); fit one with `python "
                              "scripts/confidence_table.py --add MODEL`, or drop --confidence")
    if spec.scale > 1:
        raise BandbridgeError("--confidence is for translation models, not super-resolution")
    check_block(spec.confidence, spec.folder)
    factor = {"uint8": 255.0, "uint16": 10000.0}.get(dtype, 1.0)
    what = ", ".join(f"synthetic_{n}" for n in spec.target_names)
    v = spec.confidence.get("validation") or {}
    there = (f" (there: Spearman ρ {v['spearman']:.2f}, worst 10 % carry {v['top10_share']:.0%} "
             "of the error)") if "spearman" in v else ""
    return ErrorRaster(spec, factor, f"expected absolute error of {what} "
                       f"({physical_note(spec.target, dtype, difference=True)})",
                       f"expected |error| from the model's error model fitted on "
                       f"{spec.confidence.get('fitted_on', 'its validation split')}"
                       f"{there}; not validated on imagery unlike the "
                       "training data (README: Where not to trust the output)")
