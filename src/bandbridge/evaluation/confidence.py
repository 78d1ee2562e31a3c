"""Fit and measure the expected-error model of ``predict --confidence``
(inference/core/confidence.py) on held-out pairs.

Fitted on a run's validation groups — images training never saw — so that the error it learns is
the error on unseen images, not the training fit's. Measured by how it ranks real errors
(Spearman ρ between expected and real absolute error per pixel) and by how much of the real
error the pixels it flags as the worst 10 % carry (10 % would be no better than chance).
"""

from __future__ import annotations

import numpy as np

from bandbridge.data.datasets import LoadedPair
from bandbridge.inference.core.confidence import FEATURES, calibrated, error_features

PIXELS = 200_000
KNOTS = 20


def predict_pairs(bundle, pairs: list[LoadedPair]):
    """``(x, ŷ, y, mask, linear)`` numpy per pair: the bundle's output on the whole image, as
    evaluate runs it."""
    from bandbridge.evaluation.evaluate import predict_whole
    from bandbridge.spec import apply_linear
    bundle.generator.eval()
    for p in pairs:
        yhat = predict_whole(bundle, p).numpy()
        x = p.x.numpy()
        lin = apply_linear(bundle.info.get("baseline"), x)
        yield x, yhat, p.y.numpy(), p.mask[0].numpy().astype(bool), lin


def sample(pairs_out, pixels: int = PIXELS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(N, F)`` and real absolute errors ``(N,)`` of up to ``pixels`` valid pixels,
    the same number from each image."""
    rng = np.random.default_rng(seed)
    pairs_out = list(pairs_out)
    per = max(1, pixels // max(len(pairs_out), 1))
    F, E = [], []
    for x, yhat, y, m, lin in pairs_out:
        f = error_features(x, yhat, lin)[:, m].T
        e = np.abs(yhat - y).mean(0)[m]
        k = rng.choice(len(e), min(per, len(e)), replace=False) if len(e) else []
        F.append(f[k])
        E.append(e[k])
    return np.concatenate(F), np.concatenate(E)


def fit_error_model(F: np.ndarray, E: np.ndarray, knots: int = KNOTS, ridge: float = 1e-6) -> dict:
    """Least squares of ``E`` on ``F``, then the score's ``knots`` quantile bins mapped to their
    mean real error, made increasing (a higher score never promises a smaller error)."""
    A = F.astype(np.float64)
    coef = np.linalg.solve(A.T @ A + ridge * len(A) * np.eye(A.shape[1]), A.T @ E.astype(np.float64))
    s = A @ coef
    edges = np.quantile(s, np.linspace(0, 1, knots + 1))
    idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, knots - 1)
    centres, values = [], []
    for b in range(knots):
        sel = idx == b
        if sel.any():
            centres.append(float(np.median(s[sel])))
            values.append(float(E[sel].mean()))
    # non-decreasing, then strictly increasing by a hair: the map keeps the score's ranking
    # (flat stretches would tie pixels the score tells apart)
    values = np.maximum.accumulate(np.asarray(values))
    values = values + 1e-6 * max(float(values.max()), 1e-6) * np.arange(len(values))
    centres = np.maximum.accumulate(np.asarray(centres))  # ties of a discrete score: keep order
    return {"features": list(FEATURES), "coef": [float(c) for c in coef],
            "knots": [float(c) for c in centres], "values": [float(v) for v in values]}


def rank(a: np.ndarray) -> np.ndarray:
    """Ranks with ties given their mean rank (Spearman's convention)."""
    order = np.argsort(a, kind="mergesort")
    r = np.empty(len(a), np.float64)
    r[order] = np.arange(len(a), dtype=np.float64)
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=r)
    return (sums / counts)[inv]


def calibration(expected: np.ndarray, real: np.ndarray, top: float = 0.10) -> dict[str, float]:
    """Spearman ρ between expected and real absolute error, and the share of the total real
    error carried by the ``top`` fraction of pixels with the highest expected error."""
    re, rr = rank(expected), rank(real)
    rho = float(np.corrcoef(re, rr)[0, 1]) if re.std() > 0 and rr.std() > 0 else float("nan")
    k = max(1, int(round(top * len(real))))
    worst = np.argsort(-expected, kind="mergesort")[:k]
    share = float(real[worst].sum() / max(real.sum(), 1e-12))
    return {"spearman": rho, "top10_share": share, "pixels": int(len(real)),
            "mean_expected": float(expected.mean()), "mean_real": float(real.mean())}


def fit_confidence(bundle, val: list[LoadedPair]) -> dict:
    """The error model of ``bundle`` fitted on ``val`` (held-out groups), with its calibration
    on those pixels and where it was fitted."""
    F, E = sample(predict_pairs(bundle, val))
    conf = fit_error_model(F, E)
    expected = calibrated(F.T, conf)
    conf["fitted_on"] = (f"validation split of {sorted({p.source.name for p in val})} "
                         f"({len(val)} images, {len(E)} pixels)")
    conf["validation"] = calibration(expected, E)
    return conf
