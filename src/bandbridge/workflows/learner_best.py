"""A training run's last step: the learner-selection core's choice is one more candidate for
``model/best``, beside the trained network.

On the training split the core chooses a small-data learner by spatial cross-validation (sources
held out with two or more sources, whole groups of images with two or more groups, else blocks of
rows with a buffer) and refits it. The validation split — which neither the choice nor the refit
saw — then decides between it and the network's ``model/best``: the learner is kept when its
mean absolute error over the validation images is lower *and* no validation source scores more
than ``TOLERANCE`` (1 %, the project's never-worse tolerance) worse than with the network. A learner kept is refitted on the training *and* validation
pixels (the user gave both) and written as ``model/best``, the network's bundle moved to
``model/network``; ``learner.json`` and ``summary.json`` say what was compared and kept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from bandbridge.bundle import load_bundle, save_bundle
from bandbridge.config import Config
from bandbridge.fileio import atomic_write_bytes

LEARNER_TILE = 1024  # px: the tile a learner bundle predicts on
TOLERANCE = 0.01  # how much worse than the network a kept learner may score on one validation source


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


def learner_as_best(run_dir: Path, cfg: Config, train: list, val: list,
                    budget_s: float | None = 300.0) -> dict | None:
    """Compare the core's learner with ``run_dir/model/best`` on ``val``; keep the better as
    ``model/best`` (the network then moves to ``model/network``). Returns the record written to
    ``learner.json`` (None without validation)."""
    best = run_dir / "model" / "best"
    if not val or not (best / "model.yaml").exists():
        return None
    record = compare(best, cfg, train, val, budget_s, run_dir / "model" / "network")
    atomic_write_bytes(run_dir / "learner.json", json.dumps(record, indent=1).encode())
    return record


def compare(best: Path, cfg: Config, train: list, val: list, budget_s: float | None,
            network: Path) -> dict:
    """The core's learner (chosen on ``train``) against the bundle in ``best`` on ``val``; a
    learner that scores lower is refitted on train + val and written to ``best``, the bundle it
    replaces moved to ``network``. Returns what was compared and kept."""
    from bandbridge.learners.folds import pair_pixels
    from bandbridge.learners.select import choose, refit
    px, _ = pair_pixels(train)
    sel = choose(px, budget_s=budget_s)
    bundle = load_bundle(best)
    ci, ct = bundle.in_channels, bundle.out_channels
    net = val_mae(bundle.generator.eval(), val, cfg.sensors)
    lrn = val_mae(sel.fitted.make_generator(ci, ct), val, cfg.sensors)
    # as the run's own selection with several validation sources: never worse on any of them
    # (beyond the 1 % the project's never-worse checks allow)
    worst = max(lrn[k] / max(net[k], 1e-12) for k in net if k != "all")
    keep = "learner" if lrn["all"] < net["all"] and worst <= 1.0 + TOLERANCE else "network"
    record = {"chosen": sel.chosen, "blend_of": list(sel.blend_of), "oof_mae": sel.oof,
              "folds": sel.folds, "skipped": sel.skipped,
              "val_mae": {"learner": lrn["all"], "network": net["all"]},
              "val_by_source": {"learner": lrn, "network": net}, "worst_ratio": worst, "kept": keep,
              "rule": "the learner when its validation MAE (mean over validation images, model "
                      "values) is lower and no validation source scores more than 1 % worse "
                      "than with the network"}
    if keep == "learner":
        every, _ = pair_pixels(train + val)
        fitted = refit(sel.chosen, sel.blend_of, every)
        record["refitted_on"] = "train + validation pixels"
        shutil.rmtree(network, ignore_errors=True)
        shutil.copytree(best, network)
        info = bundle.carried()
        save_bundle(best, fitted.make_generator(ci, ct), learner_config(cfg, fitted.generator_args()), ci, ct,
                    **(info | {"epoch": -1, "learner": record}))
    return record


def learner_config(cfg: Config, generator: dict) -> Config:
    """``cfg`` with the learner ``generator`` (``{"name", "args"}``: ``Fitted.generator_args()``)
    as its generator and tiles overlapping by its context halo."""
    from bandbridge.config import build_config
    from bandbridge.spec import generator_halo
    d = cfg.model_dump(mode="json")
    d["model"]["generator"] = generator
    halo = generator_halo(generator["name"], generator["args"])
    # a per-pixel learner is exact once tiles overlap by its context halo on each side; smaller
    # tiles than a network's: the features of a whole 2048² tile cost 2.4 GB at its peak
    # (benchmarks/learner_kinds.py), 1024² tiles 0.75 GB at the same speed
    d["inference"]["overlap"] = 2 * (halo + 10)
    d["inference"]["tile"] = min(d["inference"]["tile"], LEARNER_TILE)
    return build_config(d)


def describe(record: dict) -> str:
    """One line for the run's end."""
    v = record["val_mae"]
    return (f"model/best: the {record['kept']} — validation MAE {v['learner']:.4g} for the "
            f"learner ({record['chosen']}, chosen by {len(record['folds'])}-fold spatial "
            f"cross-validation on the training split) vs {v['network']:.4g} for the network")
