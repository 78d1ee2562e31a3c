"""``linear``: least squares on the bands, ``y = W·x + b`` per pixel — the map every model here
is measured against. Its torch form, a 1×1 convolution on the features, serves the constant and
the ridge too."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from bandbridge.learners.base import Learner, LearnerModule


class AffineModule(LearnerModule):
    """``W·φ(x) + b``: a 1×1 convolution (``head``) on the features."""

    kind = "linear"

    def __init__(self, in_channels: int, out_channels: int, windows=(), products: bool = False):
        super().__init__(in_channels, out_channels, windows, products)
        self.head = nn.Conv2d(self.features.out_channels, out_channels, 1)
        self.requires_grad_(False)  # fitted in closed form, never by a GAN step

    def on_features(self, f: Tensor) -> Tensor:
        return self.head(f)

    def raw(self, x: Tensor) -> Tensor:
        """``W·φ(x) + b`` with ``φ`` never held whole where it has windows or products
        (``ContextFeatures.weighted``)."""
        f = self.features
        if not (f.windows or f.products):
            return super().raw(x)  # the bands alone: φ is x itself
        return f(x.to(self.feature_dtype()), (self.head.weight[:, :, 0, 0], self.head.bias))  # in the head's dtype


class Affine(Learner):
    """A learner whose fit is ``coef_ (F' + 1, Ct)``: weights on its columns, then the bias."""

    module_class = AffineModule

    def predict(self, X: np.ndarray, bands: int) -> np.ndarray:
        A = self.columns(X, bands)
        return np.clip(A @ self.coef_[:-1] + self.coef_[-1], 0.0, 1.0)

    def load(self, m: AffineModule) -> None:
        w = torch.from_numpy(self.coef_).float()
        m.head.weight.copy_(w[:-1].T[:, :, None, None])
        m.head.bias.copy_(w[-1])


class BandsAffine(Affine):
    """An affine map of the bands alone (no context), named by its kind: the linear map, the
    constant, least absolute deviations."""

    def __init__(self):
        super().__init__(context=False)

    @property
    def name(self) -> str:
        return self.kind


class Linear(BandsAffine):
    kind = "linear"

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "Linear":
        self.coef_ = least_squares(X[:, :bands], Y)
        return self


def least_squares(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``(F + 1, Ct)`` minimising ``‖[X 1]·W − Y‖²`` in float64: weights, then the bias."""
    A = np.c_[X.astype(np.float64), np.ones(len(X))]
    return np.linalg.lstsq(A, Y.astype(np.float64), rcond=None)[0]
