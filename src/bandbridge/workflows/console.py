"""What a run prints: Lightning's progress bar counted as a person counts, without its
adverts, and the run folder announced before any work."""

from __future__ import annotations

import logging
from pathlib import Path

from lightning.pytorch.callbacks import TQDMProgressBar


class _NoAdverts(logging.Filter):
    """Drop Lightning's tips for its cloud services and its hardware roll call ("GPU available:
    False, used: False", TPU, HPU): nothing a user of this tool acts on."""

    HARDWARE = ("GPU available:", "TPU available:", "HPU available:", "IPU available:")

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return "💡 Tip" not in msg and not msg.startswith(self.HARDWARE)


class EpochBar(TQDMProgressBar):
    """Lightning's bar, read as a person counts: "Epoch 6/6" on the last of six epochs (not
    "Epoch 5"), and no ``v_num`` field (the logger's version folder, cut to "oard")."""

    class _Counted:
        """The trainer, with ``current_epoch`` as the bar should print it ("6/6")."""

        def __init__(self, trainer):
            self._t = trainer
            of = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
            self.current_epoch = f"{trainer.current_epoch + 1}{of}"

        def __getattr__(self, name: str):
            return getattr(self._t, name)

    def on_train_epoch_start(self, trainer, *args) -> None:
        # Lightning's own method prints f"Epoch {trainer.current_epoch}"; setting the text after
        # it would flash "Epoch 0" first.
        super().on_train_epoch_start(self._Counted(trainer), *args)

    def get_metrics(self, trainer, module) -> dict:
        items = super().get_metrics(trainer, module)
        items.pop("v_num", None)
        return items


def quiet_lightning() -> None:
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _NoAdverts) for f in lg.filters):
            lg.addFilter(_NoAdverts())


def announce_run_dir(run_dir: Path, resumed: bool) -> None:
    """Say where the run writes before any work (once, on rank 0), so that after Ctrl-C a user
    knows what to pass to ``--resume``."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only
    if getattr(rank_zero_only, "rank", 0) == 0:
        print(f"run folder: {run_dir} ({'resumed' if resumed else 'new'}; after Ctrl-C, "
              f"`bandbridge train --resume {run_dir}` continues from its last finished epoch)",
              flush=True)
