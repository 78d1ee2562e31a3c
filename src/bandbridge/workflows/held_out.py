"""Issue 49's rule for the network a ``train`` run keeps: with two or more training sources,
``model/best`` keeps a network only if, trained without each source in turn and scored on every
image of it, no held-out source scores more than :data:`WITHIN` worse than the zero-shot floor
chosen on the other sources (``evaluate``'s ``floor``); otherwise ``model/best`` becomes the
run's floor (the bundle ``finish.py`` wrote into ``model/best/floor``) and the network moves to
``model/network``. The learner under the network passed its own test already (``learner_anchor``,
one refit per source); this one trains the network once more per source, with the run's config.
Each fold run lives in ``held_out/``; ``held_out.json`` keeps every fold and the decision.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bandbridge.bands import judged_by_realism
from bandbridge.config import Config, build_config
from bandbridge.policy import IMAGE_MAE_WITHIN, WITHIN
from bandbridge.realism import SHIP_AXES, image_rule
from bandbridge.fileio import atomic_write_bytes, safe_name
from bandbridge.spec import BUNDLE_META, FLOOR_DIR, read_meta
from bandbridge.workflows.finish import HELD_OUT as RECORD



def train(cfg: Config, runs_root: str = "runs", resume: str | None = None,
          init_from: str | None = None) -> Path:
    """``runner.train``, then the rule on the network it kept (:func:`hold_out_network`)."""
    from bandbridge.workflows import runner
    run_dir = runner.train(cfg, runs_root, resume=resume, init_from=init_from)
    hold_out_network(run_dir, cfg)
    return run_dir


def has_network(best: Path) -> bool:
    """Whether the bundle in ``best`` is (or holds) a network, not a per-pixel learner alone."""
    from bandbridge.generators import LEARNERS
    return (best / BUNDLE_META).exists() and \
        read_meta(best / BUNDLE_META)["config"]["model"]["generator"]["name"] not in LEARNERS


def applies(cfg: Config, best: Path) -> str | None:
    """Why the rule does not run on this run (None: it runs)."""
    if len(cfg.data.sources) < 2:
        return "one training source: nothing to hold out"
    if cfg.task.kind != "translation" or cfg.task.scale != 1 or cfg.model.kind == "cyclegan":
        return "the rule is for paired translation"
    if not has_network(best):
        return "model/best is a per-pixel learner, held out source by source already"
    if not (best / FLOOR_DIR / BUNDLE_META).exists():
        return "model/best holds no floor to fall back to"
    if not cfg.train.network_held_out:
        return "train.network_held_out is false: the network was not held out source by source"
    return None


def fold_config(cfg: Config, i: int) -> Config:
    """``cfg`` without its ``i``-th source (each other source keeps its own split), the rule off."""
    d = cfg.model_dump(mode="json")
    name = d["data"]["sources"][i]["name"]
    d["name"] = f"{d['name']}-without-{safe_name(name, 'source')}"
    d["data"]["sources"] = [s for j, s in enumerate(d["data"]["sources"]) if j != i]
    d["train"]["network_held_out"] = False
    return build_config(d)


def held_out(cfg: Config, i: int) -> dict:
    """The ``i``-th source as a held-out source: every image of it is scored."""
    from bandbridge.workflows.loso import ALL_TEST
    return {**cfg.model_dump(mode="json")["data"]["sources"][i], "split": dict(ALL_TEST)}


def hold_out_network(run_dir: Path, cfg: Config) -> dict | None:
    """Train ``cfg`` once without each source, score each fold's ``model/best`` on its held-out
    source beside the floor chosen on the others, and keep ``run_dir``'s network only when no
    source is more than ``WITHIN`` worse than that floor (else ``model/best`` is the floor).
    Prints a line per fold and the decision; returns the record (None: the rule did not run)."""
    from bandbridge.evaluation.evaluate import evaluate
    from bandbridge.workflows import runner
    if os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) != "0":
        return None  # a DDP worker: rank 0 holds out
    best = Path(run_dir) / "model" / "best"
    src = cfg.data.sources[0]
    image_like = judged_by_realism(src.input.bands, src.target.bands)
    why = applies(cfg, best)
    if why is not None:
        if has_network(best) and len(cfg.data.sources) > 1:
            print(f"network held out: no ({why})", flush=True)
        return None
    names = [s.name for s in cfg.data.sources]
    print(f"network held out: {len(names)} more runs, each without one source ({', '.join(names)}), "
          "each scored on the source it did not see (train.network_held_out=false skips this)", flush=True)
    folds = []
    for i, name in enumerate(names):
        fold = fold_config(cfg, i)
        fold_dir = Path(run_dir) / "held_out" / safe_name(name, "source")
        os.environ.pop(runner.RUN_DIR_ENV, None)  # the fold is a run of its own, not this one's worker
        fold_run = runner.train(fold, run_dir=fold_dir, announce=False)
        res = evaluate(fold_run, split="test", recipes=[held_out(cfg, i)], out_dir=fold_dir / "scores")
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
        _floor_as_best(best)
    _card(best, record)
    if broke:
        worst = max(folds, key=lambda r: r["vs_floor"])
        print(f"network held out: broke on {', '.join(broke)} (worst {worst['source']} "
              f"{worst['vs_floor']:+.1%} against the floor): model/best is the floor; the network "
              "is kept in model/network", flush=True)
    else:
        print(f"network held out: kept ({rule_text(image_like)})", flush=True)
    atomic_write_bytes(Path(run_dir) / RECORD, json.dumps(record, indent=1).encode())
    return record


def rule_text(image_like: bool) -> str:
    """The rule a run's network is kept by, in words: by error for physical bands; for images
    (thermal, optical from SAR) by realism beside error (``realism.SHIP_AXES``)."""
    if image_like:
        return ("the network is kept only when, trained without each source, it looks more real than "
                f"the floor on every held-out source (lower SWD) and its MAE is at most {IMAGE_MAE_WITHIN:g}× "
                "the floor's")
    return (f"the network is kept only when, trained without each source, no held-out source scores "
            f"more than {WITHIN:.0%} worse than the floor chosen on the others")


def broken(folds: list[dict], image_like: bool) -> list[str]:
    """The held-out sources on which the network fails :func:`rule_text`'s rule."""
    if image_like:
        return [r["source"] for r in folds if image_rule(
            {"mae": r["model"], "swd": r["model_swd"]}, {"mae": r["floor"], "swd": r["floor_swd"]},
            axes=SHIP_AXES)]
    return [r["source"] for r in folds if r["vs_floor"] > WITHIN]


