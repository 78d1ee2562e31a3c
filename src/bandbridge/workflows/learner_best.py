"""A training run's last step: the learner-selection core's choice is one more candidate for
``model/best``, beside the trained network.

On the training split the core chooses a small-data learner by spatial cross-validation and refits
it. The validation split — which neither the choice nor the refit saw — then decides between it
and the network's ``model/best``: the learner is kept when its mean absolute error over the
validation images is lower *and* no validation source scores more than ``policy.WITHIN`` worse than
with the network (``select.never_worse``). A learner kept is refitted on the training *and*
validation pixels; this module only measures and hands back the writer of what replaces the
network (workflows/best.py places it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bandbridge.bundle import load_bundle, save_bundle
from bandbridge.config import Config
from bandbridge.fileio import atomic_write_bytes
from bandbridge.models.anchored import Anchored
from bandbridge.spec import BUNDLE_META
from bandbridge.workflows.best import learner_config
from bandbridge.policy import WITHIN, one_group, percent


def val_mae(net, pairs: list, sensors: list[str]) -> dict[str, float]:
    """Mean over each validation source's images of the MAE over valid pixels (model values):
    ``{source: MAE}``, and ``"all"``: the mean over every image."""
    per: dict[str, list[float]] = {}
    with torch.inference_mode():
        for p in pairs:
            h, w = p.x.shape[1:]
            ctx = torch.tensor([p.context(h / 2, w / 2, sensors)]) if p.stats is not None else None
            y = net(p.x[None].float(), ctx)[0].clamp(0, 1)
            per.setdefault(p.source.name, []).append(float((y - p.y).abs()[:, p.mask[0]].mean()))
    return {k: float(np.mean(v)) for k, v in per.items()} | {"all": float(np.mean(sum(per.values(), [])))}


def weigh(run_dir: Path, cfg: Config, train: list, val: list, budget_s: float | None = 300.0,
          blind: str | None = None, sel=None, choice: tuple[str, tuple[str, ...]] | None = None,
          refit_kept: bool = True):
    """:func:`compare` on the network in ``run_dir/model/best``, its record also written to
    ``learner.json``; ``(None, None)`` without validation. ``blind``: the run's line saying
    validation cannot see other scenes; ``sel``: the core's Selection already made on ``train`` (a
    ``learner: select`` run's); ``choice``: a parent run's choice to refit (a held-out fold)."""
    best = run_dir / "model" / "best"
    if not (val or blind) or not (best / BUNDLE_META).exists():
        return None, None
    record, stand_in = compare(best, cfg, train, val, budget_s, blind, sel, choice, refit_kept)
    atomic_write_bytes(run_dir / "learner.json", json.dumps(record, indent=1).encode())
    return record, stand_in


def compare(best: Path, cfg: Config, train: list, val: list, budget_s: float | None,
            blind: str | None = None, sel=None, choice: tuple[str, tuple[str, ...]] | None = None,
            refit_kept: bool = True):
    """The core's learner (chosen on ``train``, or ``choice`` refitted there) against the bundle
    in ``best`` on ``val``. With ``blind`` (validation cannot see other scenes) only the constant
    or the linear map may be chosen, and it is kept. Returns ``(record, stand_in)``: what was
    compared and kept, and for a kept learner (refitted on train + val unless ``refit_kept`` is
    false) or the anchor alone the function that writes it in the network's place (else None)."""
    from bandbridge.data.found_groups import group_counts
    from bandbridge.learners.folds import pair_pixels
    from bandbridge.learners.record import LearnerRecord
    from bandbridge.learners.select import choose, given, never_worse
    if sel is None and choice is not None and not blind:
        sel = given(*choice, pair_pixels(train)[0])
    if sel is None:
        sel = choose(pair_pixels(train)[0], budget_s=budget_s, allowed=one_group(bool(blind)))
    bundle = load_bundle(best)
    ci, ct = bundle.in_channels, bundle.out_channels
    # a best that is still the run's start is its anchor plus a residual of zeros: hand back the
    # anchor alone rather than run a network that adds nothing
    start = bundle.info.get("epoch") == -1 and isinstance(bundle.generator, Anchored)
    nan = {"all": float("nan")}
    net = val_mae(bundle.generator.eval(), val, cfg.sensors) if val else nan
    lrn = val_mae(sel.fitted.module(ci, ct), val, cfg.sensors) if val else nan
    # as the run's own selection with several validation sources: never worse on any of them
    # (beyond the policy.WITHIN the project's never-worse checks allow)
    better, worst = never_worse(lrn, net)
    keep = "learner" if blind or better else "network"
    rule = ("the parent run's choice (its search on every source), refitted on this run's "
            "training split" if sel.rule == "given" else
            "chosen by spatial cross-validation on the training split")
    record = LearnerRecord.of(sel, rule, cfg.data.sources[0].target).to_dict()
    record |= {"val_mae": {"learner": lrn["all"], "network": net["all"]},
               "val_by_source": {"learner": lrn, "network": net}, "worst_ratio": worst, "kept": keep,
               "kept_by": "the learner when its validation MAE (mean over validation images, "
                          f"model values) is lower and no validation source scores more than "
                          f"{percent(WITHIN)} worse than with the network"}
    record["groups"] = group_counts({"train": train, "val": val})
    if blind:
        record["blind"] = blind
        record["kept_by"] = ("the constant or the linear map (chosen by blocks of rows), whatever "
                          "validation says: it scores near-copies of the training items; "
                          "--within-scene (train.within_scene) if you will predict these same "
                          "scenes")
    if keep == "network" and start:
        record["kept"] = "anchor"
        return record, writer(bundle, cfg, *anchor_alone(bundle), record)
    if keep == "network":
        return record, None
    fitted, record["refitted_on"] = _kept_fit(sel, train, val, refit_kept)
    # whichever it is, model/best becomes what the record says was kept
    return record, writer(bundle, cfg, fitted.module(ci, ct), fitted.generator(), record)


