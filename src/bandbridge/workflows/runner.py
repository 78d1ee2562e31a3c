"""Set up and run training: run folder, data, the start, Trainer, callbacks, resume and
fine-tuning; the end of a run is ``finish.py``'s.

A workflow, not part of ``training/``: besides fitting the LightningModule, a run fits the
anchor (``learners/``), validates the start, bundles the model and cuts the precision gate's
check sample from it (``evaluation/check_sample.py``)."""

from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from bandbridge.bundle import save_bundle
from bandbridge.config import Config, config_to_yaml
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.data.found_groups import group_members
from bandbridge.data.seen import from_pairs
from bandbridge.data.unpaired import UnpairedDataModule
from bandbridge.errors import BandbridgeError
from bandbridge.fileio import atomic_paths, atomic_write_bytes
from bandbridge.learners.baselines import SAMPLE_PIXELS, init_anchor
from bandbridge.learners.select import Selection
from bandbridge.machine import cpu_has_bf16
from bandbridge.training.cyclegan import CycleGANTask
from bandbridge.training.paired import GANTask
from bandbridge.workflows import groups, learner_anchor, learner_best
from bandbridge.workflows.console import (RUN_DIR_ENV, EpochBar, announce_run_dir, libraries_to_log,
                                           quiet_lightning)
from bandbridge.workflows.finish import finish_run
from bandbridge.workflows.start import find_checkpoint, init_weights, keep_residual_if_better, with_guard


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file and rename: a crash never leaves half a file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_paths([Path(path)]) as (tmp,):  # hidden .partial file; leftovers cleaned
            super().save_checkpoint(checkpoint, tmp, storage_options)


class BundleExport(Callback):
    """Keep ``model/last`` (every epoch) and ``model/best`` (by the monitored metric) bundles."""

    def __init__(self, run_dir: Path, cfg: Config, channels: tuple[int, int],
                 baseline: dict | None = None, seen: dict | None = None):
        self.run_dir, self.cfg, self.channels = run_dir, cfg, channels
        self.baseline = baseline  # the anchor's linear fit, kept in every bundle
        self.seen = seen  # the values the training inputs held (data/seen.py), kept in every bundle
        self.best: float | None = None

    def _write(self, module: GANTask, tag: str, epoch: int, step: int, metrics: dict) -> None:
        save_bundle(self.run_dir / "model" / tag, module.G, self.cfg, *self.channels, epoch=epoch,
                    global_step=step, val_metrics=metrics,
                    **({"baseline": self.baseline} if self.baseline else {}),
                    **({"inputs_seen": self.seen} if self.seen else {}))

    def _save(self, trainer, module: GANTask, tag: str) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self._write(module, tag, trainer.current_epoch, trainer.global_step, metrics)

    def save_start(self, module: GANTask, start: dict[str, float]) -> None:
        """An anchored generator's starting point *is* the linear baseline: make it the first
        ``best``, so training can only replace it by a model that validates better."""
        key = self.cfg.train.monitor.removeprefix("val/")
        if self.baseline is None or key not in start:
            return
        self.best = float(start[key])
        self._write(module, "best", -1, 0, {f"val/{k}": v for k, v in start.items()})

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        value = trainer.callback_metrics.get(self.cfg.train.monitor)
        if value is None:
            return
        v = float(value)
        better = self.best is None or (v > self.best if self.cfg.train.monitor_mode == "max"
                                       else v < self.best)
        if better:
            self.best = v
            self._save(trainer, module, "best")

    def on_train_epoch_end(self, trainer, module) -> None:
        if trainer.is_global_zero:
            self._save(trainer, module, "last")

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best")


def resolve_precision(p: str, accelerator: str) -> str:
    """'auto' → bf16-mixed on CPUs with native bf16 (AMX/AVX512-BF16) or on GPUs, else 32."""
    if p != "auto":
        return p
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32"
    return "bf16-mixed" if cpu_has_bf16() else "32"


def new_run_dir(cfg: Config, runs_root: str) -> Path:
    """A new folder for a run of ``cfg``: ``runs_root/<name>/<timestamp>`` (not yet created)."""
    d = Path(runs_root) / cfg.name / time.strftime("%Y%m%d-%H%M%S")
    while d.exists():  # two runs in one second
        d = d.with_name(d.name + "x")
    return d


@contextmanager
def shared_with_workers(run_dir: Path) -> Iterator[None]:
    """While a run trains, its folder in ``RUN_DIR_ENV``: DDP's worker processes re-run the
    command and find it there. Restored when the run ends."""
    before = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = before


