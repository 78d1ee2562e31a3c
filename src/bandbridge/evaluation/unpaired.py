"""An unpaired (CycleGAN) model scored where registered pairs exist, beside a paired model.

Two kinds of numbers, on one split's images (default: the registered test pairs of the paired
model's data):
- per-pixel metrics on the pairs (MAE, PSNR, SSIM, Pearson r, …), by ``evaluate.py`` unchanged:
  the unpaired model and the paired model in one run, with the baselines fitted on the paired
  model's training pairs (what registered data buys);
- distances that need no pairs (``losses/distribution.py``): the 1-D Wasserstein distance between
  all outputs and all real targets, of pixel values and of gradient magnitudes, in target units.
  Their floor is the distance between two sets of real targets (the training targets against the
  split's), and they see marginals only: a model with the right values in the wrong places
  scores perfectly on them.

Two baselines need no pairs either: the constant training-target mean (``mean``) and
:class:`HistogramMatch`, fitted on each side's training images apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from bandbridge.bands import get_scaling
from bandbridge.bundle import load_model
from bandbridge.data.datasets import LoadedPair
from bandbridge.data.unpaired import UnpairedDataModule
from bandbridge.errors import BandbridgeError
from bandbridge.evaluation.evaluate import EvalResult, evaluate, score_pair, with_data
from bandbridge.losses.distribution import DistributionSample

UNPAIRED = "cyclegan"  # the unpaired model's row
NEEDS_NO_PAIRS = (UNPAIRED, "mean", "histogram-match")  # what an unregistered archive can fit


@dataclass
class HistogramMatch:
    """ŷ_c = Q_B,c(F_A(gray(x))): the input's gray (the mean of its bands) through the CDF of the
    training inputs' gray values, onto the quantile function of the training targets' band c.
    Monotone and increasing by construction: it gets a target's histogram right and says nothing
    about where hot and cold go beyond "brighter is hotter"."""

    a_quantiles: Tensor  # (K,) gray values of domain A at evenly spaced probabilities
    b_quantiles: Tensor  # (Ct, K) values of each target band at the same probabilities
    name: str = "histogram-match"

    @classmethod
    def fit(cls, a: list[LoadedPair], b: list[LoadedPair], k: int = 1025) -> "HistogramMatch":
        """Fitted on domain A's images and domain B's images, apart (no pairing is used)."""
        t = torch.linspace(0, 1, k, dtype=torch.float64)
        gray = torch.cat([p.x.mean(0)[p.mask[0]] for p in a]).double()
        vals = torch.cat([p.x[:, p.mask[0]] for p in b], 1).double()
        return cls(torch.quantile(_thin(gray), t), torch.quantile(_thin(vals), t, dim=1).T)

    def __call__(self, x: Tensor) -> Tensor:
        """``x (Ci, H, W)`` model values → ``(Ct, H, W)``."""
        g = x.double().mean(0).flatten()
        k = self.a_quantiles.numel()
        # F_A(g): the fraction of training gray values below g, by interpolating the quantiles
        i = torch.searchsorted(self.a_quantiles, g).clamp(1, k - 1)
        lo, hi = self.a_quantiles[i - 1], self.a_quantiles[i]
        u = ((i - 1) + ((g - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)) / (k - 1)
        pos = u * (k - 1)
        j = pos.floor().long().clamp(0, k - 2)
        w = pos - j
        out = self.b_quantiles[:, j] * (1 - w) + self.b_quantiles[:, j + 1] * w
        return out.reshape(-1, *x.shape[1:]).float()


def _thin(v: Tensor, n: int = 4_000_000) -> Tensor:
    """At most ``n`` values along the last dimension, evenly strided (torch.quantile's limit)."""
    step = max(1, -(-v.shape[-1] // n))
    return v[..., ::step]


def unpaired_report(unpaired: str | Path, paired: str | Path, data_root: str | None = None,
                    split: str = "test") -> dict:
    """Score ``unpaired`` (a bundle trained with ``model.kind: cyclegan``) beside ``paired`` on
    ``split`` of the paired model's data. Returns ``{"rows": {method: metrics}, "floor": {...},
    "protocol": ..., "table": Markdown}``; W₁ values are in target units (per pixel for the
    gradients)."""
    ub = load_model(unpaired)
    if ub.config.model.kind != "cyclegan":
        raise BandbridgeError(f"{unpaired}: trained with model.kind {ub.config.model.kind}; "
                              "pass a model trained on unpaired data (model.kind cyclegan)")
    res: EvalResult = evaluate(paired, data_root, split, keep_samples=10**9,
                               others={UNPAIRED: unpaired})
    sides = UnpairedDataModule(with_data(ub.config, data_root, None)).load_split("train")
    hist = HistogramMatch.fit(sides["input"], sides["target"])
    pairs = [s["pair"] for s in res.samples]
    for s in res.samples:
        s["preds"][hist.name] = hist(s["pair"].x)
    rows = dict(res.summary["methods"])
    rows[hist.name] = _mean([score_pair(p, s["preds"][hist.name], "translation", 1)
                             for p, s in zip(pairs, res.samples)])
    scale = get_scaling(pairs[0].source.target.scaling, pairs[0].source.target.vmin,
                        pairs[0].source.target.vmax).physical[0]
    real = DistributionSample()
    for p in pairs:
        real.add(p.y[None], p.mask[None])
    for method in rows:
        fake = DistributionSample()
        for p, s in zip(pairs, res.samples):
            fake.add(s["preds"][method][None], p.mask[None])
        rows[method].update({k: v * scale for k, v in fake.distances(real).items()})
    train_real = DistributionSample()
    for p in sides["target"]:
        train_real.add(p.x[None], p.mask[None])
    floor = {k: v * scale for k, v in train_real.distances(real).items()}
    proto = dict(res.summary["protocol"], unpaired_model=str(unpaired), paired_model=str(paired),
                 w1_floor="training targets against the split's targets (two real sets)",
                 histogram_match_fitted_on=f"{len(sides['input'])} input and "
                                           f"{len(sides['target'])} target training images, apart")
    return {"rows": rows, "floor": floor, "protocol": proto, "table": table(rows, floor)}


def _mean(dicts: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(d[k] for d in dicts) / len(dicts) for k in dicts[0]}


def table(rows: dict[str, dict], floor: dict[str, float]) -> str:
    """Markdown: one row per method, pair-free methods marked, W₁ in target units."""
    head = "| method | needs registered pairs | MAE | PSNR (dB) | SSIM | Pearson r | W₁ values | W₁ gradients |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for m, r in rows.items():
        name = {UNPAIRED: "CycleGAN, unpaired", "model": "paired model"}.get(m, m)
        lines.append(f"| {name} | {'no' if m in NEEDS_NO_PAIRS else 'yes'} | {r['mae']:.2f} | "
                     f"{r['psnr']:.2f} | {r['ssim']:.3f} | {r['pearson_r']:.3f} | "
                     f"{r['w1_intensity']:.2f} | {r['w1_gradient']:.2f} |")
    lines.append(f"| real targets (training vs this split) | — | | | | | "
                 f"{floor['w1_intensity']:.2f} | {floor['w1_gradient']:.2f} |")
    return "\n".join(lines) + "\n"

