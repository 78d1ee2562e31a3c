"""The small-data candidates, each fitted on pixel features and turned into a generator.

Features ``X (N, F)`` are the context features ``φ(x)`` of :class:`~bandbridge.models.anchor.
ContextFeatures` (bands first: ``X[:, :c]``), targets ``Y (N, Ct)`` model values in [0, 1]. A
candidate's name says what it sees:

- ``constant``: the targets' mean — a model that cannot beat it learnt nothing;
- ``linear``: least squares on the bands;
- ``ridge-context λ``: ridge on all of ``φ``, features standardised, mean squared error plus
  ``λ·‖w‖²`` (so a penalty means the same for 1 000 pixels or 1 000 000);
- ``gbm-bands``, ``gbm-context``: LightGBM (one model per target band) on the bands or on ``φ``;
- ``mlp-context``: two hidden ReLU layers on standardised ``φ``, L1 loss, Adam.

LightGBM, not scikit-learn's histogram GBM: its text model format needs no pickle (the bundle
keeps it as bytes), it trains on a Dask cluster, and onnxmltools converts it to ONNX trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

RIDGE_PENALTIES = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
GBM_PARAMS = dict(n_estimators=200, learning_rate=0.08, num_leaves=31, min_child_samples=20, max_bin=127,
                  subsample=1.0, colsample_bytree=1.0, reg_lambda=0.0)
MLP_HIDDEN, MLP_STEPS, MLP_BATCH = 32, 1000, 2048
WINDOWS, PRODUCTS = (5, 15, 45), True  # the context every candidate's features come from


@dataclass
class Fitted:
    """One fitted candidate: ``predict(X (N, F)) → (N, Ct)`` clipped to [0, 1], and the
    :class:`~bandbridge.models.learner.PixelLearner` arguments and weights that reproduce it."""

    name: str
    kind: str  # PixelLearner kind
    context: bool  # sees all of φ (else the bands alone)
    coef: np.ndarray | None = None  # (F' + 1, Ct) for linear kinds
    trees: list[str] = field(default_factory=list)  # LightGBM text models, one per band
    mlp: dict | None = None  # state of the MLP head + mu, sd
    parts: list["Fitted"] = field(default_factory=list)  # a blend's members

    def columns(self, X: np.ndarray, c: int) -> np.ndarray:
        return X if self.context else X[:, :c]

    def predict(self, X: np.ndarray, c: int) -> np.ndarray:
        if self.parts:
            return np.mean([p.predict(X, c) for p in self.parts], axis=0)
        A = self.columns(X, c)
        if self.coef is not None:
            y = A @ self.coef[:-1] + self.coef[-1]
        elif self.trees:
            import lightgbm as lgb
            y = np.stack([lgb.Booster(model_str=t).predict(A.astype(np.float64)) for t in self.trees], 1)
        else:
            with torch.inference_mode():
                y = self._net(A.shape[1], len(self.mlp["head.4.bias"]))(
                    torch.from_numpy(np.ascontiguousarray(A, np.float32))).numpy()
        return np.clip(y, 0.0, 1.0)

    def _net(self, f: int, ct: int):
        net = mlp_net(f, ct)
        s = self.mlp
        net.load_state_dict({k[5:]: torch.as_tensor(v) for k, v in s.items() if k.startswith("head.")})
        mu, sd = torch.as_tensor(s["mu"]), torch.as_tensor(s["sd"])
        return lambda t: net((t - mu) / sd)

    def generator_args(self) -> dict:
        """``model.generator`` for a bundle: ``{"name": "learner", "args": {...}}`` (a blend:
        ``{"name": "blend", "args": {"parts": [...]}}``)."""
        if self.parts:
            return {"name": "blend", "args": {"parts": [p.generator_args()["args"] for p in self.parts]}}
        args: dict = {"kind": self.kind, "windows": list(WINDOWS) if self.context else [],
                      "products": PRODUCTS if self.context else False}
        if self.kind == "mlp":
            args["hidden"] = MLP_HIDDEN
        if self.kind == "gbm":
            args["gbm_bytes"] = [len(t.encode()) for t in self.trees]
        return {"name": "learner", "args": args}

    def make_generator(self, in_channels: int, out_channels: int):
        """The PixelLearner (or BlendLearner) that computes exactly :meth:`predict` on whole
        images."""
        from bandbridge.models.learner import BlendLearner, PixelLearner
        if self.parts:
            g = BlendLearner(in_channels, out_channels, self.generator_args()["args"]["parts"])
            g.parts = torch.nn.ModuleList(p.make_generator(in_channels, out_channels) for p in self.parts)
            return g.eval()
        g = PixelLearner(in_channels, out_channels, **self.generator_args()["args"])
        with torch.no_grad():
            if self.coef is not None:
                w = torch.from_numpy(self.coef).float()
                g.head.weight.copy_(w[:-1].T[:, :, None, None])
                g.head.bias.copy_(w[-1])
            elif self.trees:
                g.set_trees(self.trees)
            else:
                g.mu.copy_(torch.as_tensor(self.mlp["mu"]))
                g.sd.copy_(torch.as_tensor(self.mlp["sd"]))
                for k, v in self.mlp.items():
                    if k.startswith("head."):
                        t = torch.as_tensor(v)
                        g.get_parameter(k).copy_(t.reshape(t.shape + (1, 1)) if t.ndim == 2 else t)
        return g.eval()


def fit_constant(X: np.ndarray, Y: np.ndarray, c: int) -> Fitted:
    coef = np.r_[np.zeros((c, Y.shape[1])), Y.mean(0, keepdims=True)]
    return Fitted("constant", "constant", False, coef)


def fit_linear(X: np.ndarray, Y: np.ndarray, c: int) -> Fitted:
    A = np.c_[X[:, :c].astype(np.float64), np.ones(len(X))]
    return Fitted("linear", "linear", False, np.linalg.lstsq(A, Y.astype(np.float64), rcond=None)[0])


def fit_ridge(X: np.ndarray, Y: np.ndarray, lam: float) -> np.ndarray:
    """``(F + 1, Ct)`` minimising ``mean‖[X 1]·W − Y‖² + λ‖D·w‖²`` with ``D`` standardising the
    features (one ``λ`` suits all scales and pixel counts), the bias unpenalised; returned for
    the raw features."""
    X = X.astype(np.float64)
    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    Z = (X - mu) / sd
    A = np.c_[Z, np.ones(len(X))]
    G = A.T @ A / len(X) + lam * np.diag(np.r_[np.ones(X.shape[1]), 0.0])
    W = np.linalg.lstsq(G, A.T @ Y.astype(np.float64) / len(X), rcond=None)[0]
    w = W[:-1] / sd[:, None]
    return np.r_[w, W[-1:] - mu @ w]


def ridge_fitter(lam: float):
    def fit(X: np.ndarray, Y: np.ndarray, c: int) -> Fitted:
        return Fitted(f"ridge-context λ={lam:g}", "ridge", True, fit_ridge(X, Y, lam))
    return fit


def gbm_fitter(context: bool):
    def fit(X: np.ndarray, Y: np.ndarray, c: int) -> Fitted:
        import lightgbm as lgb
        A = X if context else X[:, :c]
        trees = []
        for k in range(Y.shape[1]):
            m = lgb.LGBMRegressor(**GBM_PARAMS, random_state=0, deterministic=True,
                                  force_col_wise=True, verbose=-1, n_jobs=0)
            m.fit(A.astype(np.float64), Y[:, k].astype(np.float64))
            trees.append(float32_thresholds(m.booster_.model_to_string()))
        return Fitted("gbm-context" if context else "gbm-bands", "gbm", context, trees=trees)
    return fit


def float32_thresholds(text: str) -> str:
    """A LightGBM text model with every split threshold ``t`` replaced by the largest float32
    ``≤ t``. For float32 features ``f ≤ t`` exactly when ``f ≤ that float32``, so predictions do
    not change — and onnxruntime's float32 trees (``inference/runtime/trees.py``) then split
    every pixel exactly as LightGBM does."""
    def floor32(v: str) -> str:
        t = float(v)
        t32 = np.float32(t)
        if float(t32) > t:
            t32 = np.nextafter(t32, np.float32(-np.inf))
        return repr(float(t32))
    out = []
    for line in text.splitlines():
        if line.startswith("tree_sizes="):  # byte sizes of the trees, which change: LightGBM
            continue  # reads the trees one by one without them
        if line.startswith("threshold="):
            line = "threshold=" + " ".join(floor32(v) for v in line[len("threshold="):].split())
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def mlp_net(f: int, ct: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(f, MLP_HIDDEN), torch.nn.ReLU(),
                               torch.nn.Linear(MLP_HIDDEN, MLP_HIDDEN), torch.nn.ReLU(),
                               torch.nn.Linear(MLP_HIDDEN, ct))


def fit_mlp(X: np.ndarray, Y: np.ndarray, c: int, steps: int = MLP_STEPS, seed: int = 0) -> Fitted:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    Xt, Yt = torch.from_numpy(np.ascontiguousarray(X, np.float32)), torch.from_numpy(
        np.ascontiguousarray(Y, np.float32))
    mu, sd = Xt.mean(0), Xt.std(0).clamp_min(1e-6)
    Zt = (Xt - mu) / sd
    net = mlp_net(X.shape[1], Y.shape[1])
    with torch.no_grad():  # start at the targets' mean
        net[-1].weight.mul_(0.1)
        net[-1].bias.copy_(Yt.mean(0))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        i = torch.randint(0, len(Zt), (min(MLP_BATCH, len(Zt)),), generator=g)
        loss = (net(Zt[i]) - Yt[i]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    state = {f"head.{k}": v.detach().numpy().copy() for k, v in net.state_dict().items()}
    return Fitted("mlp-context", "mlp", True, mlp=state | {"mu": mu.numpy(), "sd": sd.numpy()})


# name → fitter, cheapest first (a time budget cuts the list from the end)
CANDIDATES = {"constant": fit_constant, "linear": fit_linear,
              **{f"ridge-context λ={lam:g}": ridge_fitter(lam) for lam in RIDGE_PENALTIES},
              "gbm-bands": gbm_fitter(False), "gbm-context": gbm_fitter(True),
              "mlp-context": fit_mlp}


def blend(parts: list[Fitted]) -> Fitted:
    """The mean of ``parts``' predictions as one learner."""
    return Fitted("blend", "blend", any(p.context for p in parts), parts=parts)


def family(name: str) -> str:
    """A candidate's family, the row a table shows: ``ridge-context λ=0.01`` → ``ridge-context``."""
    return name.split(" ")[0]
