"""Choose among the small-data learners by spatial cross-validation, then refit the winner on
every pixel: the one selection core of train's anchor, adapt, ``loso --shots``, the web page's
calibration and evaluate's baselines.

Each candidate (``registry.candidates()``) is fitted on the training pixels of every fold
(``folds.spatial_folds``) and scored on its held-out pixels; its **out-of-fold MAE** is the mean
absolute error over all held-out pixels of all folds. Fixed predictions (the model as it was) are
scored on the same pixels. The lowest is refitted on all the pixels, unless a cheaper candidate
is within the folds' noise (:func:`cheaper_within_noise`). :data:`RULES` names the two variants:
``pooled`` (the default) and ``worst-source`` (the lowest worst ratio over the folds to the
better of the linear map and the constant: one that transfers to every source held out).
:func:`never_worse` is the same test for two fixed models on validation sources.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bandbridge.learners.base import Learner, family
from bandbridge.learners.blend import Blend
from bandbridge.learners.floor import by_rows, choose_floor, out_of_fold, versus_floor
from bandbridge.learners.folds import FOLDS, Fold, Pixels, spatial_folds, too_small
from bandbridge.learners.linear import Linear
from bandbridge.learners.record import LearnerRecord
from bandbridge.learners.registry import candidates as default_candidates, runs_on
from bandbridge.learners.student import Student
from bandbridge.policy import (LEARNER_FIXED, LEARNER_WORK, NOISE_FOLDS, ONE_GROUP, STUDENT_WITHIN, TRADE_WITHIN,
                               WITHIN, percent)
from bandbridge.progress import Progress, steps

FIT_PIXELS = 40_000  # training pixels each fold's fit sees (a uniform sample of its share)
# The one thread policy of every fit the core makes: BLAS, OpenMP (LightGBM) and torch each run
# this many threads. Threads that wait on each other's share of two busy cores cost more than a
# second core gains when idle (docs/adapt.md).
FIT_THREADS = 1
BLEND = 3  # the blend candidate: the mean of this many best learners of distinct families
SIMPLE = ONE_GROUP  # always measured, whatever the budget (and all the one-group rule may keep)
UNMEASURED = (1.2, 10.0)  # a kind not in policy.LEARNER_WORK: as dear as the dearest


def serve_us(learner: Learner) -> float:
    """Microseconds a pixel of serving ``learner`` on the reference machine (:data:`LEARNER_WORK`; a blend
    computes each part): the cost a choice weighs where its winner is applied to many pixels."""
    parts = getattr(learner, "parts", None)
    if parts:
        return sum(serve_us(p) for p in parts)
    return LEARNER_WORK.get(learner.family, UNMEASURED)[1]


def work_s(name: str, fit_sizes: list[int], n_test: int) -> float:
    """Reference seconds of one candidate's search: a fit on each fold's ``fit_sizes`` pixels (:data:`LEARNER_FIXED`
    once a fit, the rest in proportion) and a prediction of the ``n_test`` held-out pixels."""
    fit, pred = LEARNER_WORK.get(family(name), UNMEASURED)
    return (fixed := LEARNER_FIXED.get(family(name), 0.0)) * len(fit_sizes) + (fit - fixed) * sum(fit_sizes) / FIT_PIXELS + pred * 1e-6 * n_test


@dataclass
class Selection:
    chosen: str  # the best learner candidate (refitted in ``fitted``)
    fitted: Learner
    oof: dict[str, float]  # out-of-fold MAE of every candidate measured, and of fixed predictions
    per_fold: dict[str, list[float]]
    folds: list[str]  # what each fold held out
    skipped: list[str] = field(default_factory=list)  # candidates left out by the work budget (LEARNER_WORK)
    pixels: int = 0  # pixels the choice and the refit used
    total: int = 0  # valid pixels given
    seconds: float = 0.0
    fixed: tuple[str, ...] = ()  # the fixed predictions scored beside the learners
    blend_of: tuple[str, ...] = ()  # the candidates the blend averages
    rule: str = "pooled"  # the variant of RULES the choice was made by
    scores: dict[str, float] = field(default_factory=dict)  # what the rule ranked (lower wins)
    student: dict = field(default_factory=dict)  # the distillation of a chosen learner that
    # cannot run on every backend (distil): its out-of-fold MAE, the teacher's, whether it is kept
    teacher: Learner | None = None  # the chosen learner refitted, when its student is served
    traded: dict = field(default_factory=dict)  # the lowest-error candidate a cheaper one replaced
    # within the folds' noise (cheaper_within_noise), and both errors
    held: np.ndarray | None = None  # (N, Ct) the chosen candidate's out-of-fold predictions (the
    # fold fits the choice made; NaN on pixels no fold held out)

    @property
    def winner(self) -> str:
        """The chosen learner or a fixed prediction, whichever has the lower out-of-fold MAE."""
        return min((self.chosen, *self.fixed), key=self.oof.get)

    def families(self) -> dict[str, float]:
        """Each family's best out-of-fold MAE, in candidate order."""
        return LearnerRecord.of(self, "").families()


