"""``ridge``: ridge regression on all of ``φ``, features standardised, mean squared error plus
``λ·‖w‖²`` (so a penalty means the same for 1 000 pixels or 1 000 000), the bias unpenalised."""

from __future__ import annotations

import numpy as np

from bandbridge.learners.linear import Affine

PENALTIES = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # the selection core's λ


class Ridge(Affine):
    kind = "ridge"

    def __init__(self, lam: float = 1e-3, context: bool = True, **features):
        super().__init__(context, **features)
        self.lam = float(lam)

    @classmethod
    def candidates(cls) -> list["Ridge"]:
        return [cls(lam) for lam in PENALTIES]

    @property
    def name(self) -> str:
        return f"ridge-{'context' if self.context else 'bands'} λ={self.lam:g}"

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "Ridge":
        self.coef_ = ridge(self.columns(X, bands), Y, self.lam)
        return self


def ridge(X: np.ndarray, Y: np.ndarray, lam: float) -> np.ndarray:
    """``(F + 1, Ct)`` minimising ``mean‖[X 1]·W − Y‖² + λ‖D·w‖²`` with ``D`` standardising the
    features (one ``λ`` suits all scales and pixel counts), the bias unpenalised; returned for
    the raw features. ``λ = 0`` is plain least squares."""
    X = X.astype(np.float64)
    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    Z = (X - mu) / sd
    A = np.c_[Z, np.ones(len(X))]
    G = A.T @ A / len(X) + lam * np.diag(np.r_[np.ones(X.shape[1]), 0.0])
    W = np.linalg.lstsq(G, A.T @ Y.astype(np.float64) / len(X), rcond=None)[0]
    w = W[:-1] / sd[:, None]
    return np.r_[w, W[-1:] - mu @ w]
