"""Give a saved model what says where to trust it, after the fact: the never-worse guard (the
range of statistics of the images its config trained on, data/domain.py) and the expected-error
model of ``predict --confidence`` (evaluation/confidence.py, fitted on its validation split),
written into its ``model.yaml``.

Runs set both themselves (``start.with_guard`` at the start, ``add_confidence`` at the end);
this is for bundles made before, and for measuring a model with and without a guard.
"""

from __future__ import annotations

from pathlib import Path

from bandbridge.bundle import edit_meta, load_model
from bandbridge.errors import BandbridgeError


def fit_guard(model: str | Path, data_root: str | None = None) -> dict:
    """The guard of ``model`` (a bundle folder or bundled name) from the training and
    validation split of the data its config names (under ``data_root``)."""
    from bandbridge.data.datamodule import PairedDataModule
    from bandbridge.data.domain import domain_guard
    from bandbridge.evaluation.evaluate import with_data
    b = load_model(model)
    if not b.config.model.generator.learner:
        raise BandbridgeError(f"{model}: the guard fades a residual toward its anchor; this "
                              "model has no anchor")
    cfg = with_data(b.config, data_root, None)
    dm = PairedDataModule(cfg)
    pairs = dm.load_split("train") + dm.load_split("val")
    return domain_guard(pairs, cfg.data.augment)


def write_guard(folder: str | Path, guard: dict | bool) -> None:
    """Set (a dict), or switch off (False), the guard in ``folder``'s model.yaml."""
    edit_meta(folder, lambda meta: meta["config"]["model"]["generator"]["args"].update(guard=guard))


def add_confidence(folder: str | Path, val: list | None = None, data_root: str | None = None,
                   bundle=None) -> dict:
    """Fit the bundle in ``folder``'s expected-error model on ``val`` (default: its config's
    validation split under ``data_root``) and write it into its model.yaml; returns it.
    ``bundle``: the one in ``folder`` where the caller has loaded it."""
    from bandbridge.evaluation.confidence import fit_confidence
    b = load_model(folder) if bundle is None else bundle
    if val is None:
        from bandbridge.data.datamodule import PairedDataModule
        from bandbridge.evaluation.evaluate import with_data
        val = PairedDataModule(with_data(b.config, data_root, None)).load_split("val")
    if not val or b.config.task.kind != "translation":
        raise BandbridgeError(f"{folder}: the expected-error model is fitted on a translation "
                              "model's validation images; this model has none")
    conf = fit_confidence(b, val)
    edit_meta(folder, lambda meta: meta.update(confidence=conf))
    return conf