def mae(pred: np.ndarray, Y: np.ndarray) -> float:
    return float(np.abs(pred - Y).mean())


@contextmanager
def fit_threads(n: int = FIT_THREADS):
    """Every library the fits use (BLAS, OpenMP, torch) at ``n`` threads, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(before)


@fit_threads()
def choose(px: Pixels, candidates: list[Learner] | None = None, fixed: dict[str, np.ndarray] | None = None,
           allowed: tuple[str, ...] | None = None, budget_s: float | None = None,
           k: int = FOLDS, seed: int = 0, folds: list[Fold] | None = None,
           eligible: tuple[str, ...] | None = None, rule: str = "pooled",
           fit_pixels: int | None = FIT_PIXELS, refit_on: np.ndarray | None = None,
           progress: Progress | None = None, served: bool = True,
           cost: Callable[[Learner], float] | None = None) -> Selection:
    """Cross-validate ``candidates`` (configured learners, default ``registry.candidates()``; ``allowed``: only these names or families) on
    ``px``, score ``fixed`` predictions ``(N, Ct)`` on the same held-out pixels, refit the best
    learner on all of ``px``. ``budget_s`` bounds the search in reference seconds (:data:`LEARNER_WORK`,
    not the clock): candidates are tried cheapest first and those past the budget are skipped
    (the constant and linear map always run). ``eligible``
    (names or families): only these may be chosen, the others are measured for the record.
    ``rule``: a variant of :data:`RULES`; ``fit_pixels``: each fold's fit sees a sample of this
    many (None: all); ``refit_on``: the rows of ``px`` the winner is refitted on (default all);
    ``progress`` counts the fold fits, then the refit (and the student's distillation);
    ``served``: the winner will be served by a backend, so one with trees gets a student
    (:func:`distil`; False: it is only applied here, in numpy); ``cost``: what serving a candidate
    costs for the cheaper-within-noise rule (default ``Learner.cost``, a rank)."""
    t0 = time.perf_counter()
    cands = {c.name: c for c in (candidates or default_candidates())}
    if allowed is not None:
        cands = {n: c for n, c in cands.items() if n in allowed or family(n) in allowed}
    folds = folds if folds is not None else spatial_folds(px, k)
    if not folds:
        raise too_small(px, k)
    test_all = np.concatenate([f.test for f in folds])
    oof, per_fold, preds, models, skipped = _cross_validate(px, cands, folds, fit_pixels, seed, budget_s, progress)
    blend_of = top_families(oof, eligible)
    # the blend's out-of-fold predictions are its members' mean
    blend = {"blend": np.mean([preds[k] for k in blend_of], axis=0)} if len(blend_of) == BLEND else {}
    preds |= blend
    for name, pred in (blend | (fixed or {})).items():
        per_fold[name] = [mae(pred[f.test], px.Y[f.test]) for f in folds]
        oof[name] = mae(pred[test_all], px.Y[test_all])
    learners = [n for n in oof if (n in cands or n == "blend") and (
        eligible is None or n in eligible or family(n) in eligible)]
    scores = RULES[rule](oof, per_fold)
    chosen = min(learners, key=scores.get)
    traded = {}
    if rule == "pooled":
        price = cost or (lambda c: c.cost)
        costs = {n: price(Blend([cands[k] for k in blend_of]) if n == "blend" else cands[n]) for n in learners}
        bar = min((oof[k] for k in fixed or ()), default=np.inf)
        chosen, traded = cheaper_within_noise(chosen, learners, per_fold, oof, costs, bar)
    last = steps(progress, f"refitting {chosen} on every pixel (and distilling a student where it has trees)", 1)
    fitted = refit(chosen, blend_of, px, cands, refit_on)
    held = np.full_like(px.Y, np.nan)
    held[test_all] = preds[chosen][test_all]
    sel = Selection(chosen, fitted, oof, per_fold, [f.what for f in folds], skipped, len(px),
                    px.total, time.perf_counter() - t0, tuple(fixed or ()), blend_of, rule, scores,
                    traded=traded, held=held)
    if served and not everywhere(fitted):
        fold_fits = [Blend([models[k][i] for k in blend_of]) for i in range(len(folds))] \
            if chosen == "blend" else models[chosen]
        distil(sel, px, folds, fold_fits)
    last()
    sel.seconds = time.perf_counter() - t0
    return sel


def _cross_validate(px: Pixels, cands: dict[str, Learner], folds: list[Fold], fit_pixels: int | None, seed: int,
                    budget_s: float | None, progress: Progress | None) -> tuple[dict, dict, dict, dict, list]:
    """``(oof, per_fold, preds, models, skipped)``: each candidate fitted on a sample of ``fit_pixels``
    of each fold's training pixels and scored on its held-out pixels — out-of-fold MAE, per-fold MAEs,
    out-of-fold predictions ``(N, Ct)``, the fold fits (a student's teachers) — in order until the
    work budget ``budget_s`` is spent (:data:`SIMPLE` always run), and the candidates it left out."""
    oof, per_fold, preds, models, skipped = {}, {}, {}, {}, []
    rng = np.random.default_rng(seed)
    fits = [f.train if fit_pixels is None or len(f.train) <= fit_pixels else
            rng.choice(f.train, fit_pixels, replace=False) for f in folds]
    spent = 0.0  # reference seconds (LEARNER_WORK) of the candidates measured so far
    sizes, held = [len(f) for f in fits], [len(f.test) for f in folds]
    fitted_one = steps(progress, f"fitting {len(cands)} candidates on {len(folds)} folds "
                       f"({len(px):,} pixels)", len(cands) * len(folds))
    for name, cand in cands.items():
        if budget_s is not None and spent > budget_s and name not in SIMPLE:
            skipped.append(name)
            fitted_one(len(folds))
            continue
        spent += work_s(name, sizes, sum(held))
        errs = []
        pred = np.zeros_like(px.Y)
        for fold, tr in zip(folds, fits):
            model = cand.clone().fit(px.X[tr], px.Y[tr], px.bands)
            models.setdefault(name, []).append(model)
            pred[fold.test] = model.predict(px.X[fold.test], px.bands)
            errs.append(mae(pred[fold.test], px.Y[fold.test]))
            fitted_one()
        per_fold[name] = errs
        oof[name] = float(np.average(errs, weights=held))
        preds[name] = pred
    return oof, per_fold, preds, models, skipped


COST_RULE = ("a cheaper candidate replaces the lowest out-of-fold MAE when, fold by fold, it is "
             "worse by at most one standard error of the mean difference (the one-standard-error "
             f"rule on paired folds; {NOISE_FOLDS} or more folds), at most {percent(TRADE_WITHIN)} worse "
             "out of fold in all, and never where the lowest beat the model as it was and it does not")


def within_noise(mine: list[float], best: list[float]) -> tuple[bool, float, float]:
    """``(within, mean difference, its standard error)`` of per-fold MAEs ``mine`` against
    ``best`` (the same folds): within when the mean difference is at most one standard error."""
    d = np.asarray(mine, float) - np.asarray(best, float)
    se = float(d.std(ddof=1) / np.sqrt(len(d)))
    return bool(d.mean() <= se), float(d.mean()), se


def cheaper_within_noise(chosen: str, learners: list[str], per_fold: dict[str, list[float]],
                         oof: dict[str, float], costs: dict[str, float], bar: float = np.inf
                         ) -> tuple[str, dict]:
    """The cheapest candidate (``costs``: ``Learner.cost``; the lower error among equals) whose
    per-fold MAEs are within the noise of ``chosen``'s and whose out-of-fold MAE is at most
    :data:`~bandbridge.policy.TRADE_WITHIN` above it (:data:`COST_RULE`), and what was traded
    (``{}`` when ``chosen`` stays). ``bar``: the fixed predictions' lowest out-of-fold MAE (the
    model as it was): a trade never hands the choice to it where ``chosen`` beat it."""
    if len(per_fold[chosen]) < NOISE_FOLDS:
        return chosen, {}
    for name in sorted(learners, key=lambda n: (costs[n], oof[n])):
        if costs[name] >= costs[chosen]:
            break
        ok, diff, se = within_noise(per_fold[name], per_fold[chosen])
        if ok and oof[name] <= oof[chosen] * (1 + TRADE_WITHIN) and (oof[name] < bar or oof[chosen] >= bar):
            return name, {"best": chosen, "best_oof_mae": oof[chosen], "kept": name,
                          "kept_oof_mae": oof[name], "fold_difference": diff, "standard_error": se,
                          "rule": COST_RULE}
    return chosen, {}


def everywhere(learner: Learner) -> bool:
    """Whether a fitted learner's graph runs on every backend and precision (no trees in it):
    what ``model.yaml: runs_on`` would record of it (``registry.runs_on``)."""
    return not runs_on(**learner.generator())


def distil(sel: Selection, px: Pixels, folds: list[Fold], teachers: list[Learner]) -> None:
    """Distil ``sel``'s chosen learner into a :class:`~bandbridge.learners.student.Student` and
    serve the student when its out-of-fold MAE is at most ``policy.STUDENT_WITHIN`` above the
    teacher's: on each fold a student learns the fold's fitted teacher (``teachers``) and is scored
    on the fold's held-out pixels, as the teacher was. Its transfer set is every pixel of ``px``,
    labels unused (Buciluǎ et al.'s unlabeled transfer set: the inputs the run has, the held-out
    fold's among them; their labels reach neither the teacher nor the student). A student kept
    is distilled from the refitted teacher on every pixel of ``px``; ``sel.student`` records both
    errors and the decision either way."""
    pred = np.zeros_like(px.Y)
    for fold, teacher in zip(folds, teachers):
        pred[fold.test] = Student.of(teacher, px.X, px.bands).predict(px.X[fold.test], px.bands)
    test_all = np.concatenate([f.test for f in folds])
    mine, theirs = mae(pred[test_all], px.Y[test_all]), sel.oof[sel.chosen]
    keep = mine <= theirs * (1 + STUDENT_WITHIN)
    sel.student = {"teacher": sel.chosen, "oof_mae": mine, "teacher_oof_mae": theirs, "kept": bool(keep),
                   "rule": f"the student replaces its teacher when its out-of-fold MAE is at most "
                           f"{percent(STUDENT_WITHIN)} above the teacher's"}
    if keep:
        sel.teacher, sel.fitted = sel.fitted, Student.of(sel.fitted, px.X, px.bands)
        if sel.held is not None:  # what is served is what was held out
            sel.held[test_all] = pred[test_all]


def worst_fold_ratio(oof: dict[str, float], per_fold: dict[str, list[float]]) -> dict[str, float]:
    """Each candidate's worst ratio, over the folds, of its MAE to the better of the linear
    map's and the constant's on that fold (1.0: never worse than both on any fold)."""
    ref = [max(min(a, b), 1e-12) for a, b in zip(per_fold["linear"], per_fold["constant"])]
    return {k: max(e / r for e, r in zip(errs, ref)) for k, errs in per_fold.items()}


RULES = {"pooled": lambda oof, per_fold: oof, "worst-source": worst_fold_ratio}


def worst_group_ratio(errors: dict[str, float], base: dict[str, float]) -> float:
    """``max_g errors[g] / base[g]`` over the groups (sources) of ``base`` that ``errors`` scores,
    ``all`` (the pooled figure) left out: the group that gained least, or lost most (NaN: none)."""
    return max([errors[g] / max(base[g], 1e-12) for g in base if g in errors and g != "all"]
               or [float("nan")])


def never_worse(candidate: dict[str, float], reference: dict[str, float],
                tolerance: float = WITHIN) -> tuple[bool, float]:
    """``(better, worst ratio)`` of two fixed models' MAE by source (``all``: pooled): the
    candidate is better when it scores lower pooled and no source more than ``tolerance`` worse
    than the reference."""
    worst = worst_group_ratio(candidate, reference)
    return bool(candidate["all"] < reference["all"] and worst <= 1.0 + tolerance), worst


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


def refit(chosen: str, blend_of: tuple[str, ...], px: Pixels, cands: dict | None = None,
          rows: np.ndarray | None = None, student: bool = False) -> Learner:
    """``chosen`` (a candidate's name, or ``blend`` of ``blend_of``) fitted on all of ``px``, or
    on its ``rows`` (``cands``: the candidates by name, default ``registry.candidates()``);
    with ``student``, its student distilled from it on every pixel of ``px``."""
    known = {c.name: c for c in default_candidates()} | (cands or {})
    model = Blend([known[k] for k in blend_of]) if chosen == "blend" else known[chosen]
    X, Y = (px.X, px.Y) if rows is None else (px.X[rows], px.Y[rows])
    fitted = model.clone().fit(X, Y, px.bands)
    return Student.of(fitted, px.X, px.bands) if student else fitted


def given(chosen: str, blend_of: tuple[str, ...], px: Pixels) -> Selection:
    """A choice made before (a parent run's search, on more sources) refitted on ``px`` with no
    search: a held-out fold reuses its parent's choice rather than repeat the cross-validation
    (issue 59). No out-of-fold errors are measured (``oof`` empty); the rule says ``given``."""
    t0 = time.perf_counter()
    fitted = refit(chosen, tuple(blend_of), px)
    return Selection(chosen, fitted, {}, {}, [], pixels=len(px), total=px.total,
                     seconds=time.perf_counter() - t0, blend_of=tuple(blend_of), rule="given")


def choice_of(record: dict | None) -> tuple[str, tuple[str, ...]] | None:
    """``(chosen, blend_of)`` for :func:`given` from a search's record (``LearnerRecord`` as a
    run keeps it: ``learner.json``, ``baseline.json``'s anchor): the learner the core chose, also
    where the floor then replaced it (each fold weighs it against its own floor again); None
    without one."""
    rec = record or {}
    if rec.get("chosen") == FLOOR:
        rec = rec.get("floor") or {}
        return (rec["learner"], tuple(rec.get("blend_of") or ())) if rec.get("learner") else None
    return (rec["chosen"], tuple(rec.get("blend_of") or ())) if rec.get("chosen") else None


FLOOR = "floor"  # Selection.chosen when the zero-shot floor replaced the core's learner


def against_floor(sel: Selection, px: Pixels, source: np.ndarray, per: dict | None = None,
                  seed: int = 0) -> dict:
    """Issue 49's rule for pixels of two or more sources (``source``: each pixel's name): the
    zero-shot floor (learners/floor.py) is chosen on ``per`` (``{source: (X, Y)}`` of the bands:
    the pixels evaluation fits its ``floor`` on, ``baselines.floor_pixels``; default ``px``'s),
    then the core's choice and the floor are each fitted on all sources but one and scored on it; the
    learner stays only when no held-out source scores more than :data:`policy.WITHIN` worse than the floor.
    Otherwise ``sel`` serves the floor (``chosen`` = :data:`FLOOR`, refitted on every pixel).
    Returns the record: the floor's choice, every source's pair of errors, which broke the rule."""
    floor = choose_floor(per if per is not None else by_rows(px.X, px.Y, source, px.bands))
    rng = np.random.default_rng(seed)

    def fit(rows: np.ndarray) -> Learner:
        if FIT_PIXELS is not None and len(rows) > FIT_PIXELS:
            rows = rng.choice(rows, FIT_PIXELS, replace=False)
        return refit(sel.chosen, sel.blend_of, px, rows=rows)

    with fit_threads():
        vs = versus_floor(fit, px.X, px.Y, source, px.bands, floor.kind, per)
    record = floor.record() | {"versus": vs, "learner": sel.chosen, "blend_of": list(sel.blend_of),
                               "kept": sel.chosen if vs["kept"] else FLOOR}
    if not vs["kept"]:
        served = Linear()
        served.coef_ = floor.W
        # on the core's own folds (the held-out sources' errors are in the record's "versus")
        folds = spatial_folds(px)
        sel.oof[FLOOR] = out_of_fold(floor.kind, px.X, px.Y, source, px.bands, folds)
        sel.chosen, sel.fitted, sel.teacher, sel.student, sel.blend_of = FLOOR, served, None, {}, ()
    return record
