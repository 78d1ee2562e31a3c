"""Issue 49's rule for the network a ``train`` run keeps: with two or more training sources,
``model/best`` keeps a network only if, trained without each source in turn and scored on every
image of it, no held-out source scores more than :data:`policy.WITHIN` worse than the zero-shot floor
chosen on the other sources (``evaluate``'s ``floor``); otherwise ``model/best`` becomes the
run's floor and the network moves to ``model/network`` (workflows/best.py places it; this module
only measures). The learner under the network passed its own test already (``learner_anchor``,
one refit per source); this one trains the network once more per source, with the run's config
and its learner choice refitted (no second search).
Each fold run lives in ``held_out/``; ``held_out.json`` keeps every fold and the decision.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bandbridge.bands import judged_by_realism
from bandbridge.config import Config, build_config
from bandbridge.policy import IMAGE_MAE_WITHIN, broke_floor, held_out_rule
from bandbridge.realism import SHIP_AXES, image_rule
from bandbridge.fileio import atomic_write_bytes, safe_name
from bandbridge.workflows.console import RUN_DIR_ENV

RECORD = "held_out.json"  # every fold and the decision, in the run folder
# a source all of whose images are scored (a held-out source: nothing of it trains or validates)
ALL_TEST = {"train": [], "val": [], "test": [], "val_fraction": 0.0, "test_fraction": 0.0,
            "group": None, "groups_file": None, "file": None, "default": "test"}


def applies(cfg: Config, falls_back: bool) -> str | None:
    """Why the rule does not run on this run's network (None: it runs); ``falls_back``: whether
    ``model/best`` gets a floor to fall back to (finish.falls_back)."""
    if len(cfg.data.sources) < 2:
        return "one training source: nothing to hold out"
    if cfg.task.kind != "translation" or cfg.task.scale != 1 or cfg.model.kind == "cyclegan":
        return "the rule is for paired translation"
    if not falls_back:
        return "model/best holds no floor to fall back to"
    if not cfg.train.network_held_out:
        return "train.network_held_out is false: the network was not held out source by source"
    return None


def weigh(run_dir: Path, cfg: Config, train_fold, choice=None) -> dict:
    """Train ``cfg`` once without each source (``train_fold(fold_cfg, run_dir=…, announce=False,
    choice=…)``: runner.train; ``choice``: the run's own learner choice, refitted in each fold
    rather than searched again) and score each fold's ``model/best`` on its held-out source
    beside the floor chosen on the others. Prints a line per fold and the decision, writes
    ``held_out.json`` and returns the record: ``kept`` is ``network`` when no source breaks
    :func:`rule_text`'s rule, else ``floor`` (workflows/best.py places it)."""
    from bandbridge.evaluation.evaluate import evaluate
    src = cfg.data.sources[0]
    image_like = judged_by_realism(src.input.bands, src.target.bands)
    names = [s.name for s in cfg.data.sources]
    print(f"network held out: {len(names)} more runs, each without one source ({', '.join(names)}), "
          "each scored on the source it did not see (train.network_held_out=false skips this)"
          + (f"; each fold refits the {choice[0]} learner this run chose" if choice else ""), flush=True)
    folds = []
    for i, name in enumerate(names):
        d = cfg.model_dump(mode="json")  # without the i-th source (each other keeps its split), the rule off
        held = {**d["data"]["sources"][i], "split": dict(ALL_TEST)}  # every image of it scored
        d["name"] = f"{d['name']}-without-{safe_name(name, 'source')}"
        d["data"]["sources"] = [s for j, s in enumerate(d["data"]["sources"]) if j != i]
        d["train"]["network_held_out"] = False
        fold = build_config(d)
        fold_dir = Path(run_dir) / "held_out" / safe_name(name, "source")
        os.environ.pop(RUN_DIR_ENV, None)  # the fold is a run of its own, not this one's worker
        fold_run = train_fold(fold, run_dir=fold_dir, announce=False, choice=choice)
        res = evaluate(fold_run, split="test", recipes=[held], out_dir=fold_dir / "scores")
        m = res.summary["methods"]
        row = {"source": name, "images": res.summary["protocol"]["images"], "model": m["model"]["mae"],
               "floor": m["floor"]["mae"], "linear": m["linear"]["mae"], "run": str(fold_dir)}
        row["vs_floor"] = row["model"] / row["floor"] - 1
        if image_like:  # the yardstick follows the use: realism beside error
            row |= {"model_swd": m["model"]["swd"], "floor_swd": m["floor"]["swd"]}
        folds.append(row)
        print(f"network held out: without {name}, on {name}: model {row['model']:.4g}, floor "
              f"{row['floor']:.4g} ({row['vs_floor']:+.1%})"
              + (f"; SWD {row['model_swd']:.3f} against {row['floor_swd']:.3f}" if image_like else ""),
              flush=True)
    broke = broken(folds, image_like)
    record = {"rule": rule_text(image_like), "folds": folds, "broke": broke,
              "kept": "network" if not broke else "floor"}
    if broke:
        worst = max(folds, key=lambda r: r["vs_floor"])
        print(f"network held out: broke on {', '.join(broke)} (worst {worst['source']} "
              f"{worst['vs_floor']:+.1%} against the floor): model/best is the floor; the network "
              "is kept in model/network", flush=True)
    else:
        print(f"network held out: kept ({rule_text(image_like)})", flush=True)
    atomic_write_bytes(Path(run_dir) / RECORD, json.dumps(record, indent=1).encode())
    return record


