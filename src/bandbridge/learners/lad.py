"""``lad``: least absolute deviations on the bands, ``y = W·x + b`` minimising the mean absolute
error (the metric every table here reports) rather than the squared error — less pulled by the
few pixels a linear map cannot explain (clouds, water, saturated roofs). Fitted by iteratively
reweighted least squares; its torch form is the linear map's 1×1 convolution. Not among the
selection core's default candidates (it tries it only when asked): a floor without pairs chooses
among maps of this kind (issue 49)."""

from __future__ import annotations

import numpy as np

from bandbridge.learners.linear import BandsAffine, least_squares

ITERATIONS, EPS = 60, 1e-6  # IRLS steps; the smallest residual a weight divides by (model values)


class LAD(BandsAffine):
    kind = "lad"

    def __init__(self, iterations: int = ITERATIONS):
        super().__init__()
        self.iterations = iterations

    @classmethod
    def candidates(cls) -> list["LAD"]:
        return []

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "LAD":
        self.coef_ = least_absolute(X[:, :bands], Y, self.iterations)
        return self


def least_absolute(X: np.ndarray, Y: np.ndarray, iterations: int = ITERATIONS) -> np.ndarray:
    """``(F + 1, Ct)`` minimising ``mean |[X 1]·W − Y|`` per target band, by iteratively
    reweighted least squares (weights ``1 / max(|r|, EPS)``), from the least-squares fit."""
    A = np.c_[X.astype(np.float64), np.ones(len(X))]
    Y = Y.astype(np.float64)
    W = least_squares(X, Y)
    for k in range(Y.shape[1]):
        w = W[:, k]
        for _ in range(iterations):
            s = 1.0 / np.maximum(np.abs(A @ w - Y[:, k]), EPS)
            w = np.linalg.lstsq(A * s[:, None] ** 0.5, Y[:, k] * s ** 0.5, rcond=None)[0]
        W[:, k] = w
    return W
