"""What a run prints: Lightning's progress bar counted as a person counts, without its
adverts, the run folder announced before any work, and everything else a library says (its
info lines, its warnings) in the run's ``train.log`` instead of the terminal."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.callbacks import TQDMProgressBar


class _NoAdverts(logging.Filter):
    """Drop Lightning's tips for its cloud services and its hardware roll call ("GPU available:
    False, used: False", TPU, HPU): nothing a user of this tool acts on."""

    HARDWARE = ("GPU available:", "TPU available:", "HPU available:", "IPU available:")

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return "💡 Tip" not in msg and not msg.startswith(self.HARDWARE)


RUN_DIR_ENV = "BANDBRIDGE_RUN_DIR"  # shared with DDP worker processes, which re-run the CLI
EPOCHS_BY_TIME = 10_000  # max_epochs of runs that the clock stops (train.max_minutes)
LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "py.warnings")


class EpochBar(TQDMProgressBar):
    """Lightning's bar, read as a person counts: "Epoch 6/6" on the last of six epochs (not
    "Epoch 5"), and no ``v_num`` field (the logger's version folder, cut to "oard")."""

    class _Counted:
        """The trainer, with ``current_epoch`` as the bar should print it ("6/6")."""

        def __init__(self, trainer, minutes: float | None):
            self._t = trainer
            n = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
            if minutes and (n is None or n >= EPOCHS_BY_TIME):  # the clock, not a count, stops it
                of = f" (stops after {minutes:g} min)"
            else:
                of = f"/{n}" if n else ""
            self.current_epoch = f"{trainer.current_epoch + 1}{of}"

        def __getattr__(self, name: str):
            return getattr(self._t, name)

    def __init__(self, minutes: float | None = None) -> None:
        super().__init__()
        self.minutes = minutes  # a time-bounded run (adapt's fine-tunes): no epoch count to show

    def on_train_epoch_start(self, trainer, *args) -> None:
        # Lightning's own method prints f"Epoch {trainer.current_epoch}"; setting the text after
        # it would flash "Epoch 0" first.
        super().on_train_epoch_start(self._Counted(trainer, self.minutes), *args)

    def get_metrics(self, trainer, module) -> dict:
        items = super().get_metrics(trainer, module)
        items.pop("v_num", None)
        return items


def quiet_lightning() -> None:
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _NoAdverts) for f in lg.filters):
            lg.addFilter(_NoAdverts())


@contextmanager
def libraries_to_log(path: Path):
    """While the block runs, Lightning's info lines ("Using bfloat16 Automatic Mixed Precision",
    "`Trainer.fit` stopped: …") and every Python warning go to ``path`` (the run's ``train.log``),
    not the terminal: nothing there is for the user to act on, and the log keeps it all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = [(lg, lg.handlers[:], lg.propagate, lg.level)
             for lg in map(logging.getLogger, LIBRARY_LOGGERS)]
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # once per place, into the log
        logging.captureWarnings(True)
        for lg, *_ in saved:
            lg.handlers, lg.propagate = [handler], False
            lg.setLevel(min(lg.level or logging.INFO, logging.INFO))
        try:
            yield
        finally:
            logging.captureWarnings(False)
            for lg, handlers, propagate, level in saved:
                lg.handlers, lg.propagate, lg.level = handlers, propagate, level
            handler.close()


def announce_run_dir(run_dir: Path, resumed: bool) -> None:
    """Say where the run writes before any work (once, on rank 0), so that after Ctrl-C a user
    knows what to pass to ``--resume``."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only
    if getattr(rank_zero_only, "rank", 0) == 0:
        print(f"run folder: {run_dir} ({'resumed' if resumed else 'new'}; after Ctrl-C, "
              f"`bandbridge train --resume {run_dir}` continues from its last finished epoch)",
              flush=True)
