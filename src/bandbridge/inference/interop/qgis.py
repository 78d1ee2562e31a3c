"""``bandbridge export --format onnx --qgis``: a graph the QGIS Deepness plugin runs as it is.

Deepness feeds one input, an 8-bit RGB tile divided by 255, in NCHW with batch 1, and reads one
square output; its metadata keys (``model_type``, ``class_names``, ``resolution`` in cm/px,
``tile_size``, ``tiles_overlap`` in percent, ``reg_output_scaling``, and newer versions'
``standardization_mean``/``standardization_std``) are JSON strings in the ONNX metadata. So the
export is a static ``(1, C, T, T)`` graph without the context input: a generator that
normalises per image gets each tile's own statistics (QGIS runs tile by tile), which is the one
difference from ``bandbridge predict``. The Deepness graph is written beside the ONNX export
(``runtime/export.py``) by :func:`export_with_qgis`.
"""

from __future__ import annotations

import json
from pathlib import Path


from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.export import example

QGIS_TILE = 512  # Deepness's default tile; small enough for any QGIS machine


def deepness_metadata(spec, tile: int) -> dict[str, str]:
    """The Deepness keys for ``spec`` at ``tile`` px, values JSON-encoded as the plugin reads them."""
    overlap = min(spec.config.inference.overlap, tile // 4)
    gsd = next((s.gsd for s in spec.config.data.sources if getattr(s, "gsd", None)), None)
    meta = {"model_type": "Regressor",
            "class_names": {str(i): f"synthetic_{n}" for i, n in enumerate(spec.target_names)},
            "tile_size": tile, "tiles_overlap": int(round(100 * overlap / tile)),
            # model values are DN / 255 for 8-bit targets, reflectance otherwise
            "reg_output_scaling": 255.0 if spec.target.scaling == "uint8" else 1.0,
            "standardization_mean": [0.0] * spec.in_channels,
            "standardization_std": [1.0] * spec.in_channels,
            "bandbridge": spec.metadata()}
    if gsd:
        meta["resolution"] = float(gsd) * 100.0
    return {k: json.dumps(v) for k, v in meta.items()}


def export_with_qgis(model: str | Path, out_dir: str | Path | None = None,
                     overwrite: bool = False) -> Path:
    """``bandbridge export --qgis``: the ONNX export folder and ``<name>-deepness.onnx`` in it; a
    model Deepness cannot feed is refused after the output checks, before anything is written."""
    from bandbridge.inference.runtime.export import export_target, write_export
    folder, spec, out = export_target(model, out_dir, overwrite)
    check_exportable(spec)
    write_export(folder, spec, out)
    export_qgis(folder, spec, out / f"{spec.name}-deepness.onnx")
    return out


def check_exportable(spec) -> None:
    """Refuse a model Deepness cannot feed: it gives 8-bit RGB / 255 and reads a same-size output."""
    if spec.input.scaling != "uint8" or spec.scale != 1:
        raise BandbridgeError(f"--qgis: Deepness feeds 8-bit RGB divided by 255 and expects a same-size "
                              f"output; {spec.name} reads {spec.input.scaling} with scale {spec.scale}. "
                              "Export an 8-bit translation model (rgb2nir-naip, rgb2thermal)")


def export_qgis(folder: Path, spec, path: Path, tile: int = QGIS_TILE) -> Path:
    """Write the Deepness graph of the bundle in ``folder`` to ``path`` (through a temp file)."""

    import onnx
    import torch

    from bandbridge.bundle import load_bundle
    from bandbridge.fileio import atomic_paths
    from bandbridge.learners.registry import traceable
    from bandbridge.inference.runtime.compose import write_graph
    check_exportable(spec)
    tile = max(spec.size_multiple, tile // spec.size_multiple * spec.size_multiple)
    g = load_bundle(folder).generator.eval()

    class Single(torch.nn.Module):  # one input: the tile; no context (each tile's statistics)
        def __init__(self):
            super().__init__()
            self.g = g

        def forward(self, x):
            return self.g(x, None).clamp(0, 1)

    net = Single().eval()
    x = example(1, spec.in_channels, tile, tile)
    with atomic_paths([path]) as (tmp,):
        # traced whole, or a learner's own graph (trees) with a network's residual beside it
        write_graph(g if not traceable(g) else net, (x,), ["input"], None, tmp, spec.in_channels,
                    17, tile=tile)
        model = onnx.load(str(tmp))
        for k, v in deepness_metadata(spec, tile).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.save(model, str(tmp))
    _check(path, net, spec, tile)
    return path


def _check(path: Path, net, spec, tile: int) -> None:
    """The graph must agree with torch on a tile, as Deepness would feed it."""
    import onnxruntime as ort
    import torch
    x = example(1, spec.in_channels, tile, tile, seed=1)
    with torch.inference_mode():
        ref = net(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    from bandbridge.inference.runtime.compose import agree
    agree(got, ref, net.g, "QGIS export")
