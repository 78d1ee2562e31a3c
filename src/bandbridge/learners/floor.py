"""The zero-shot floor: the per-pixel map of the bands chosen for a source no training pixel came
from (issue 49).

Which linear map carries to an unseen sensor or place depends on how the training sources are
weighed and on the loss. The candidates, each ``y = W·x + b`` per target band (``W (Ci + 1, Ct)``:
weights, then the bias) fitted on pixels grouped by source:

- ``pooled``: least squares, every pixel given one vote — on the pixels evaluation samples
  (each source in proportion to its recipe weight) the plain linear map every table reports as
  ``linear``;
- ``balanced``: least squares, every source one vote;
- ``lad``: least absolute deviations, every source one vote (the tables report MAE);
- ``minimax``: the least-absolute map whose worst source is best (sources re-weighted by their
  error, multiplicative weights, the iterate with the lowest worst-source MAE kept);
- ``median``: the element-wise median of the per-source least-squares maps;
- ``constant``: every target band's median (the mean over sources of each source's median).

:func:`choose_floor` holds each training source out in turn, fits every candidate on the others
and scores it on the held-out source's pixels. The plain map (``pooled``) stays unless another
candidate scores lower on some held-out source and higher on none — the rule a learner must pass
against the floor, applied to the floor itself — and the choice is refitted on all sources.
The fits are numpy; a floor is served as a ``linear`` learner's 1×1 convolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bandbridge.policy import broke_floor, held_out_rule

FLOORS = ("pooled", "balanced", "lad", "minimax", "median", "constant")
BASE = "pooled"  # the plain linear map: another candidate replaces it only by winning every source
PIXELS = 20_000  # pixels per source the floors are chosen on (the choice is refitted on all)
IRLS_STEPS, MINIMAX_ROUNDS, MINIMAX_RATE = 30, 25, 2.0
EPS = 1e-6  # the smallest residual an IRLS weight divides by (model values)

Sources = dict[str, tuple[np.ndarray, np.ndarray]]  # source name → (X (N, Ci), Y (N, Ct))


def thin(per: Sources, n: int = PIXELS, seed: int = 0) -> Sources:
    """At most ``n`` pixels per source (a fixed random subset)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (X, Y) in per.items():
        idx = rng.permutation(len(X))[:n] if len(X) > n else slice(None)
        out[name] = (np.asarray(X, np.float64)[idx], np.asarray(Y, np.float64)[idx])
    return out


def _stack(per: Sources, weights: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[X 1]``, ``Y`` and per-pixel weights: each source's weight shared by its pixels (none
    given: one per pixel)."""
    A = np.concatenate([np.c_[X, np.ones(len(X))] for X, _ in per.values()])
    Y = np.concatenate([Y for _, Y in per.values()])
    w = np.concatenate([np.full(len(X), weights[n] / len(X)) if weights else np.ones(len(X))
                        for n, (X, _) in per.items()])
    return A, Y, w


def weighted_ls(A: np.ndarray, Y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``W`` minimising ``Σ w·‖A·W − Y‖²``."""
    s = np.sqrt(w)[:, None]
    return np.linalg.lstsq(A * s, Y * s, rcond=None)[0]


def weighted_lad(A: np.ndarray, Y: np.ndarray, w: np.ndarray, W0: np.ndarray | None = None,
                 steps: int = IRLS_STEPS) -> np.ndarray:
    """``W`` minimising ``Σ w·|A·W − Y|`` per target band: iteratively reweighted least squares
    from ``W0`` (default: the weighted least-squares fit)."""
    W = weighted_ls(A, Y, w) if W0 is None else W0.copy()
    for k in range(Y.shape[1]):
        for _ in range(steps):
            r = np.abs(A @ W[:, k] - Y[:, k])
            W[:, k] = weighted_ls(A, Y[:, k:k + 1], w / np.maximum(r, EPS))[:, 0]
    return W