def _floor_as_best(best: Path) -> None:
    """``model/best`` ← its floor; the network bundle → ``model/network`` (without the floor).
    A ``model/network`` already there is this run's own network, put back into ``model/best``
    by a resumed run (``learner_best``): it is replaced by the same network."""
    import shutil
    network = best.parent / "network"
    if network.exists():
        shutil.rmtree(network)
    best.rename(network)
    (network / FLOOR_DIR).rename(best)


def _card(best: Path, record: dict) -> None:
    """``model/best``'s card gains (or replaces) its section on the rule: every fold, what stayed
    and which sources broke it."""
    head = "## The network held out source by source"
    swd = "model_swd" in (record["folds"] or [{}])[0]
    kept = ("**the network**: it passed on every held-out source"
            if record["kept"] == "network" else
            f"**the zero-shot floor**: the network broke the rule on {', '.join(record['broke'])} "
            "(it is in `model/network`)")
    lines = [head, "", f"Rule: {record['rule']}. Kept: {kept}.", "",
             "| held out | images | the network trained without it | floor | plain linear | network vs the floor |"
             + (" network SWD | floor SWD |" if swd else ""), "|---|---|---|---|---|---|" + ("---|---|" if swd else "")]
    lines += [f"| {r['source']} | {r['images']} | {r['model']:.4g} | {r['floor']:.4g} | {r['linear']:.4g} "
              f"| {r['vs_floor']:+.1%} |" + (f" {r['model_swd']:.3f} | {r['floor_swd']:.3f} |" if swd else "")
              for r in record["folds"]]
    card = best / "MODEL_CARD.md"
    text = card.read_text().split(head)[0].rstrip("\n") if card.exists() else "# model/best"
    atomic_write_bytes(card, (text + "\n\n" + "\n".join(lines) + "\n").encode())
