"""What both LightningModules share: the learning-rate schedules and one optimiser step.

Manual optimisation (``automatic_optimization = False``): each network steps where the task's
equations say so, through :func:`optimizer_step`; the critics hold still while a generator
steps (:func:`frozen`)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import lightning as L
from torch import Tensor, nn


def linear_decay(n_epochs: int, n_epochs_decay: int):
    """pix2pix schedule: LR factor 1 for ``n_epochs``, then linearly to 0 over ``n_epochs_decay``."""
    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)
    return factor


def cosine_decay(n_epochs: int):
    """Cosine schedule: LR factor ½(1 + cos(π·min(epoch, n)/n)), from 1 to 0 at epoch n."""
    def factor(epoch: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, n_epochs) / max(n_epochs, 1)))
    return factor


def optimizer_step(task: L.LightningModule, opt, loss: Tensor) -> None:
    """One step of ``opt`` on ``loss``: gradients cleared (freed), back-propagated the way
    Lightning does it (precision, DDP), applied."""
    opt.zero_grad(set_to_none=True)
    task.manual_backward(loss)
    opt.step()


@contextmanager
def frozen(nets: list[nn.Module]) -> Iterator[None]:
    """The critics hold still while a generator steps: no gradients for their weights."""
    for n in nets:
        n.requires_grad_(False)
    try:
        yield
    finally:
        for n in nets:
            n.requires_grad_(True)