def source_mae(W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
    """MAE of the map ``W`` on one source's pixels, clipped to [0, 1] as every learner predicts."""
    return float(np.abs(np.clip(np.c_[X, np.ones(len(X))] @ W, 0, 1) - Y).mean())


def _minimax(per: Sources) -> np.ndarray:
    names = list(per)
    weights = dict.fromkeys(names, 1.0 / len(names))
    best, best_worst, W = None, np.inf, None
    for _ in range(MINIMAX_ROUNDS):
        A, Y, w = _stack(per, weights)
        W = weighted_lad(A, Y, w, W, steps=IRLS_STEPS if W is None else 5)
        err = np.array([source_mae(W, X, Yn) for X, Yn in per.values()])
        if err.max() < best_worst:
            best, best_worst = W.copy(), err.max()
        factor = np.exp(MINIMAX_RATE * err / max(err.mean(), EPS))
        total = sum(weights[n] * f for n, f in zip(names, factor))
        weights = {n: weights[n] * f / total for n, f in zip(names, factor)}
    return best


def fit_floor(kind: str, per: Sources) -> np.ndarray:
    """The floor ``kind`` (:data:`FLOORS`) fitted on ``per``: ``W (Ci + 1, Ct)``."""
    names = list(per)
    equal = dict.fromkeys(names, 1.0)
    if kind == "pooled":
        return weighted_ls(*_stack(per))
    if kind == "balanced":
        return weighted_ls(*_stack(per, equal))
    if kind == "lad":
        return weighted_lad(*_stack(per, equal))
    if kind == "minimax":
        return _minimax(per)
    if kind == "median":
        return np.median(np.stack([weighted_ls(*_stack({n: per[n]}, {n: 1.0})) for n in names]), axis=0)
    if kind == "constant":
        ci = next(iter(per.values()))[0].shape[1]
        W = np.zeros((ci + 1, next(iter(per.values()))[1].shape[1]))
        W[-1] = np.mean([np.median(Y, axis=0) for _, Y in per.values()], axis=0)
        return W
    raise ValueError(f"unknown floor '{kind}'; one of {FLOORS}")


@dataclass
class Floor:
    """The chosen floor: its ``kind``, map ``W`` (refitted on every source) and the
    leave-one-source-out record it was chosen by."""

    kind: str
    W: np.ndarray
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # kind → held-out source → MAE
    worst: dict[str, float] = field(default_factory=dict)  # kind → worst ratio to pooled over held-out sources
    rule: str = ""

    def record(self) -> dict:
        """What ``model.yaml`` keeps: the rule, the choice, every fold."""
        return {"kind": self.kind, "linear": self.W.tolist(), "rule": self.rule,
                "worst_ratio": {k: round(v, 4) for k, v in self.worst.items()},
                "held_out_mae": {k: {s: round(v, 6) for s, v in d.items()} for k, d in self.scores.items()}}


def replaces(ratios: list[float]) -> bool:
    """Whether a map with these held-out error ratios to the one it would replace does so: lower
    on some held-out source and higher on none."""
    return bool(ratios) and max(ratios) <= 1.0 and min(ratios) < 1.0


def choose_floor(per: Sources, kinds: tuple[str, ...] = FLOORS) -> Floor:
    """The floor for a source never seen (module docstring): chosen on up to :data:`PIXELS` of
    each source's pixels, refitted on all of ``per`` (the pixels the plain linear map is fitted
    on, so that ``pooled`` chosen *is* that map); with one source, ``balanced`` least squares
    (nothing to hold out)."""
    whole, per = per, thin(per)
    if len(per) < 2:
        return Floor("balanced", fit_floor("balanced", whole),
                     rule="one source: least squares (no source to hold out)")
    scores = {k: {} for k in kinds}
    for held in per:
        rest = {n: v for n, v in per.items() if n != held}
        X, Y = per[held]
        for k in kinds:
            scores[k][held] = source_mae(fit_floor(k, rest), X, Y)
    ratio = {k: [scores[k][s] / max(scores[BASE][s], EPS) for s in per] for k in kinds}
    worst = {k: max(r) for k, r in ratio.items()}
    wins = [k for k in kinds if k != BASE and replaces(ratio[k])]
    kind = min(wins, key=lambda k: float(np.mean(ratio[k]))) if wins else BASE
    return Floor(kind, fit_floor(kind, whole), scores, worst,
                 rule=f"leave-one-source-out over {len(per)} sources (up to {PIXELS} pixels each): "
                      f"the {BASE} map unless a candidate is better on some held-out source and "
                      "worse on none (then the one with the lowest mean ratio), refitted on all "
                      "the pixels given")


def level_carries(per: Sources, level_of: dict[str, str], level: str) -> dict:
    """Whether the floor of one processing level (fitted on the sources of ``level`` alone)
    carries better than the floor of every source, judged as :func:`choose_floor` judges
    candidates: each source of ``level`` held out in turn, the plain map fitted on the other
    sources of that level against the plain map fitted on all other sources; kept when it is
    better on some held-out source and worse on none. Needs two sources of the level."""
    mine = [n for n in per if level_of.get(n) == level]
    scores = {}
    for held in mine:
        same = {n: per[n] for n in mine if n != held}
        rest = {n: v for n, v in per.items() if n != held}
        if not same:
            continue
        X, Y = per[held]
        scores[held] = {"level": source_mae(fit_floor(BASE, same), X, Y),
                        "all": source_mae(fit_floor(BASE, rest), X, Y)}
    kept = replaces([v["level"] / max(v["all"], EPS) for v in scores.values()])
    return {"level": level, "sources": mine, "held_out_mae": scores, "kept": kept}


def by_rows(X: np.ndarray, Y: np.ndarray, source: np.ndarray, bands: int) -> Sources:
    """Pixels with a source name each → :data:`Sources` (the bands of ``X`` only)."""
    return {s: (X[source == s, :bands], Y[source == s]) for s in dict.fromkeys(source.tolist())}


def out_of_fold(kind: str, X: np.ndarray, Y: np.ndarray, source: np.ndarray, bands: int,
                folds: list) -> float:
    """The floor ``kind``'s out-of-fold MAE on the selection core's ``folds`` (``Fold``: rows
    into ``X (N, F)``, bands first): fitted on each fold's training pixels grouped by source,
    scored on its held-out pixels, pooled over them — the measure the core ranks its candidates
    by, so that the floor's row sits beside theirs on a card."""
    errs, n = [], []
    for f in folds:
        W = fit_floor(kind, thin(by_rows(X[f.train], Y[f.train], source[f.train], bands)))
        errs.append(source_mae(W, X[f.test, :bands], Y[f.test]))
        n.append(len(f.test))
    return float(np.average(errs, weights=n))


def versus_floor(fit_learner, X: np.ndarray, Y: np.ndarray, source: np.ndarray, bands: int,
                 kind: str, per: Sources | None = None) -> dict:
    """Leave-one-source-out of a learner against the floor ``kind``: for each source, both are
    fitted on the other sources' pixels and scored on its own (``fit_learner(rows) → a fitted
    learner``, rows into ``X``; ``X (N, F)`` features, bands first; the floor on ``per``'s other
    sources where given — the pixels evaluation fits it on —, else on ``X``'s). Returns ``{source: {learner,
    floor, ratio}}``, ``broke``: the sources where the learner scores more than :data:`policy.WITHIN`
    worse, and ``kept``: whether it may replace the floor (no source broke the rule)."""
    out: dict = {}
    for s in dict.fromkeys(source.tolist()):
        rest = np.flatnonzero(source != s)
        held = source == s
        learner = fit_learner(rest)
        mine = float(np.abs(learner.predict(X[held], bands) - Y[held]).mean())
        W = fit_floor(kind, {n: v for n, v in per.items() if n != s} if per is not None
                      else thin(by_rows(X[rest], Y[rest], source[rest], bands)))
        theirs = source_mae(W, X[held, :bands], Y[held])
        out[s] = {"learner": mine, "floor": theirs, "ratio": mine / max(theirs, EPS)}
    broke = broke_floor({s: (r["learner"], r["floor"]) for s, r in out.items()})
    return {"by_source": out, "broke": broke, "kept": not broke,
            "rule": held_out_rule("the learner replaces the floor")}
