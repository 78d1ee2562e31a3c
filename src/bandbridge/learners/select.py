"""Choose among the small-data learners by spatial cross-validation, then refit the winner on
every pixel: the one selection core of train's anchor, adapt, ``loso --shots``, the web page's
calibration and evaluate's baselines.

Each candidate (a configured learner, ``registry.candidates()``) is fitted on the training pixels of every fold
(``folds.spatial_folds``: whole groups, or blocks with a buffer) and scored on that fold's
held-out pixels; its **out-of-fold MAE** is the mean absolute error over all held-out pixels of
all folds — what the card reports, stated as such. Fixed predictions (the model as it was, which
saw none of these pixels) are scored on the very same held-out pixels. The candidate with the
lowest out-of-fold MAE is refitted on all the pixels; the folds were only for choosing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from bandbridge.learners.base import Learner, family
from bandbridge.learners.blend import Blend
from bandbridge.learners.folds import FOLDS, Fold, Pixels, spatial_folds
from bandbridge.learners.registry import candidates as default_candidates

FIT_PIXELS = 40_000  # training pixels each fold's fit sees (a uniform sample of its share)
BLEND = 3  # the blend candidate: the mean of this many best learners of distinct families
# measured whatever the time budget, and all that may be chosen when validation cannot see other
# scenes (one group of near-copies) and the user has not said the scenes are the ones to predict
# (--within-scene)
SIMPLE = ("constant", "linear")


@dataclass
class Selection:
    chosen: str  # the best learner candidate (refitted in ``fitted``)
    fitted: Learner
    oof: dict[str, float]  # out-of-fold MAE of every candidate measured, and of fixed predictions
    per_fold: dict[str, list[float]]
    folds: list[str]  # what each fold held out
    skipped: list[str] = field(default_factory=list)  # candidates left out by the time budget
    pixels: int = 0  # pixels the choice and the refit used
    total: int = 0  # valid pixels given
    seconds: float = 0.0
    fixed: tuple[str, ...] = ()  # the fixed predictions scored beside the learners
    blend_of: tuple[str, ...] = ()  # the candidates the blend averages

    @property
    def winner(self) -> str:
        """The chosen learner or a fixed prediction, whichever has the lower out-of-fold MAE."""
        return min((self.chosen, *self.fixed), key=self.oof.get)

    def families(self) -> dict[str, float]:
        """Each family's best out-of-fold MAE, in candidate order."""
        out: dict[str, float] = {}
        for k, v in self.oof.items():
            out[family(k)] = min(out.get(family(k), np.inf), v)
        return out


def mae(pred: np.ndarray, Y: np.ndarray) -> float:
    return float(np.abs(pred - Y).mean())


def choose(px: Pixels, candidates: list[Learner] | None = None, fixed: dict[str, np.ndarray] | None = None,
           allowed: tuple[str, ...] | None = None, budget_s: float | None = None,
           k: int = FOLDS, seed: int = 0, folds: list[Fold] | None = None,
           eligible: tuple[str, ...] | None = None) -> Selection:
    """Cross-validate ``candidates`` (configured learners, default ``registry.candidates()``; ``allowed``: only these names or families) on
    ``px``, score ``fixed`` predictions ``(N, Ct)`` on the same held-out pixels, refit the best
    learner on all of ``px``. ``budget_s`` bounds the search: candidates are tried cheapest first
    and those past the budget are skipped (the constant and linear map always run). ``eligible``
    (names or families): only these may be chosen, the others are measured for the record."""
    t0 = time.perf_counter()
    cands = {c.name: c for c in (candidates or default_candidates())}
    if allowed is not None:
        cands = {n: c for n, c in cands.items() if n in allowed or family(n) in allowed}
    folds = folds if folds is not None else spatial_folds(px, k)
    if not folds:
        raise ValueError("no fold has both training and held-out pixels")
    rng = np.random.default_rng(seed)
    fits = [f.train if len(f.train) <= FIT_PIXELS else rng.choice(f.train, FIT_PIXELS, replace=False)
            for f in folds]
    test_all = np.concatenate([f.test for f in folds])
    c = px.bands
    oof: dict[str, float] = {}
    per_fold: dict[str, list[float]] = {}
    preds: dict[str, np.ndarray] = {}  # each candidate's out-of-fold predictions (N, Ct)
    skipped = []
    for name, cand in cands.items():
        if budget_s is not None and time.perf_counter() - t0 > budget_s and name not in SIMPLE:
            skipped.append(name)
            continue
        errs, n = [], []
        pred = np.zeros_like(px.Y)
        for fold, tr in zip(folds, fits):
            model = cand.clone().fit(px.X[tr], px.Y[tr], c)
            pred[fold.test] = model.predict(px.X[fold.test], c)
            errs.append(mae(pred[fold.test], px.Y[fold.test]))
            n.append(len(fold.test))
        per_fold[name] = errs
        oof[name] = float(np.average(errs, weights=n))
        preds[name] = pred
    blend_of = top_families(oof, eligible)
    if len(blend_of) == BLEND:  # the blend's out-of-fold predictions are its members' mean
        pred = np.mean([preds[k] for k in blend_of], axis=0)
        per_fold["blend"] = [mae(pred[f.test], px.Y[f.test]) for f in folds]
        oof["blend"] = mae(pred[test_all], px.Y[test_all])
    for name, pred in (fixed or {}).items():
        per_fold[name] = [mae(pred[f.test], px.Y[f.test]) for f in folds]
        oof[name] = mae(pred[test_all], px.Y[test_all])
    learners = [n for n in oof if (n in cands or n == "blend") and (
        eligible is None or n in eligible or family(n) in eligible)]
    chosen = min(learners, key=oof.get)
    fitted = refit(chosen, blend_of, px, cands)
    return Selection(chosen, fitted, oof, per_fold, [f.what for f in folds], skipped, len(px),
                     px.total, time.perf_counter() - t0, tuple(fixed or ()), blend_of)


def top_families(oof: dict[str, float], eligible) -> tuple[str, ...]:
    """The best candidate of each of the ``BLEND`` best families (a blend may be chosen only
    when every learner may)."""
    if eligible is not None:
        return ()
    best: dict[str, str] = {}
    for k in sorted(oof, key=oof.get):
        best.setdefault(family(k), k)
    tops = [k for k in best.values() if family(k) != "constant"][:BLEND]
    return tuple(tops) if len(tops) == BLEND else ()


def refit(chosen: str, blend_of: tuple[str, ...], px: Pixels, cands: dict | None = None) -> Learner:
    """``chosen`` (a candidate's name, or ``blend`` of ``blend_of``) fitted on all of ``px``
    (``cands``: the candidates by name, default ``registry.candidates()``)."""
    known = {c.name: c for c in default_candidates()} | (cands or {})
    model = Blend([known[k] for k in blend_of]) if chosen == "blend" else known[chosen]
    return model.clone().fit(px.X, px.Y, px.bands)
