"""The end of a training run, one step (workflows/best.py decides and places ``model/best``): its
summary (start and end of validation, groups), the learner that may replace the network
(learner_best.py), the network held out source by source (held_out.py), the zero-shot floor
images unlike every training source fall back to (models/fallback.py), the precision gate's
check sample and the expected-error model, both cut from the validation data the run already
holds, and the one line a run's summary reads as."""

from __future__ import annotations

import json
from pathlib import Path

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
    ``model/best`` placed as they decide, with its floor, card, check sample and expected-error
    model. ``run``: runner.Run. ``interrupted`` (the signal and epoch): the fit was stopped — the
    end does at once what it can (no learner search, no held-out trainings: the floor stands in
    where those would have had to clear the network; no check sample or error model) and the
    card says how to finish the run."""
    cfg, run_dir, dm, t = run.cfg, run.run_dir, run.dm, run.cfg.train
    stopped: BaseException | None = None  # an interruption inside the held-out folds
    end = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    start_file = run_dir / "val_start.json"
    summary = {"epochs": trainer.current_epoch, "global_step": trainer.global_step,
               "fit_seconds": round(fit_seconds, 1), "precision": run.precision,
               "val_start": json.loads(start_file.read_text()) if start_file.exists() else None,
               "val_end": end, "starts_as_linear_baseline": run.baseline is not None,
               "monitor": f"{t.monitor} ({t.monitor_mode})"}
    if not run.trains_network:
        summary["network"] = ("not trained: validation cannot see other scenes, so model/best is the "
                              "constant or linear map whatever a network scores (train.network: always "
                              "trains one)")
    anchor = (run.baseline or {}).get("anchor") or {}
    if anchor.get("kind") == "learner":
        summary["start"] = f"the {anchor['chosen']} learner chosen on the training split"
    if not run.cyclegan:
        summary["split_groups"] = group_counts(dm.pairs) | ({"blind": run.blind} if run.blind else {})
    if run.worst is not None and run.worst.base:
        summary["groups"] = groups.group_table(run.worst, best_info(run_dir).get("epoch"))
        print(groups.format_table(summary["groups"]), flush=True)
    best_dir = run_dir / "model" / "best"
    model_best.restore_network(run_dir)  # a resumed run is weighed with its network in place
    learner, stand_in, sections = None, None, []
    if not run.cyclegan and cfg.task.kind == "translation" and (t.learner_minutes > 0 or run.blind):
        if interrupted and run.learner is None and not run.blind:
            print("model/best: the learner comparison did not run (interrupted before it: its "
                  "search takes up to train.learner_minutes)", flush=True)
        else:
            learner, stand_in = learner_best.weigh(
                run_dir, cfg, dm.pairs["train"], dm.pairs.get("val", []), 60 * t.learner_minutes,
                run.blind, run.learner, run.choice, refit_kept=not interrupted)
        if learner is not None:
            summary["learner"] = learner
            sections.append(learner_best.card_lines(learner))
            print(learner_best.describe(learner), flush=True)
    fall = best_dir.exists() and falls_back(run)
    held = None
    if model_best.decide(learner, None) == "network" and model_best.has_network(best_dir):
        why = held_out.applies(cfg, fall)
        if why is None and interrupted:
            held = held_out.not_run(run_dir, cfg, "the run was interrupted")
        elif why is None:
            parent = anchor if run.learner is not None else learner
            try:
                held = held_out.weigh(run_dir, cfg, again, choice_of(parent))
            except (KeyboardInterrupt, SystemExit) as e:  # stopped inside a fold: this run's end
                stopped = e  # still places model/best as the rule says, then the stop goes on
                interrupted = "Ctrl-C or SIGTERM while holding the network out"
                held = held_out.not_run(run_dir, cfg, "the run was interrupted while holding it out")
        elif len(cfg.data.sources) > 1:
            print(f"network held out: no ({why})", flush=True)
    if held is not None:
        sections.append(held_out.card_lines(held))
    else:  # an earlier end's record (a resumed run) no longer says what model/best is
        (run_dir / HELD_OUT).unlink(missing_ok=True)
    kept = model_best.decide(learner, held)
    given: list = []  # model/best with its fallback, read once for the check sample and error model

    def fallback(best: Path) -> None:  # images unlike every training source get the floor
        floor, guard = floor_and_guard(dm.pairs["train"], dm.pairs.get("val", []), anchor.get("floor"))
        given.append(give_floor(best, floor, guard, dm.pairs.get("val", [])))
        print(f"fallback: images unlike every training source get the zero-shot floor (the "
              f"{floor['kind']} linear map of {len(floor['sources'])} source(s)), and files of "
              "another sensor (a radiometric depth no training file had) get it wholly "
              f"(model/best/{FLOOR_DIR})", flush=True)
    model_best.place(run_dir, kept, stand_in, fallback if fall else None)
    summary["kept"] = kept
    if interrupted:
        summary["interrupted"] = interrupted
    atomic_write_bytes(run_dir / "summary.json", json.dumps(summary, indent=1).encode())
    model_best.write_card(run_dir, kept, sections, interrupted, summary_line(run_dir))
    if stopped is not None:
        print(f"interrupted while holding the network out: {summary_line(run_dir)}; "
              f"{model_best.how_to_finish(run_dir)}", flush=True)
        raise stopped
    if not best_dir.exists() or interrupted:
        return
    b = given[0] if given and kept != "floor" else None
    try:  # the precision gate's sample: one real validation tile
        b = load_bundle(best_dir) if b is None else b
        make_check_sample(best_dir, pairs=None if run.cyclegan else dm.pairs.get("val", []), bundle=b)
    except BandbridgeError:  # no validation split: prediction then trusts fp32 only
        pass
    if not run.cyclegan and cfg.task.kind == "translation" and dm.pairs.get("val") and kept != "floor":
        add_confidence(best_dir, dm.pairs["val"], bundle=b)  # predict --confidence


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
