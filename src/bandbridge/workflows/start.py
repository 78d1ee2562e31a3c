"""Where a training run starts: the checkpoint it resumes or fine-tunes from, the weights it
takes from another model (``--init-from``: the anchor refitted on this run's pixels, not carried;
the residual kept only if it validates better than the anchor alone), and the never-worse
guard's range of the training statistics."""

from __future__ import annotations

from pathlib import Path

import torch

from bandbridge.bundle import load_bundle
from bandbridge.config import Config
from bandbridge.data.datamodule import PairedDataModule
from bandbridge.errors import BandbridgeError
from bandbridge.metrics import evaluate_loader
from bandbridge.models.anchor import zero_residual
from bandbridge.models.anchored import Anchored, legacy_keys
from bandbridge.workflows.best import LAST_CKPT
from bandbridge.training.paired import GANTask


def find_checkpoint(run: str | Path) -> Path:
    """A run folder's ``checkpoints/last.ckpt``, or a ``.ckpt`` path itself."""
    p = Path(run)
    if p.is_file() and p.suffix == ".ckpt":
        return p
    ck = p / LAST_CKPT
    if not ck.exists():
        raise BandbridgeError(f"{p}: no checkpoints/last.ckpt here; pass a run folder "
                              "(runs/<name>/<timestamp>) or a .ckpt file")
    return ck


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise BandbridgeError(f"{path}: cannot read checkpoint ({e})") from None


def with_guard(cfg: Config, pairs: list) -> Config:
    """``cfg`` with its anchored generator's never-worse guard set to the range of ``pairs``'
    statistics (data/domain.py); unchanged without an anchor or with ``guard: false``."""
    g = cfg.model.generator
    if not g.learner or g.guard is False or not pairs:
        return cfg
    from bandbridge.data.domain import domain_guard
    gen = g.model_copy(update={"guard": domain_guard(pairs, cfg.data.augment)})
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"generator": gen})})


def keep_residual_if_better(module: GANTask, dm: PairedDataModule) -> None:
    """A fine-tune never starts worse than its refitted anchor: if the source's residual on top
    of this run's anchor validates worse (L1) than the anchor alone, the residual starts from
    zero (its last layer zeroed; the features it learnt stay)."""
    with_r = evaluate_loader(module.G, dm.val_dataloader(), module.sensors)["l1"]
    saved = {k: v.clone() for k, v in module.G.state_dict().items()}
    zero_residual(module.G)
    without = evaluate_loader(module.G, dm.val_dataloader(), module.sensors)["l1"]
    if with_r <= without:
        module.G.load_state_dict(saved)
    print(f"--init-from: validation L1 {with_r:.4f} with the source's residual, {without:.4f} "
          f"with the refitted anchor alone: starting from "
          f"{'the source residual' if with_r <= without else 'the anchor alone'}")


def init_weights(module: GANTask, source: str, check_only: bool = False) -> None:
    """Fine-tune from a Lightning checkpoint (G and D) or a model bundle (G only). Tensors whose
    shape differs (another scale's upsampler, another band count's first layer) stay freshly
    initialised and are listed; at least half of the generator's tensors must fit.
    ``check_only``: refuse a source that does not fit, load nothing (a run checks before its
    learner search, which can take minutes)."""
    p = Path(source)
    if p.suffix == ".ckpt" or (p.is_dir() and (p / "checkpoints").exists()):
        state = load_checkpoint(find_checkpoint(p))["state_dict"]
        state = {k: v for k, v in state.items() if k.startswith(("G.", "D."))}
    else:  # a bundle folder, or a bundled model's name (rgb2nir-s2)
        from bandbridge.spec import resolve_model_folder
        p = p if p.exists() else resolve_model_folder(source)
        state = {f"G.{k}": v for k, v in load_bundle(p).generator.state_dict().items()}
    own = module.state_dict()
    # An anchored generator keeps the anchor just fitted on this run's own training pixels: the
    # source's fit belongs to the source's data (the residual is what carries over).
    refit = ("G.learner.",) if isinstance(module.G, Anchored) else ()
    if refit:  # a 0.1.0 checkpoint's anchor sat inside the network
        legacy_keys(state, "G.")
    fits = {k: v for k, v in state.items()
            if k in own and own[k].shape == v.shape and not (refit and k.startswith(refit))}
    g_own = [k for k in own if k.startswith("G.")]
    if sum(k.startswith("G.") for k in fits) * 2 < len(g_own):
        raise BandbridgeError(f"{p}: its generator does not fit this model (only "
                              f"{sum(k.startswith('G.') for k in fits)} of {len(g_own)} tensors "
                              "match by name and shape); fine-tune from a model of the same "
                              "generator and size")
    if check_only:
        return
    module.load_state_dict(fits, strict=False)
    given = ("G.", "D.") if any(k.startswith("D.") for k in state) else ("G.",)  # a bundle: G only
    fresh = sorted(k for k in own if k.startswith(given) and k not in fits
                   and not (refit and k.startswith(refit)))  # the anchor is refitted, not fresh
    if fresh:
        print(f"--init-from {p}: {len(fits)} tensors loaded; {len(fresh)} of another shape or "
              f"absent start fresh ({', '.join(fresh[:4])}{', …' if len(fresh) > 4 else ''})")