def not_run(run_dir: Path, cfg: Config, why: str) -> dict:
    """The record of a run that ended before its network could be held out (interrupted): the
    rule has not cleared it, so ``model/best`` is the floor until ``--resume`` ends the run."""
    src = cfg.data.sources[0]
    record = {"rule": rule_text(judged_by_realism(src.input.bands, src.target.bands)), "folds": [],
              "broke": [], "kept": "floor", "not_run": why}
    atomic_write_bytes(Path(run_dir) / RECORD, json.dumps(record, indent=1).encode())
    return record


def rule_text(image_like: bool) -> str:
    """The rule a run's network is kept by, in words: by error for physical bands; for images
    (thermal, optical from SAR) by realism beside error (``realism.SHIP_AXES``)."""
    if image_like:
        return ("the network is kept only when, trained without each source, it looks more real than "
                f"the floor on every held-out source (lower SWD) and its MAE is at most {IMAGE_MAE_WITHIN:g}× "
                "the floor's")
    return held_out_rule("the network is kept")


def broken(folds: list[dict], image_like: bool) -> list[str]:
    """The held-out sources on which the network fails :func:`rule_text`'s rule."""
    if image_like:
        return [r["source"] for r in folds if image_rule(
            {"mae": r["model"], "swd": r["model_swd"]}, {"mae": r["floor"], "swd": r["floor_swd"]},
            axes=SHIP_AXES)]
    return broke_floor({r["source"]: (r["model"], r["floor"]) for r in folds})


def card_lines(record: dict) -> list[str]:
    """The card's section on the rule: every fold, what stayed and which sources broke it."""
    if record.get("not_run"):
        kept = (f"**the zero-shot floor**: the network was not held out ({record['not_run']}; it is "
                "in `model/network`)")
    elif record["kept"] == "network":
        kept = "**the network**: it passed on every held-out source"
    else:
        kept = (f"**the zero-shot floor**: the network broke the rule on {', '.join(record['broke'])} "
                "(it is in `model/network`)")
    lines = [CARD_HEAD, "", f"Rule: {record['rule']}. Kept: {kept}."]
    return [*lines, "", *fold_table(record["folds"])] if record["folds"] else lines


def fold_table(rows: list[dict], column: tuple[str, str] = ("images", "images"),
               model: tuple[str, str] = ("the network trained without it", "network")) -> list[str]:
    """The one table of a rule held out source by source, in a run's card and a shipped bundle's
    (scripts/ship_rule.py): per held-out ``source``, the ``column`` (header, key), the model's MAE
    (``model``: its header and short name), the floor's and the plain linear map's, the model
    against the floor, and the SWD of both where the rows hold it."""
    swd = "model_swd" in rows[0]
    head = f"| held out | {column[0]} | {model[0]} | floor | plain linear | {model[1]} vs the floor |"
    lines = [head + (f" {model[1]} SWD | floor SWD |" if swd else ""), "|---" * (8 if swd else 6) + "|"]
    for r in rows:
        lines.append(f"| {r['source']} | {r[column[1]]} | {r['model']:.4g} | {r['floor']:.4g} | "
                     f"{r['linear']:.4g} | {r['model'] / r['floor'] - 1:+.1%} |"
                     + (f" {r['model_swd']:.3f} | {r['floor_swd']:.3f} |" if swd else ""))
    return lines


CARD_HEAD = "## The network held out source by source"
