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
from bandbridge.models.anchor import normalize_bands


SAMPLE_PIXELS = 200_000  # pixels every per-pixel baseline (and an anchor) is fitted on


def sample_pixels(pairs: list[LoadedPair], n: int = SAMPLE_PIXELS, seed: int = 0,
                  input_norm: str = "none"):
    """Up to ``n`` valid (input, target) pixel pairs, ``X (N, Ci)``, ``Y (N, Ct)`` float32, each
    source contributing in proportion to its weight (not to its pixel count: one large scene must
    not decide the fit). ``input_norm`` normalises each image's input with its own statistics,
    as the generator does (models/anchor.py)."""
    g = torch.Generator().manual_seed(seed)
    by_source: dict[str, list[LoadedPair]] = {}
    for p in pairs:
        by_source.setdefault(p.source.name or str(id(p.source)), []).append(p)
    total_w = sum(ps[0].source.weight for ps in by_source.values())
    xs, ys = [], []
    for ps in by_source.values():
        sx, sy = [], []
        for p in ps:
            m = p.mask[0]
            x = p.x
            if input_norm != "none":
                c = x.shape[0]
                x = normalize_bands(x[None], p.stats[None, :c], p.stats[None, c:], input_norm)[0]
            sx.append(x[:, m].T)
            sy.append(p.y[:, m].T)
        X, Y = torch.cat(sx), torch.cat(sy)
        quota = max(1, round(n * ps[0].source.weight / total_w))
        if len(X) > quota:
            idx = torch.randperm(len(X), generator=g)[:quota]
            X, Y = X[idx], Y[idx]
        xs.append(X)
        ys.append(Y)
    return torch.cat(xs).float(), torch.cat(ys).float()


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


class MeanBaseline:
    """The training targets' mean value per band, everywhere: a model that cannot beat it has
    learnt nothing about the input."""

    name = "mean"

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> "MeanBaseline":
        self.mean = Y.double().mean(0).float()  # (Ct,)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean[:, None, None].expand(-1, *x.shape[1:]).clone()


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
    """Bicubic or nearest upsampling of the low-resolution input by ``scale``. Bicubic is
    MATLAB's ``imresize`` (a = −0.5), the baseline the super-resolution papers quote."""

    def __init__(self, mode: str, scale: int):
        self.name, self.mode, self.scale = mode, mode, scale

    def fit(self, X=None, Y=None) -> "Upsample":
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "bicubic":
            from bicubic_pytorch import imresize
            h, w = x.shape[-2:]
            return imresize(x.float(), sizes=(h * self.scale, w * self.scale)).clamp(0, 1)
        return F.interpolate(x[None].float(), scale_factor=self.scale, mode=self.mode)[0]


@torch.no_grad()
def init_anchor(generator: nn.Module, pairs: list[LoadedPair]) -> LinearBaseline | None:
    """Set an anchored generator's spectral map (``generator.spectral``, a 1×1 convolution) to
    the linear baseline's closed-form fit on ``pairs`` (the same pixels, the same fit): the
    untrained model then *is* that baseline. Returns the fit (or None for generators without an
    anchor)."""
    conv = getattr(generator, "spectral", None)
    if conv is None:
        return None
    X, Y = sample_pixels(pairs)
    lin = LinearBaseline().fit(X, Y)
    coef = torch.from_numpy(lin.coef).float()  # (Ci + 1, Ct)
    conv.weight.copy_(coef[:-1].T[:, :, None, None])
    conv.bias.copy_(coef[-1])
    return lin


def fit_baselines(task: str, scale: int, train_pairs: list[LoadedPair]) -> list:
    """The baselines for a task, fitted on ``train_pairs`` (per-pixel) or parameter-free (SR)."""
    if task == "super_resolution":
        return [Upsample("bicubic", scale), Upsample("nearest", scale)]
    X, Y = sample_pixels(train_pairs)
    return [LinearBaseline().fit(X, Y), MLPBaseline().fit(X, Y), MeanBaseline().fit(X, Y)]