def _kept_fit(sel, train: list, val: list, refit_kept: bool):
    """``(fitted, what it was fitted on)`` of the kept learner: the floor as chosen, the learner as
    fitted on train when the run was interrupted (not ``refit_kept``), else refitted on train + val."""
    from bandbridge.learners.folds import pair_pixels
    from bandbridge.learners.select import FLOOR, refit
    if sel.chosen == FLOOR:  # chosen for sources never seen: kept as chosen, not refitted
        return sel.fitted, "train pixels (the floor, chosen leave-one-source-out)"
    if not refit_kept:
        return sel.fitted, "train pixels (the run was interrupted: not refitted on validation)"
    return (refit(sel.chosen, sel.blend_of, pair_pixels(train + val)[0], student=bool(sel.student.get("kept"))),
            "train + validation pixels")


def writer(bundle, cfg: Config, generator, args: dict, record: dict):
    """The function that writes the learner ``generator`` (``args``: its ``model.generator``)
    into a folder with the network ``bundle``'s metadata, but not its validation metrics."""
    def write(best: Path) -> None:
        save_bundle(best, generator, learner_config(cfg, args), bundle.in_channels, bundle.out_channels,
                    **(bundle.carried() | {"epoch": -1, "learner": record, "val_metrics": {}}))
    return write


def anchor_alone(bundle):
    """``(module, model.generator)`` of an anchored network's learner without its residual: the
    fitted learner of ``learner: select``, or the run's linear or ridge map."""
    from bandbridge.learners.saved import anchor_generator
    return bundle.generator.learner.eval(), anchor_generator(bundle.config.model.generator.learner)


def card_lines(record: dict) -> list[str]:
    """The card's lines on the learner comparison: why, what was traded, the groups, both
    validation errors and every learner's out-of-fold MAE (bold: the learner kept, when one was)."""
    v, kept = record["val_mae"], record["kept"]
    why = (f"Why: {record['blind']} — {record['kept_by']}." if record.get("blind") else
           f"Rule: {record['kept_by']}.")
    held = ", ".join(f"{s} {n}" for s, n in (record.get("groups") or {}).items())
    from bandbridge.learners.record import traded_line
    traded = traded_line(record.get("traded"), "model values")
    lines = [why, "", *traded, *([""] if traded else []),
             *([f"Groups of near-copies per split (the run's groups.json): {held}.", ""] if held else []),
             f"Validation MAE (model values): the core's learner {v['learner']:.4g}, the network "
             f"{v['network']:.4g}.", "", "| learner | out-of-fold MAE (training split) |", "|---|---|"]
    lines += [f"| {'**' + k + '**' if kept == 'learner' and k == record['chosen'] else k} | {m:.4g} |"
              for k, m in sorted(record["oof_mae"].items(), key=lambda kv: kv[1])]
    if not record["oof_mae"]:
        lines.append(f"| **{record['chosen']}** | — ({record['rule']}) |")
    return lines


def describe(record: dict) -> str:
    """One line for the run's end."""
    v = record["val_mae"]
    if record["kept"] == "anchor":
        return (f"model/best: the network's anchor alone — no epoch beat it on validation (MAE "
                f"{v['network']:.4g}; the core's learner {v['learner']:.4g})")
    if record.get("blind"):
        return (f"model/best: the {record['chosen']} map — {record['blind']} (validation MAE "
                f"{v['learner']:.4g} vs {v['network']:.4g} for the network, both on near-copies)")
    how = (f"chosen by {len(record['folds'])}-fold spatial cross-validation on the training split"
           if record["folds"] else record["rule"])
    return (f"model/best: the {record['kept']} — validation MAE {v['learner']:.4g} for the "
            f"learner ({record['chosen']}, {how}) vs {v['network']:.4g} for the network")


def scene_rule(cfg: Config, train: list, val: list) -> tuple[str | None, str | None]:
    """``(line to print before training, blind)``: the line says how many groups the split
    holds when validation cannot see other scenes (data/found_groups.py); ``blind`` is that
    line when model/best must then be the constant or the linear map — not when the user said
    the scenes are the ones to predict (``train.within_scene``) or split by bands of rows
    (``split.regions``: within-scene by design)."""
    from bandbridge.data.found_groups import blind_validation
    line = blind_validation(train, val)
    if line is None or cfg.task.kind != "translation":
        return None, None
    if cfg.train.within_scene or any(s.split.regions for s in cfg.data.sources):
        why = "train.within_scene" if cfg.train.within_scene else "split.regions"
        return f"{line} ({why}: model selection within the scenes, as asked)", None
    return (f"{line} — model/best will be the constant or the linear map (--within-scene if you "
            "will predict these same scenes)"), line


def announce_groups(cfg: Config, pairs: dict[str, list]) -> str | None:
    """Print each source's groups per split and, when validation cannot see other scenes, the
    one line that says so; returns ``blind`` (see :func:`scene_rule`)."""
    from bandbridge.data.found_groups import group_lines
    for line in group_lines(pairs):
        print(line, flush=True)
    line, blind = scene_rule(cfg, pairs["train"], pairs.get("val", []))
    if line:
        print(line, flush=True)
    return blind
