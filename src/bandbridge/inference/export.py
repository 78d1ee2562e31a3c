"""`bandbridge export RUN --format onnx`: the generator as ONNX (dynamic batch, height, width)
next to its model.yaml and a metadata JSON (bands, scaling, tile, overlap)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from bandbridge.bundle import load_bundle
from bandbridge.errors import BandbridgeError
from bandbridge.inference.spec import BUNDLE_META, ONNX_FILE, read_spec, resolve_model_folder, write_metadata_json


def export_onnx(model: str | Path, out_dir: str | Path | None = None, opset: int = 17) -> Path:
    import torch
    folder = resolve_model_folder(model)
    spec = read_spec(folder)
    out = Path(out_dir) if out_dir else folder.parent / f"{folder.name}-onnx"
    out.mkdir(parents=True, exist_ok=True)
    net = load_bundle(folder).generator.eval()
    n = max(spec.size_multiple, 64)
    x = torch.rand(1, spec.in_channels, n, n)
    tmp = out / f".{ONNX_FILE}.tmp"
    try:
        torch.onnx.export(net, (x,), str(tmp), input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                        "output": {0: "batch", 2: "height_out", 3: "width_out"}},
                          opset_version=opset, dynamo=False)
        tmp.replace(out / ONNX_FILE)
    except Exception as e:  # noqa: BLE001 - report any exporter failure as one message
        tmp.unlink(missing_ok=True)
        raise BandbridgeError(f"ONNX export of {folder} failed: {e}") from None
    shutil.copy(folder / BUNDLE_META, out / BUNDLE_META)
    write_metadata_json(spec, out / "metadata.json")
    _check(out, net, spec.in_channels, n)
    return out


def _check(out: Path, net, c: int, n: int) -> None:
    """The exported graph must agree with torch on a fresh input of another size."""
    import onnxruntime as ort
    import torch
    x = torch.rand(2, c, n, 2 * n)
    with torch.inference_mode():
        ref = net(x).numpy()
    sess = ort.InferenceSession(str(out / ONNX_FILE), providers=["CPUExecutionProvider"])
    got = sess.run(["output"], {"input": x.numpy()})[0]
    err = float(np.abs(got - ref).max())
    if err > 1e-4:
        raise BandbridgeError(f"ONNX export differs from torch by {err:.2e} (> 1e-4)")