def _trainer(**kw) -> L.Trainer:
    """``L.Trainer(**kw)``; Lightning's refusals of accelerator/devices/strategy become one line."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    quiet_lightning()
    try:
        return L.Trainer(**kw)
    except (MisconfigurationException, ValueError) as e:
        raise BandbridgeError(f"--accelerator/--devices/--strategy/--num-nodes: "
                              f"{str(e).splitlines()[0]}") from None


@dataclass
class Run:
    """A run prepared to train: its config as the start decided it, folder, data, module and the
    anchor's starting fit (``baseline``, kept in every bundle)."""

    cfg: Config
    run_dir: Path
    ckpt_path: Path | None  # resume from here
    dm: PairedDataModule | UnpairedDataModule
    module: GANTask | CycleGANTask
    baseline: dict | None
    blind: str | None  # why validation cannot see other scenes (one group), or None
    learner: Selection | None  # learner: select — the choice the residual is trained on top of
    worst: groups.WorstGroup | None  # model selection by the worst held-out group
    precision: str  # Lightning's, resolved for this machine
    trains_network: bool = True  # False: the one-group rule keeps a map, train.network is auto
    choice: tuple[str, tuple[str, ...]] | None = None  # a parent run's learner choice (a held-out fold)

    @property
    def cyclegan(self) -> bool:  # unpaired: two generators, no anchor (no pairs)
        return self.cfg.model.kind == "cyclegan"


def train(cfg: Config, runs_root: str = "runs", resume: str | None = None,
          init_from: str | None = None, fast_dev_run: bool = False, announce: bool = True,
          run_dir: Path | None = None, choice: tuple[str, tuple[str, ...]] | None = None) -> Path:
    """Train ``cfg`` and end the run (finish.py: what ``model/best`` is); returns the run folder:
    ``run_dir``, else a new one under ``runs_root`` (or the one a re-entering DDP worker is
    given). ``resume`` continues a run exactly; ``announce`` prints the run folder and its
    ``--resume`` command (not for a folder the caller removes); ``choice``: a parent run's
    learner choice, refitted here with no search (a held-out fold). A fit stopped by Ctrl-C or
    SIGTERM still ends the run with what it has (``model/best`` and its card), then the
    interruption goes on to the caller."""
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    ckpt_path = find_checkpoint(resume) if resume else None
    if ckpt_path is not None:
        run_dir = ckpt_path.parent.parent
    elif run_dir is None:
        run_dir = Path(os.environ[RUN_DIR_ENV]) if os.environ.get(RUN_DIR_ENV) else new_run_dir(cfg, runs_root)
    with shared_with_workers(run_dir):
        if announce:
            announce_run_dir(run_dir, resume is not None)
        run = prepare_run(cfg, run_dir, ckpt_path, init_from, choice)
        make_trainer, export = build_trainer(run, fast_dev_run)
        accelerator = run.cfg.train.accelerator  # refused before Lightning does it with a traceback
        if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            raise BandbridgeError(f"--accelerator {accelerator}: no CUDA GPU is available here "
                                  f"(torch {torch.__version__}); use --accelerator cpu or auto")
        if accelerator == "mps" and not torch.backends.mps.is_available():
            raise BandbridgeError("--accelerator mps: no Apple GPU is available here; use cpu or auto")
        with libraries_to_log(run_dir / "train.log"):  # Lightning's lines and warnings: the run's log
            trainer = make_trainer()
            if trainer.is_global_zero:
                write_start(run, trainer, export)
            t0 = time.time()
            with warnings.catch_warnings():  # library deprecations and resume chatter: nothing to act on
                for cat in (DeprecationWarning, FutureWarning):
                    warnings.filterwarnings("ignore", category=cat)
                warnings.filterwarnings("ignore", message=".*exists and is not empty")
                stopped = None
                try:
                    if run.trains_network:
                        trainer.fit(run.module, datamodule=run.dm, ckpt_path=ckpt_path)
                except (KeyboardInterrupt, SystemExit) as e:  # Lightning ends an interrupted fit
                    if not trainer.is_global_zero:  # in sys.exit(1) once it has torn down
                        raise
                    stopped = e
        if trainer.is_global_zero:
            if stopped is not None:
                end_interrupted(run, trainer, stopped, time.time() - t0, run_dir)
            finish_run(run, trainer, time.time() - t0, again=train)
    return run_dir


