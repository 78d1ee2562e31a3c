"""The precision gate's check sample, cut from a bundle's own validation data when a run ends or a
model is bundled: one real tile, its target, and torch fp32's task metrics on it
(``check.safetensors``; ``inference/runtime/gate.py`` reads and judges it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.gate import CHECK_FILE, CheckSample, quant_step, task_metrics

SAMPLE_SIZE = (128, 256)  # output pixels (rows, cols) of the check tile: ~100-400 KB stored


def make_check_sample(folder: Path, data_root: str | None = None, pairs: list | None = None,
                      bundle=None) -> dict:
    """Cut the check sample from the first validation image of the bundle's own data that holds
    a ``SAMPLE_SIZE`` tile (its centre), measure torch fp32 on it and write ``check.safetensors``
    into the bundle. ``pairs``: that validation split where the caller holds it already (a run
    that just trained on it), else it is read; ``bundle``: the bundle in ``folder`` where the
    caller has loaded it. Returns its metadata."""
    import torch
    from safetensors.numpy import save_file

    from bandbridge.bundle import load_bundle
    from bandbridge.data.datamodule import PairedDataModule
    from bandbridge.evaluation.evaluate import with_data
    from bandbridge.fileio import atomic_paths
    from bandbridge.spec import read_spec
    folder = Path(folder)
    bundle = load_bundle(folder) if bundle is None else bundle
    spec = read_spec(folder)
    s, m = spec.scale, spec.size_multiple
    if pairs is None:
        pairs = PairedDataModule(with_data(bundle.config, data_root, None)).load_split("val")
    if not pairs:
        raise BandbridgeError(f"{folder}: its data has no validation split to cut a check sample from")
    h, w = (-(-SAMPLE_SIZE[0] // s // m) * m, -(-SAMPLE_SIZE[1] // s // m) * m)
    fits = [p for p in pairs if p.x.shape[1] >= h and p.x.shape[2] >= w] or \
        [max(pairs, key=lambda p: p.x.shape[1] * p.x.shape[2])]
    pair = fits[0]
    h, w = min(h, pair.x.shape[1] // m * m), min(w, pair.x.shape[2] // m * m)
    if min(h, w) < max(m, 16):  # thin validation regions (adapt): no tile worth measuring
        raise BandbridgeError(f"{folder}: no validation image of at least {max(m, 16)} px a side "
                              "to cut a check sample from")
    r, c = (pair.x.shape[1] - h) // 2, (pair.x.shape[2] - w) // 2
    x = pair.x[None, :, r:r + h, c:c + w].float()
    y = pair.y[:, r * s:(r + h) * s, c * s:(c + w) * s].float()
    mask = pair.mask[0, r * s:(r + h) * s, c * s:(c + w) * s]
    ctx = None
    if spec.uses_context:
        ctx = torch.tensor([pair.context(r + h / 2, c + w / 2, bundle.config.sensors)],
                           dtype=torch.float32)  # at the tile's centre
    # Stored as float16 (the sample is a few hundred KB); fp32 is measured on what is stored.
    tensors = {"input": x.half().numpy(), "target": y.half().numpy(), "mask": mask.numpy().astype(np.uint8)}
    if ctx is not None:
        tensors["context"] = ctx.numpy()
    sample = CheckSample(tensors["input"].astype(np.float32), tensors["target"].astype(np.float32),
                         mask.numpy(), None if ctx is None else ctx.numpy(), {})
    with torch.inference_mode():
        ref = bundle.generator.eval()(torch.from_numpy(sample.x), ctx)[0].numpy()
    meta = {"source": pair.source.name, "file": str(pair.item.input_path), "split": "val",
            "window": [r, c, h, w], "fp32": task_metrics(ref, sample, spec.input_names, spec.target_names),
            "output_step": quant_step(spec.target)}
    with atomic_paths([folder / CHECK_FILE]) as (tmp,):
        save_file(tensors, str(tmp), metadata={"bandbridge_check": json.dumps(meta)})
    return meta
