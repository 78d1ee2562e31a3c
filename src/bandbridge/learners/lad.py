"""``lad``: least absolute deviations on the bands, ``y = W·x + b`` minimising the mean absolute
error (the metric every table here reports) rather than the squared error — less pulled by the
few pixels a linear map cannot explain (clouds, water, saturated roofs). Fitted by iteratively
reweighted least squares; its torch form is the linear map's 1×1 convolution. Not among the
selection core's default candidates (it tries it only when asked): a floor without pairs chooses
among maps of this kind (issue 49)."""

from __future__ import annotations

import numpy as np

from bandbridge.learners.floor import weighted_lad
from bandbridge.learners.linear import BandsAffine

ITERATIONS = 60  # IRLS steps


class LAD(BandsAffine):
    kind = "lad"

    def __init__(self, iterations: int = ITERATIONS):
        super().__init__()
        self.iterations = iterations

    @classmethod
    def candidates(cls) -> list["LAD"]:
        return []

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "LAD":
        A = np.c_[X[:, :bands].astype(np.float64), np.ones(len(X))]  # (F + 1, Ct) minimising mean |[X 1]·W − Y|
        self.coef_ = weighted_lad(A, Y.astype(np.float64), np.ones(len(X)), steps=self.iterations)
        return self
