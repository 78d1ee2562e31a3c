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
from bandbridge.learners.base import Learner
from bandbridge.learners.constant import Constant
from bandbridge.learners.linear import Linear
from bandbridge.learners.mlp import MLP
from bandbridge.learners.ridge import Ridge
from bandbridge.models.anchor import normalize_bands


SAMPLE_PIXELS = 200_000  # pixels every per-pixel baseline (and an anchor) is fitted on


def sample_by_source(pairs: list[LoadedPair], n: int = SAMPLE_PIXELS, seed: int = 0,
                     input_norm: str = "none", features=None
                     ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Up to ``n`` valid (input, target) pixel pairs in all, per source ``{name: (X (N, Ci),
    Y (N, Ct))}``, each source contributing in proportion to its weight (not to its pixel count:
    one large scene must not decide the fit). ``input_norm`` normalises each image's input with
    its own statistics, as the generator does (models/anchor.py); ``features`` maps a whole image
    ``(Ci, H, W)`` to the per-pixel features sampled instead of its bands (``(F, H, W)``, e.g.
    ContextFeatures)."""
    g = torch.Generator().manual_seed(seed)
    by_source: dict[str, list[LoadedPair]] = {}
    for p in pairs:
        by_source.setdefault(p.source.name or str(id(p.source)), []).append(p)
    total_w = sum(ps[0].source.weight for ps in by_source.values())
    out = {}
    for name, ps in by_source.items():
        sx, sy = [], []
        for p in ps:
            m = p.mask[0]
            x = p.x
            if input_norm != "none":
                c = x.shape[0]
                x = normalize_bands(x[None], p.stats[None, :c], p.stats[None, c:], input_norm)[0]
            if features is not None:
                x = features(x)
            sx.append(x[:, m].T)
            sy.append(p.y[:, m].T)
        X, Y = torch.cat(sx), torch.cat(sy)
        quota = max(1, round(n * ps[0].source.weight / total_w))
        if len(X) > quota:
            idx = torch.randperm(len(X), generator=g)[:quota]
            X, Y = X[idx], Y[idx]
        out[name] = (X.float(), Y.float())
    return out


def sample_pixels(pairs: list[LoadedPair], n: int = SAMPLE_PIXELS, seed: int = 0,
                  input_norm: str = "none", features=None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sample_by_source`'s pixels of every source together: ``X (N, Ci)``, ``Y (N, Ct)``."""
    per = sample_by_source(pairs, n, seed, input_norm, features)
    return torch.cat([x for x, _ in per.values()]), torch.cat([y for _, y in per.values()])


class PixelBaseline:
    """A configured learner kind (learners/) as an evaluation baseline: fitted on sampled pixels
    ``X (N, Ci)``, ``Y (N, Ct)``, run pixel by pixel on whole images ``(Ci, H, W) → (Ct, H, W)``
    in [0, 1]. What a GAN must beat to justify itself."""

    def __init__(self, name: str, learner: Learner):
        self.name, self.learner = name, learner

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> "PixelBaseline":
        self.learner.fit(X.double().numpy(), Y.double().numpy(), X.shape[1])
        return self

    @property
    def coef(self) -> np.ndarray:
        """``(Ci + 1, Ct)``: a linear kind's weights, then the bias."""
        return self.learner.coef_

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return predict_image(self.learner, x, x.shape[0])


class LinearBaseline(PixelBaseline):
    """Least squares ``y = W·x + b`` per pixel: the ``linear`` learner."""

    def __init__(self):
        super().__init__("linear", Linear())


class MeanBaseline(PixelBaseline):
    """The training targets' mean per band, everywhere (the ``constant`` learner): a model that
    cannot beat it has learnt nothing about the input."""

    def __init__(self):
        super().__init__("mean", Constant())


class MLPBaseline(PixelBaseline):
    """A two-hidden-layer per-pixel MLP on the bands (the ``mlp`` learner: 64 units, the bands as
    read, a sigmoid output, a random start, Adam, fixed seed)."""

    def __init__(self, hidden: int = 64, steps: int = 600, batch: int = 4096, seed: int = 0):
        super().__init__("mlp", MLP(context=False, hidden=hidden, steps=steps, batch=batch, seed=seed,
                                    standardise=False, sigmoid=True, start_at_mean=False))


def floor_pixels(pairs: list[LoadedPair]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{source: (X (N, Ci), Y (N, Ct))}``: the pixels :class:`LinearBaseline` is fitted on
    (:func:`sample_by_source`, same seed), for :func:`~bandbridge.learners.floor.choose_floor`."""
    return {n: (X.double().numpy(), Y.double().numpy()) for n, (X, Y) in sample_by_source(pairs).items()}


class FloorBaseline(PixelBaseline):
    """The zero-shot floor (learners/floor.py): the map of the bands chosen, leave-one-source-out
    over the training sources, for a source none of them is; refitted on all. ``floor`` keeps the
    choice and every fold."""

    def __init__(self):
        super().__init__("floor", Linear())

    def fit_pairs(self, train: list[LoadedPair], val=None) -> "FloorBaseline":
        from bandbridge.learners.floor import choose_floor
        self.floor = choose_floor(floor_pixels(train))
        self.learner.coef_ = self.floor.W
        return self


def predict_image(learner: Learner, f: torch.Tensor, bands: int) -> torch.Tensor:
    """A fitted learner's ``predict`` on every pixel of ``f (F, H, W)`` (the bands first) →
    ``(Ct, H, W)`` float32 in [0, 1]."""
    c, h, w = f.shape
    y = learner.predict(f.reshape(c, -1).T.double().numpy(), bands)
    return torch.from_numpy(np.ascontiguousarray(y.T.reshape(-1, h, w))).float()


class ContextRidgeBaseline:
    """Ridge regression on the anchor's context features ``φ(x)`` (models/anchor.py: the bands,
    their local means and standard deviations over 5, 15 and 45 px, their pairwise products),
    features standardised, intercept unpenalised (the ``ridge`` learner's fit, learners/ridge.py).
    The penalty ``λ`` among ``LAMBDAS`` — or the plain linear map, or the constant — is chosen (``rule``):

    - with two or more training sources, by **leave-one-source-out** on them: each candidate —
      the constant mean too — is fitted on all sources but one and scored on that one, and the
      candidate whose *worst* source ratio to the better of the linear map and the constant
      there is lowest wins (``scores``: those worst ratios). A source's own validation pixels
      cannot tell a fit that transfers from one that memorised its sources;
    - else on the validation pixels when given (``scores``: MAE there);
    - else ``λ = 1e-3``.

    What a user could fit in a minute that sees texture."""

    name = "ridge-context"
    LAMBDAS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # 1 and 10: shrunk toward the constant

    def __init__(self, windows: tuple[int, ...] = (5, 15, 45), products: bool = True):
        self.windows, self.products = windows, products

    def fit_pairs(self, train: list[LoadedPair], val: list[LoadedPair] | None = None,
                  rule: str = "auto") -> "ContextRidgeBaseline":
        """``rule``: ``auto`` (as above), or ``validation`` to choose on ``val`` whatever the
        sources."""
        from bandbridge.learners.select import choose
        from bandbridge.models.features import ContextFeatures
        c = train[0].x.shape[0]
        feats = ContextFeatures(c, self.windows, self.products)
        self.phi = phi = lambda x: feats(x[None].float())[0]  # noqa: E731
        per = {k: (x.double().numpy(), y.double().numpy())
               for k, (x, y) in sample_by_source(train, features=phi).items()}
        cands = self.candidates()
        px, folds, _ = pixels_by_source(per, c)
        self.linear_coef = Linear().fit(px.X, px.Y, c).coef_  # (Ci + 1, Ct), on every source
        self.chosen, self.scores, self.rule = 1e-3, {}, "default"
        if len(per) >= 2 and rule == "auto":
            self.rule, how = "leave-one-source-out", dict(folds=folds, rule="worst-source")
        elif val:
            Xv, Yv = (t.double().numpy() for t in sample_pixels(val, features=phi))
            px, folds, train_rows = pixels_by_source({"train": (px.X, px.Y), "val": (Xv, Yv)}, c)
            cands.pop("mean")
            self.rule, how = "validation", dict(folds=folds[1:], refit_on=train_rows)
        if self.rule != "default":
            names = tuple(m.name for m in cands.values())
            sel = choose(px, list(cands.values()), eligible=names, fit_pixels=None, **how)
            key = {m.name: k for k, m in cands.items()}
            self.scores = {key[n]: v for n, v in sel.scores.items() if n in key}
            self.chosen, self.fitted, self.selection = key[sel.chosen], sel.fitted, sel
        else:
            self.fitted, self.selection = cands[1e-3].fit(px.X, px.Y, c), None
        coef = self.fitted.coef_  # weights on the columns it sees, then the bias
        pad = np.zeros((feats.out_channels - c, coef.shape[1]))
        self.coef = coef if self.fitted.context else np.r_[coef[:c], pad, coef[c:]]  # (F + 1, Ct)
        return self

    def candidates(self) -> dict:
        """Every candidate by its key here: each ``λ`` (a ridge on ``φ``), the linear map of the
        bands, the constant mean."""
        return {**{lam: Ridge(lam, windows=self.windows, products=self.products)
                   for lam in self.LAMBDAS}, "linear": Linear(), "mean": Constant()}

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return predict_image(self.fitted, self.phi(x), x.shape[0])

    def record(self, target) -> dict:
        """``baseline.json``'s ``anchor``: the choice as every learner record keeps it
        (learners/record.py; ``target``: the target bands' selection, for the unit), the penalty
        chosen and each candidate's score by its key here."""
        from bandbridge.learners.record import LearnerRecord, unit_of
        rec = (LearnerRecord.of(self.selection, self.rule, target) if self.selection is not None else
               LearnerRecord(self.fitted.name, {}, [], self.rule, unit=unit_of(target)))
        return {"kind": self.name, **rec.to_dict(), "penalty": str(self.chosen),
                "scores": {str(k): v for k, v in self.scores.items()}}


def pixels_by_source(per: dict[str, tuple[np.ndarray, np.ndarray]], bands: int):
    """``(Pixels, one fold per source held out, the first source's rows)`` of sampled pixels
    ``{source: (X (N, F), Y (N, Ct))}``."""
    from bandbridge.learners.folds import Fold, Pixels
    X = np.concatenate([x for x, _ in per.values()])
    Y = np.concatenate([y for _, y in per.values()])
    src = np.concatenate([np.full(len(x), i) for i, (x, _) in enumerate(per.values())])
    px = Pixels(X, Y, src, src, np.zeros(len(X), int), np.ones(len(per), int), bands, len(X))
    folds = [Fold(np.flatnonzero(src != i), np.flatnonzero(src == i), f"source {k} held out")
             for i, k in enumerate(per)]
    return px, folds, np.flatnonzero(src == 0)


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
def init_anchor(generator: nn.Module, pairs: list[LoadedPair],
                val: list[LoadedPair] | None = None):
    """Set an anchored generator's linear or ridge map (``generator.learner``, models/anchored.py:
    a 1×1 convolution on its features) to its baseline's closed-form fit on ``pairs`` (the same
    pixels, the same fit): the linear map, or for a context learner the ridge on ``φ(x)`` with
    ``λ`` chosen as :class:`ContextRidgeBaseline` chooses it. The untrained model then *is* that
    baseline. Returns the fit (or None for generators without such a learner)."""
    from bandbridge.learners.linear import AffineModule
    learner = getattr(generator, "learner", None)
    if not isinstance(learner, AffineModule):  # no learner, or one no closed form fits
        return None
    conv, feats = learner.head, learner.features
    if feats.windows:
        lin = ContextRidgeBaseline(feats.windows, feats.products).fit_pairs(pairs, val)
    else:
        X, Y = sample_pixels(pairs)
        lin = LinearBaseline().fit(X, Y)
    coef = torch.from_numpy(lin.coef).float()  # (F + 1, Ct)
    conv.weight.copy_(coef[:-1].T[:, :, None, None])
    conv.bias.copy_(coef[-1])
    return lin


class _NetBaseline:
    """A baseline run by its fitted module ``net`` on whole images ``(Ci, H, W) → (Ct, H, W)``."""

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[None].float())[0]


class GBMContextBaseline(_NetBaseline):
    """Gradient-boosted trees (the ``gbm`` learner, learners/gbm.py, one model per target band,
    fitted on 50 000 sampled pixels) on the same context features as
    :class:`ContextRidgeBaseline`: the per-pixel non-linear bar."""

    name = "gbm-context"

    def __init__(self, pixels: int = 50_000):
        self.pixels = pixels

    def fit_pairs(self, train: list[LoadedPair], val=None) -> "GBMContextBaseline":
        from bandbridge.learners.folds import image_features
        from bandbridge.learners.gbm import GBM
        X, Y = sample_pixels(train, n=self.pixels, features=image_features)
        c = train[0].x.shape[0]
        self.net = GBM(context=True).fit(X.numpy(), Y.numpy(), c).module(c, Y.shape[1])
        return self


class LearnerBaseline(_NetBaseline):
    """What the product itself fits on these pairs (learners/select.py): the small-data learner
    chosen by spatial cross-validation — sources held out with two or more sources, whole groups
    of images with two or more, else blocks of rows with a buffer — refitted on every pixel.
    ``selection`` keeps the out-of-fold table."""

    name = "learner"

    def fit_pairs(self, train: list[LoadedPair], val=None, budget_s: float | None = 120.0
                  ) -> "LearnerBaseline":
        from bandbridge.learners.folds import pair_pixels
        from bandbridge.learners.select import choose
        px, _ = pair_pixels(train)
        self.selection = choose(px, budget_s=budget_s)
        self.net = self.selection.fitted.module(px.bands, px.Y.shape[1])
        return self


def fit_baselines(task: str, scale: int, train_pairs: list[LoadedPair],
                  val_pairs: list[LoadedPair] | None = None) -> list:
    """The baselines for a task, fitted on ``train_pairs`` (per-pixel; the context ridge's
    penalty chosen across the training sources, or on ``val_pairs`` for one; ``learner``: the
    selection core's choice) or parameter-free (SR)."""
    if task == "super_resolution":
        return [Upsample("bicubic", scale), Upsample("nearest", scale)]
    X, Y = sample_pixels(train_pairs)
    out = [LinearBaseline().fit(X, Y), FloorBaseline().fit_pairs(train_pairs),
           ContextRidgeBaseline().fit_pairs(train_pairs, val_pairs),
           GBMContextBaseline().fit_pairs(train_pairs), LearnerBaseline().fit_pairs(train_pairs)]
    return out + [MLPBaseline().fit(X, Y), MeanBaseline().fit(X, Y)]
