"""Baselines every report is compared with, fitted on the training split.

Per-pixel models map the input bands of one pixel to the target bands of the same pixel:
what a GAN must beat to justify itself. Super-resolution baselines are plain interpolation.
Arrays are model values: inputs ``(Ci, H, W)``, outputs ``(Ct, H, W)`` in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bandbridge.data.datasets import LoadedPair


def sample_pixels(pairs: list[LoadedPair], n: int = 200_000, seed: int = 0):
    """Up to ``n`` valid (input, target) pixel pairs drawn uniformly from ``pairs``:
    ``X (N, Ci)``, ``Y (N, Ct)`` float32."""
    xs, ys = [], []
    for p in pairs:
        m = p.mask[0]
        xs.append(p.x[:, m].T)
        ys.append(p.y[:, m].T)
    X, Y = torch.cat(xs), torch.cat(ys)
    if len(X) > n:
        idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:n]
        X, Y = X[idx], Y[idx]
    return X.float(), Y.float()


class LinearBaseline:
    """Least squares ``y = W·x + b`` per pixel."""

    name = "linear"

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> "LinearBaseline":
        A = np.c_[X.double().numpy(), np.ones(len(X))]
        self.coef = np.linalg.lstsq(A, Y.double().numpy(), rcond=None)[0]  # (Ci + 1, Ct)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = x.shape
        A = np.c_[x.reshape(c, -1).T.double().numpy(), np.ones(h * w)]
        return torch.from_numpy((A @ self.coef).T.reshape(-1, h, w)).float().clamp(0, 1)


class MLPBaseline:
    """A two-hidden-layer per-pixel MLP (64 units), Adam, fixed seed."""

    name = "mlp"

    def __init__(self, hidden: int = 64, steps: int = 600, batch: int = 4096, seed: int = 0):
        self.hidden, self.steps, self.batch, self.seed = hidden, steps, batch, seed

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> "MLPBaseline":
        g = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.net = nn.Sequential(nn.Linear(X.shape[1], self.hidden), nn.ReLU(),
                                 nn.Linear(self.hidden, self.hidden), nn.ReLU(),
                                 nn.Linear(self.hidden, Y.shape[1]), nn.Sigmoid())
        opt = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.steps)
        for _ in range(self.steps):
            i = torch.randint(0, len(X), (min(self.batch, len(X)),), generator=g)
            loss = F.l1_loss(self.net(X[i]), Y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        self.net.eval()
        return self

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = x.shape
        return self.net(x.reshape(c, -1).T.float()).T.reshape(-1, h, w)


class Upsample:
    """Bicubic or nearest upsampling of the low-resolution input by ``scale``."""

    def __init__(self, mode: str, scale: int):
        self.name, self.mode, self.scale = mode, mode, scale

    def fit(self, X=None, Y=None) -> "Upsample":
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        kw = {"align_corners": False} if self.mode == "bicubic" else {}
        return F.interpolate(x[None].float(), scale_factor=self.scale, mode=self.mode, **kw)[0].clamp(0, 1)


def fit_baselines(task: str, scale: int, train_pairs: list[LoadedPair]) -> list:
    """The baselines for a task, fitted on ``train_pairs`` (per-pixel) or parameter-free (SR)."""
    if task == "super_resolution":
        return [Upsample("bicubic", scale), Upsample("nearest", scale)]
    X, Y = sample_pixels(train_pairs)
    return [LinearBaseline().fit(X, Y), MLPBaseline().fit(X, Y)]
