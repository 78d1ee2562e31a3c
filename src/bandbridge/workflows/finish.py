"""The end of a training run (:func:`finish_run`): its summary, the comparisons (learner_best.py,
held_out.py), ``model/best`` placed as workflows/best.py decides with its fallback to the zero-shot
floor, and its check sample and expected-error model cut from the run's validation data."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bandbridge.bundle import load_bundle
from bandbridge.data.found_groups import group_counts
from bandbridge.errors import BandbridgeError
from bandbridge.evaluation.check_sample import make_check_sample
from bandbridge.fileio import atomic_write_bytes
from bandbridge.learners.select import choice_of
from bandbridge.spec import BUNDLE_META, FLOOR_DIR, read_meta
from bandbridge.workflows import best as model_best
from bandbridge.workflows import groups, held_out, learner_best
from bandbridge.workflows.held_out import RECORD as HELD_OUT
from bandbridge.workflows.trust import add_confidence, floor_and_guard, give_floor


def finish_run(run, trainer, fit_seconds: float, interrupted: str | None = None, again=None) -> None:
    """The run's end (rank 0, after the fit): ``summary.json``; the learner weighed against the
    network and the network held out by source (``again``: runner.train, for the folds); then
    ``model/best`` placed as they decide (workflows/best.py), with its floor, card, check sample
    and expected-error model. ``run``: runner.Run. ``interrupted`` (the signal and epoch): the fit
    was stopped — the end does at once what it can (no learner search, no held-out trainings: the
    floor stands in where those would have had to clear the network; no check sample or error
    model) and the card says how to finish the run."""
    summary = run_summary(run, trainer, fit_seconds)
    model_best.restore_network(run.run_dir)  # a resumed run is weighed with its network in place
    w = weigh(run, interrupted, again)
    kept = model_best.decide(w.learner, w.held)
    given = place_best(run, kept, w.stand_in)
    summary |= ({"learner": w.learner} if w.learner is not None else {}) | {"kept": kept}
    if w.interrupted:
        summary["interrupted"] = w.interrupted
    atomic_write_bytes(run.run_dir / "summary.json", json.dumps(summary, indent=1).encode())
    model_best.write_card(run.run_dir, kept, w.sections(), w.interrupted, summary_line(run.run_dir))
    if w.stopped is not None:
        print(f"interrupted while holding the network out: {summary_line(run.run_dir)}; "
              f"{model_best.how_to_finish(run.run_dir)}", flush=True)
        raise w.stopped
    if not w.interrupted:
        trust_best(run, kept, given)


@dataclass
class Weighed:
    """What a run's end weighed: the learner comparison (its record and the writer of what
    stands in for the network), the held-out record, and an interruption met while holding the
    network out (``stopped``: raised again once ``model/best`` is placed)."""

    learner: dict | None = None
    stand_in: Callable[[Path], None] | None = None
    held: dict | None = None
    interrupted: str | None = None
    stopped: BaseException | None = None

    def sections(self) -> list[list[str]]:
        """The card's sections: the learner comparison's lines, then the held-out rule's."""
        return ([learner_best.card_lines(self.learner)] if self.learner is not None else []) + \
            ([held_out.card_lines(self.held)] if self.held is not None else [])