def end_interrupted(run: Run, trainer: L.Trainer, stopped: BaseException, seconds: float,
                    run_dir: Path) -> None:
    """End a run whose fit was interrupted as far as it can at once (finish.finish_run with
    ``interrupted``), say what ``model/best`` is and how to finish, then raise the interruption
    again. A second Ctrl-C stops the end itself (Lightning ignores SIGINT after the first)."""
    import signal
    from bandbridge.fileio import Terminated
    cause = stopped if isinstance(stopped, KeyboardInterrupt) else stopped.__context__
    what = "SIGTERM" if isinstance(cause, Terminated) or type(stopped).__name__ == "SIGTERMException" \
        else "Ctrl-C"
    with suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"interrupted ({what}) in epoch {trainer.current_epoch}: ending the run with what it has "
          "(Ctrl-C again stops at once)", flush=True)
    finish_run(run, trainer, seconds, interrupted=f"{what} in epoch {trainer.current_epoch}")
    from bandbridge.workflows.finish import summary_line
    from bandbridge.workflows.best import how_to_finish
    print(f"{summary_line(run_dir)}; model/best/MODEL_CARD.md says what it is; {how_to_finish(run_dir)}",
          flush=True)
    raise stopped


def prepare_run(cfg: Config, run_dir: Path, ckpt_path: Path | None, init_from: str | None,
                choice: tuple[str, tuple[str, ...]] | None = None) -> Run:
    """The data, the start (guard, anchor, ``init_from``'s weights) and model selection's groups;
    ``choice``: a parent run's learner choice for the anchor (no search)."""
    resume = ckpt_path is not None
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    cyclegan = cfg.model.kind == "cyclegan"
    dm = UnpairedDataModule(cfg) if cyclegan else PairedDataModule(cfg)
    dm.setup("fit")
    channels = dm.channels
    if not cyclegan:  # predict's reading line for each source, its CHECK phrases included
        from bandbridge.inference.core.interpret import reading_lines
        for line in reading_lines(dm.pairs["train"] + dm.pairs.get("val", [])):
            print(line, flush=True)
    # the groups validation holds (one group is a warning, not a validation)
    blind = None if cyclegan else learner_best.announce_groups(cfg, dm.pairs)
    # the rule keeps the constant or linear map whatever a network scores: none is trained
    skip = bool(blind) and cfg.train.network == "auto" and not resume
    if skip:
        print("no network is trained: model/best will be the constant or linear map whatever it "
              "scored (--set train.network=always trains one anyway, kept as model/network)", flush=True)
    if not resume and not cyclegan:  # never-worse: the range of statistics training sees
        cfg = with_guard(cfg, dm.pairs["train"] + dm.pairs.get("val", []))
    task = CycleGANTask if cyclegan else GANTask
    if init_from:  # refused before the learner search, not minutes after it
        d = cfg.model_dump(mode="json")
        if cfg.model.generator.selects_learner:  # not chosen yet: a linear map stands in (its
            d["model"]["generator"]["learner"] = "linear"  # tensors are refitted, never loaded)
        init_weights(task(d, *channels), init_from, check_only=True)
    learner = record = None  # learner: select — the residual on top of the core's choice
    if not resume and not cyclegan and cfg.model.generator.selects_learner:
        # the search is bounded by the run's own clock too: at most half of train.max_minutes
        budget = 60 * min(cfg.train.learner_minutes, cfg.train.max_minutes / 2 if cfg.train.max_minutes
                          else cfg.train.learner_minutes)
        cfg, learner, record = learner_anchor.fit_learner_anchor(cfg, dm.pairs["train"], budget, blind,
                                                                 choice)
    module = task(cfg.model_dump(mode="json"), *channels)
    baseline = _start(module, dm, cfg, run_dir, learner, record, resume, cyclegan)
    if init_from:
        init_weights(module, init_from)
        if baseline is not None:
            keep_residual_if_better(module, dm)
    # two or more validation sources (or groups of one source): best = the worst one's best epoch
    key = groups.group_key(dm.pairs.get("val", []), cfg.train.group_by)
    if baseline is not None:
        cfg = groups.grouped(cfg, groups.val_groups(dm.pairs.get("val", []), key), True)
    worst = groups.WorstGroup(dm.val_dataloader, module.sensors, key=key) \
        if cfg.train.monitor == groups.MONITOR else None
    if worst is not None and not resume:  # the start (the anchor) is what each ratio is taken to
        worst.base = groups.group_l1(module.G, dm.val_dataloader(), module.sensors, key)
    if worst is not None:
        what = "sources" if key == "source" else "groups of its one source"
        print(f"model selection: the worst of {len(worst.base)} held-out {what} "
              f"({groups.MONITOR}, 1.0 = the anchor)", flush=True)
    return Run(cfg, run_dir, ckpt_path, dm, module, baseline, blind, learner, worst,
               resolve_precision(cfg.train.precision, cfg.train.accelerator), not skip, choice)


