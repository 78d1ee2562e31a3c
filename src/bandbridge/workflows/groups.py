"""Model selection that sees domain shift: validation scored per held-out group.

A validation split pooled over sources lets the largest or easiest source decide which epoch is
``best``; a model that gains there and loses on another source looks better. When a run's
validation holds two or more sources, each epoch is scored per source as its L1 relative to the
anchor's (the run's untrained start, a closed-form fit), and the epoch whose *worst* source ratio
is lowest is ``best``: ``val/worst_ratio`` (1.0 = the anchor; below 1 every source gained). With
one validation source and ``train.group_by: group``, its split's groups (scenes, sites,
sequences, categories: the group key the split kept together) take the sources' place when it
holds two or more. The start itself is the first ``best``, so a run hands back a trained epoch
only when it beats the anchor on every held-out group.
"""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader

from bandbridge.config import Config
from bandbridge.data.datasets import batch_context
from bandbridge.learners.select import worst_group_ratio

MONITOR = "val/worst_ratio"


@torch.no_grad()
def group_l1(generator: nn.Module, loader: DataLoader, sensors: list[str] | None = None,
             key: str = "source") -> dict[str, float]:
    """``{group: L1}``: mean absolute error over each group's valid validation pixels, in model
    units (range 1); a group is a sample's ``meta[key]`` (``source``, or ``group``:
    ``source/group key``)."""
    was_training = generator.training
    generator.eval()
    sums: dict[str, list[float]] = {}
    for batch in loader:
        pred = generator(batch["input"], batch_context(batch, sensors)).float()
        err = ((pred - batch["target"].float()).abs() * batch["mask"]).flatten(1).sum(1)
        n = batch["mask"].expand_as(pred).flatten(1).sum(1)
        for g, e, c in zip(batch["meta"][key], err.tolist(), n.tolist()):
            s = sums.setdefault(g, [0.0, 0.0])
            s[0] += e
            s[1] += c
    generator.train(was_training)
    return {g: e / c for g, (e, c) in sorted(sums.items()) if c > 0}


class WorstGroup(Callback):
    """Logs ``val/group/<source>/l1`` and ``val/worst_ratio`` after each validation, and keeps
    each epoch's per-source table (and the anchor's, across ``--resume``). Each epoch is scored
    by :func:`group_l1` — a second pass over the validation tiles, not the training step's
    validation — so that epochs and the anchor's base are measured the same way (fp32, outside
    the bf16 autocast a run may validate under): a ratio of two precisions would not be 1.0 at
    the start."""

    def __init__(self, loader_fn, sensors: list[str], base: dict[str, float] | None = None,
                 key: str = "source"):
        self.loader_fn, self.sensors, self.key = loader_fn, sensors, key
        self.base = base or {}
        self.epochs: dict[int, dict[str, float]] = {}

    def on_validation_epoch_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not self.base:
            return
        per = group_l1(module.G, self.loader_fn(), self.sensors, self.key)
        self.epochs[trainer.current_epoch] = per
        for g, v in per.items():
            module.log(f"val/group/{g}/l1", v, sync_dist=True)
        module.log(MONITOR, worst_group_ratio(per, self.base), sync_dist=True)

    def state_dict(self) -> dict:
        return {"base": self.base, "epochs": {str(k): v for k, v in self.epochs.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.base = state.get("base", {})
        self.epochs = {int(k): v for k, v in state.get("epochs", {}).items()}


def group_key(val_pairs, group_by: str = "group") -> str:
    """What validation is scored apart by: ``source`` when it holds two or more sources, else
    ``group_by`` (``group``: the one source's split groups; ``source``: one group, so
    :func:`grouped` keeps ``train.monitor``)."""
    return "source" if len({p.source.name for p in val_pairs}) >= 2 else group_by


def val_groups(val_pairs, key: str) -> set[str]:
    """The validation groups under ``key``: sources, or ``source/group`` (``LoadedPair.group``,
    the label the validation batches carry)."""
    return {p.source.name if key == "source" else p.group for p in val_pairs}


def grouped(cfg: Config, val_groups: set[str], anchored: bool) -> Config:
    """``cfg`` with ``best`` chosen by the worst held-out group when validation holds two or
    more groups of an anchored translation model (the anchor is what the ratio is taken to)."""
    if len(val_groups) < 2 or not anchored or cfg.task.kind != "translation":
        return cfg
    return cfg.model_copy(update={"train": cfg.train.model_copy(
        update={"monitor": MONITOR, "monitor_mode": "min"})})


def group_table(cb: WorstGroup, best_epoch: int | None) -> dict[str, dict[str, float]]:
    """``{source: {anchor, best, ratio}}`` validation L1 of the anchor and of ``best``."""
    best = cb.epochs.get(best_epoch, cb.base) if best_epoch not in (None, -1) else cb.base
    return {g: {"anchor": a, "best": best.get(g, a), "ratio": best.get(g, a) / max(a, 1e-12)}
            for g, a in cb.base.items()}
