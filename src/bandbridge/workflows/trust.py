"""Give a saved model what says where to trust it, after the fact: the never-worse guard (the
range of statistics of the images its config trained on, data/domain.py) and the expected-error
model of ``predict --confidence`` (evaluation/confidence.py, fitted on its validation split),
written into its ``model.yaml``.

Runs set both themselves (``start.with_guard`` at the start, ``add_confidence`` at the end);
this is for bundles made before, and for measuring a model with and without a guard.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from bandbridge.bundle import edit_meta, load_model
from bandbridge.errors import BandbridgeError
from bandbridge.workflows.best import learner_config, put_floor


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


def floor_and_guard(train: list, val: list, record: dict | None = None) -> tuple[dict, dict]:
    """The zero-shot floor (learners/floor.py: chosen leave-one-source-out on the pixels
    evaluation fits its ``floor`` on, refitted on all) of the training pairs ``train``, and the
    guard that falls back to it: one range of statistics per source of ``train + val``
    (``domain.source_ranges``). ``record``: the floor ``train`` already chose on those pixels
    (``baseline.anchor.floor``)."""
    from bandbridge.data.domain import source_ranges
    from bandbridge.learners.baselines import floor_pixels
    from bandbridge.learners.floor import choose_floor
    if record is None or "linear" not in record:
        record = choose_floor(floor_pixels(train)).record()
    sources = sorted({p.source.name for p in train})
    floor = {"kind": record["kind"], "linear": record["linear"], "sources": sources,
             "rule": record.get("rule", ""), "held_out_mae": record.get("held_out_mae", {})}
    return floor, source_ranges(train + val)


def write_floor(folder: str | Path, floor: dict | None, ranges: dict | None = None) -> None:
    """Set (a dict from :func:`floor_and_guard`) or remove (None) the floor the output falls back
    to in ``folder``'s model.yaml; ``ranges``: the ranges it falls back outside of, kept as the
    floor's ``ranges`` (they take the residual guard's place, as before issue 59's two names)."""
    from bandbridge.config import lift_anchor, lift_floor

    def edit(meta: dict) -> None:
        g = meta["config"]["model"]["generator"]
        g.update(lift_floor(lift_anchor(g)))  # older bundles' keys moved first, then replaced
        g["floor"] = None if floor is None else {**floor, **({"ranges": ranges} if ranges else {})}
        if ranges:
            g["guard"] = None
    edit_meta(folder, edit)


def give_floor(folder: str | Path, floor: dict, guard: dict, val: list):
    """Give the bundle in ``folder`` its fallback (:func:`write_floor`) and its floor as a bundle
    of its own in ``folder/floor`` (:func:`save_floor_bundle`): images unlike every training
    source fall back to the floor inside the model; files of another sensor are given to the
    floor wholly (inference/core/route.floor_instead). Returns the bundle, fallback included."""
    write_floor(folder, floor, guard)
    b = load_model(folder)  # after the edit: the caller's check sample measures the fallback too
    put_floor(folder, lambda tmp: save_floor_bundle(tmp, floor, b, val))
    return b


def save_floor_bundle(dest: str | Path, floor: dict, b, val: list) -> Path:
    """Write the floor ``floor`` (``{"kind", "linear": (Ci + 1, Ct), …}``) of bundle ``b`` as a
    bundle of its own into ``dest``: a ``linear`` learner (float32: a few numbers) on ``b``'s
    config, with ``b``'s record of its training inputs, and the check sample and expected-error
    model measured on the floor over ``val`` (none without validation images)."""
    import numpy as np
    from bandbridge.bundle import save_bundle
    from bandbridge.learners.linear import Linear
    lin = Linear()
    lin.coef_ = np.array(floor["linear"], dtype=np.float64)
    keep = {k: b.info[k] for k in ("bundled_from", "baseline", "inputs_seen") if k in b.info}
    save_bundle(dest, lin.module(b.in_channels, b.out_channels),
                learner_config(b.config, lin.generator()), b.in_channels, b.out_channels,
                epoch=-1, floor=floor, **keep)
    if val and b.config.task.kind == "translation":
        from bandbridge.evaluation.check_sample import make_check_sample
        add_confidence(dest, val)
        with suppress(BandbridgeError):  # no validation tile large enough: prediction trusts fp32 only
            make_check_sample(dest, pairs=val)
    return Path(dest)


def write_guard(folder: str | Path, guard: dict | bool) -> None:
    """Set (a dict), or switch off (False), the residual's guard in ``folder``'s model.yaml
    (``model.generator.guard``; 0.1.0's ``args.guard`` is moved there)."""
    def edit(meta: dict) -> None:
        g = meta["config"]["model"]["generator"]
        (g.get("args") or {}).pop("guard", None)
        g["guard"] = guard
    edit_meta(folder, edit)


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