def _start(module, dm, cfg: Config, run_dir: Path, learner, record: dict | None, resume: bool,
           cyclegan: bool) -> dict | None:
    """The baseline record of the generator's start: the core's ``learner`` set as its anchor; else
    on a fresh start the linear fit on the training split (a baseline-anchored generator starts as
    it); on a resume the run's own ``baseline.json``."""
    if learner is not None:
        module.G.learner.load_state_dict(learner.fitted.module(*dm.channels).state_dict())  # models/anchored.py
        return learner_anchor.learner_baseline(dm.pairs["train"], record)
    if resume:
        f = run_dir / "baseline.json"
        return json.loads(f.read_text()) if f.exists() else None
    lin = None if cyclegan else init_anchor(module.G, dm.pairs["train"], dm.pairs.get("val"))
    baseline = None if lin is None else {
        # (Ci + 1) × Ct: weights per input band, then the bias
        "linear": getattr(lin, "linear_coef", lin.coef).tolist(),
        "fitted_on": f"train split of {sorted({p.source.name for p in dm.pairs['train']})} "
                     f"({len(dm.pairs['train'])} images), least squares on up to "
                     f"{SAMPLE_PIXELS} valid pixels balanced by source"}
    if lin is not None and lin.name == "ridge-context":
        baseline["anchor"] = lin.record(cfg.data.sources[0].target)
    return baseline


def build_trainer(run: Run, fast_dev_run: bool = False) -> tuple[Callable[[], L.Trainer], BundleExport]:
    """The Trainer (built when called: inside the run's log) and the bundle export among its
    callbacks."""
    t, run_dir = run.cfg.train, run.run_dir
    # A GAN step leaves one network without gradients (critic-only steps, a frozen critic in the
    # generator step): plain DDP would wait for them forever.
    strategy = "ddp_find_unused_parameters_true" if t.strategy == "ddp" else t.strategy
    export = BundleExport(run_dir, run.cfg, run.dm.channels, run.baseline,
                          None if run.cyclegan else from_pairs(run.dm.pairs["train"]))
    callbacks = [*([run.worst] if run.worst else []),
        # best.ckpt first, so that the epoch's last.ckpt (written after it) holds its updated state:
        # a resumed run then knows the best so far and keeps one best.ckpt over the whole run.
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=t.monitor,
                        mode=t.monitor_mode, save_top_k=1, auto_insert_metric_name=False,
                        enable_version_counter=False),
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="epoch{epoch:03d}",
                        auto_insert_metric_name=False, every_n_epochs=1,
                        save_top_k=t.keep_checkpoints, monitor="epoch" if t.keep_checkpoints > 0 else None,
                        mode="max",
                        save_last=True),
        export, EpochBar(t.max_minutes),
    ]
    return lambda: _trainer(
        default_root_dir=run_dir, max_epochs=t.max_epochs, max_steps=t.max_steps,
        accelerator=t.accelerator, devices=t.devices, strategy=strategy,
        num_nodes=t.num_nodes, precision=run.precision, callbacks=callbacks,
        logger=TensorBoardLogger(save_dir=str(run_dir), name="", version="tensorboard"),
        max_time=timedelta(minutes=t.max_minutes) if t.max_minutes else None,
        log_every_n_steps=t.log_every_n_steps, check_val_every_n_epoch=t.val_every_n_epochs,
        plugins=[AtomicCheckpointIO()], num_sanity_val_steps=0, use_distributed_sampler=False,
        fast_dev_run=fast_dev_run, enable_model_summary=False), export


def write_start(run: Run, trainer: L.Trainer, export: BundleExport) -> None:
    """The run's config, anchor fit and groups, and (a new run) the start's validation: every
    run shows what training gained, and an anchored start is the first ``model/best``."""
    run_dir, dm = run.run_dir, run.dm
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(run_dir / "config.yaml", config_to_yaml(run.cfg).encode())
    if run.baseline is not None and run.ckpt_path is None:
        atomic_write_bytes(run_dir / "baseline.json", json.dumps(run.baseline).encode())
    if not run.cyclegan:  # which items validation held out together (data/found_groups.py)
        atomic_write_bytes(run_dir / "groups.json", json.dumps(group_members(dm.pairs), indent=1).encode())
    if run.ckpt_path is None:
        start = run.module.start_metrics(dm)
        if run.worst is not None:
            start["worst_ratio"] = 1.0
        trainer.logger.log_metrics({f"val/{k}": v for k, v in start.items()}, step=0)
        atomic_write_bytes(run_dir / "val_start.json", json.dumps(start, indent=1).encode())
        export.save_start(run.module, start)


