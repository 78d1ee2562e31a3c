"""``mlp``: two hidden ReLU layers on standardised ``φ``, L1 loss (the metric is MAE), Adam with
a cosine schedule, a fixed seed; its torch form is the same layers as 1×1 convolutions.
Evaluation's per-pixel MLP baseline is a configuration of it (64 units on the bands as read, a
sigmoid output, learners/baselines.py)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from pydantic import Field

from bandbridge.learners.base import Learner, LearnerArgs, LearnerModule

HIDDEN, STEPS, BATCH = 32, 1000, 2048


class MLPArgs(LearnerArgs):
    hidden: int = Field(HIDDEN, ge=1, le=1024)
    sigmoid: bool = False


class MLPModule(LearnerModule):
    def __init__(self, in_channels: int, out_channels: int, windows=(), products: bool = False,
                 hidden: int = HIDDEN, sigmoid: bool = False):
        super().__init__(in_channels, out_channels, windows, products)
        f = self.features.out_channels
        self.register_buffer("mu", torch.zeros(f))
        self.register_buffer("sd", torch.ones(f))
        self.head = nn.Sequential(nn.Conv2d(f, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, out_channels, 1), *([nn.Sigmoid()] if sigmoid else []))
        self.requires_grad_(False)

    def on_features(self, f: Tensor) -> Tensor:
        return self.head((f - self.mu[:, None, None]) / self.sd[:, None, None])


class MLP(Learner):
    kind = "mlp"
    head_cost = 2
    module_class = MLPModule
    args_type = MLPArgs

    def __init__(self, context: bool = True, hidden: int = HIDDEN, steps: int = STEPS,
                 batch: int = BATCH, seed: int = 0, standardise: bool = True,
                 sigmoid: bool = False, start_at_mean: bool = True):
        super().__init__(context)
        self.hidden, self.steps, self.batch, self.seed = hidden, steps, batch, seed
        # standardised features, a linear output clipped to [0, 1], started at the targets' mean;
        # the evaluation baseline: the bands as read, a sigmoid output, a random start
        self.standardise, self.sigmoid, self.start_at_mean = standardise, sigmoid, start_at_mean

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "MLP":
        # seeded apart from the caller's random state: a training run's network starts the same
        # whichever candidates the selection tried before it
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            g = torch.Generator().manual_seed(self.seed)
            Xt, Yt = (torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in (self.columns(X, bands), Y))
            f, h = Xt.shape[1], self.hidden
            mu, sd = (Xt.mean(0), Xt.std(0).clamp_min(1e-6)) if self.standardise else (torch.zeros(f), torch.ones(f))
            Zt = (Xt - mu) / sd
            net = nn.Sequential(nn.Linear(f, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, Y.shape[1]),
                                *([nn.Sigmoid()] if self.sigmoid else []))
            if self.start_at_mean:
                with torch.no_grad():
                    net[4].weight.mul_(0.1)
                    net[4].bias.copy_(Yt.mean(0))
            opt = torch.optim.Adam(net.parameters(), lr=3e-3)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.steps)
            for _ in range(self.steps):
                i = torch.randint(0, len(Zt), (min(self.batch, len(Zt)),), generator=g)
                loss = (net(Zt[i]) - Yt[i]).abs().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        self.net_, self.mu_, self.sd_ = net.eval().requires_grad_(False), mu, sd
        return self

    def predict(self, X: np.ndarray, bands: int) -> np.ndarray:
        A = torch.from_numpy(np.ascontiguousarray(self.columns(X, bands), np.float32))
        with torch.inference_mode():
            y = self.net_((A - self.mu_) / self.sd_).numpy()
        return np.clip(y, 0.0, 1.0)

    def args(self) -> dict:
        return super().args() | {"hidden": self.hidden} | ({"sigmoid": True} if self.sigmoid else {})

    def load(self, m: MLPModule) -> None:
        m.mu.copy_(self.mu_)
        m.sd.copy_(self.sd_)
        for k, v in self.net_.state_dict().items():
            m.head.get_parameter(k).copy_(v.reshape(v.shape + (1, 1)) if v.ndim == 2 else v)