def run_summary(run, trainer, fit_seconds: float) -> dict:
    """``summary.json`` before the comparisons: epochs, validation at the start and end, the
    start, the split's groups and, with groups, the table per group (printed)."""
    t, run_dir = run.cfg.train, run.run_dir
    start_file = run_dir / "val_start.json"
    summary = {"epochs": trainer.current_epoch, "global_step": trainer.global_step,
               "fit_seconds": round(fit_seconds, 1), "precision": run.precision,
               "val_start": json.loads(start_file.read_text()) if start_file.exists() else None,
               "val_end": {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")},
               "starts_as_linear_baseline": run.baseline is not None,
               "monitor": f"{t.monitor} ({t.monitor_mode})"}
    if not run.trains_network:
        summary["network"] = ("not trained: validation cannot see other scenes, so model/best is the "
                              "constant or linear map whatever a network scores (train.network: always "
                              "trains one)")
    anchor = _anchor(run)
    if anchor.get("kind") == "learner":
        summary["start"] = f"the {anchor['chosen']} learner chosen on the training split"
    if not run.cyclegan:
        summary["split_groups"] = group_counts(run.dm.pairs) | ({"blind": run.blind} if run.blind else {})
    if run.worst is not None and run.worst.base:
        table = summary["groups"] = groups.group_table(run.worst, best_info(run_dir).get("epoch"))
        w = max([28, *map(len, table)])
        print("\n".join(["validation L1 per held-out group (model units; ratio < 1: better than the anchor):",
                         *(f"  {g:{w}s} anchor {r['anchor']:.4f}  best {r['best']:.4f}  ratio {r['ratio']:.3f}"
                           for g, r in table.items())]), flush=True)
    return summary


def _anchor(run) -> dict:
    """The run's start as ``baseline.json`` records it (``{}``: none)."""
    return (run.baseline or {}).get("anchor") or {}


def weigh(run, interrupted: str | None, again) -> Weighed:
    """The learner against the network on validation, then — where the network still stands —
    the network held out source by source (:class:`Weighed`). Nothing is moved here."""
    w = Weighed(interrupted=interrupted)
    w.learner, w.stand_in = weigh_learner(run, interrupted)
    w.held, w.interrupted, w.stopped = weigh_held_out(run, w.learner, interrupted, again)
    if w.held is None:  # an earlier end's record (a resumed run) no longer says what model/best is
        (run.run_dir / HELD_OUT).unlink(missing_ok=True)
    return w


def weigh_learner(run, interrupted: str | None) -> tuple[dict | None, Callable | None]:
    """``(record, stand_in)`` of the selection core's learner against the network
    (learner_best.weigh), or ``(None, None)`` where it does not run."""
    cfg, dm, t = run.cfg, run.dm, run.cfg.train
    if run.cyclegan or cfg.task.kind != "translation" or not (t.learner_minutes > 0 or run.blind):
        return None, None
    if interrupted and run.learner is None and not run.blind:
        print("model/best: the learner comparison did not run (interrupted before it: its "
              "search takes up to train.learner_minutes)", flush=True)
        return None, None
    learner, stand_in = learner_best.weigh(
        run.run_dir, cfg, dm.pairs["train"], dm.pairs.get("val", []), 60 * t.learner_minutes,
        run.blind, run.learner, run.choice, refit_kept=not interrupted)
    if learner is not None:
        print(learner_best.describe(learner), flush=True)
    return learner, stand_in


def weigh_held_out(run, learner: dict | None, interrupted: str | None, again
                   ) -> tuple[dict | None, str | None, BaseException | None]:
    """``(record, interrupted, stopped)`` of the network held out source by source
    (held_out.weigh) where the learner comparison kept it and the rule applies: not run when the
    run was interrupted; a stop inside a fold is caught, recorded as not run and handed back
    (``stopped``) so that ``model/best`` is still placed as the rule says."""
    cfg, run_dir = run.cfg, run.run_dir
    best, _ = model_best.folders(run_dir)
    if model_best.decide(learner, None) != "network" or not model_best.has_network(best):
        return None, interrupted, None
    why = held_out.applies(cfg, best.exists() and falls_back(run))
    if why is not None:
        if len(cfg.data.sources) > 1:
            print(f"network held out: no ({why})", flush=True)
        return None, interrupted, None
    if interrupted:
        return held_out.not_run(run_dir, cfg, "the run was interrupted"), interrupted, None
    parent = _anchor(run) if run.learner is not None else learner
    try:
        return held_out.weigh(run_dir, cfg, again, choice_of(parent)), interrupted, None
    except (KeyboardInterrupt, SystemExit) as e:  # stopped inside a fold: this run's end
        return (held_out.not_run(run_dir, cfg, "the run was interrupted while holding it out"),
                "Ctrl-C or SIGTERM while holding the network out", e)


def place_best(run, kept: str, stand_in: Callable | None):
    """``model/best`` made what was ``kept`` (best.place), with its fallback to the floor where
    the run gives one (:func:`falls_back`). Returns the bundle the fallback was given to (read
    once, for the check sample and error model), or None."""
    dm, best = run.dm, model_best.folders(run.run_dir)[0]
    given: list = []

    def fallback(folder: Path) -> None:  # images unlike every training source get the floor
        floor, guard = floor_and_guard(dm.pairs["train"], dm.pairs.get("val", []), _anchor(run).get("floor"))
        given.append(give_floor(folder, floor, guard, dm.pairs.get("val", [])))
        print(f"fallback: images unlike every training source get the zero-shot floor (the "
              f"{floor['kind']} linear map of {len(floor['sources'])} source(s)), and files of "
              "another sensor (a radiometric depth no training file had) get it wholly "
              f"(model/best/{FLOOR_DIR})", flush=True)
    fall = best.exists() and falls_back(run)
    model_best.place(run.run_dir, kept, stand_in, fallback if fall else None)
    return given[0] if given else None


def trust_best(run, kept: str, given) -> None:
    """``model/best``'s check sample (the precision gate's: one real validation tile) and, for a
    paired translation that is not the floor, its expected-error model (``predict
    --confidence``), both from the validation data the run holds. ``given``: the bundle the
    fallback was given to (:func:`place_best`), reused unless the floor replaced it."""
    cfg, dm, best = run.cfg, run.dm, model_best.folders(run.run_dir)[0]
    if not best.exists():
        return
    b = given if kept != "floor" else None
    with suppress(BandbridgeError):  # no validation split: prediction then trusts fp32 only
        b = load_bundle(best) if b is None else b
        make_check_sample(best, pairs=None if run.cyclegan else dm.pairs.get("val", []), bundle=b)
    if not run.cyclegan and cfg.task.kind == "translation" and dm.pairs.get("val") and kept != "floor":
        add_confidence(best, dm.pairs["val"], bundle=b)


def falls_back(run) -> bool:
    """Whether the run's bundle gets the per-image fallback to the floor: a paired translation
    on the input's own grid, with the guard not switched off."""
    cfg = run.cfg
    return (not run.cyclegan and cfg.task.kind == "translation" and cfg.task.scale == 1
            and cfg.model.generator.guard is not False and bool(run.dm.pairs.get("train")))


def best_info(run_dir: Path) -> dict:
    """``model/best``'s ``model.yaml`` (epoch, val_metrics, …), or ``{}`` before there is one."""
    f = Path(run_dir) / "model" / "best" / BUNDLE_META
    return read_meta(f) if f.exists() else {}


def summary_line(run_dir: Path) -> str:
    """Validation at the start and at the end of a run, in one line (model values, range 1)."""
    f = Path(run_dir) / "summary.json"
    if not f.exists():
        return "no summary.json (the run did not finish)"
    s = json.loads(f.read_text())
    a, b = s.get("val_start") or {}, s.get("val_end") or {}
    best = best_info(run_dir)
    c = best.get("val_metrics") or {}
    parts = [f"{k} {a[k]:.4f} → {b['val/' + k]:.4f}" + (f" (model/best {c['val/' + k]:.4f})" if "val/" + k in c else "")
             for k in ("l1", "psnr", "w1") if k in a and "val/" + k in b]
    start = f"start = {s['start']}" if s.get("start") else \
        "start = the linear baseline fitted on the training split" \
        if s.get("starts_as_linear_baseline") else "start = the untrained network"
    which = "the start itself" if best.get("epoch") == -1 else f"epoch {best.get('epoch')}"
    held = Path(run_dir) / HELD_OUT
    record = json.loads(held.read_text()) if held.exists() else {}
    if s.get("kept", record.get("kept")) == "floor":
        which = ("the zero-shot floor: the network was not held out (interrupted)" if record.get("not_run")
                 else "the zero-shot floor: the network broke the held-out rule (held_out.json)")
    monitor, _, mode = (s.get("monitor") or "").partition(" (")
    chose = (f", the {'highest' if mode.startswith('max') else 'lowest'} {monitor}"
             if monitor else "")  # why best's l1 can trail the last epoch's: another metric chose
    stopped = f"; interrupted ({s['interrupted']})" if s.get("interrupted") else ""
    return (f"validation {', '.join(parts)} (start → last epoch; {start}; model/best = {which}"
            f"{chose}; {s['epochs']} epochs, {s['fit_seconds'] / 60:.1f} min{stopped})")
