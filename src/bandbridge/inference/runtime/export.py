"""`bandbridge export RUN --format onnx`: the generator as ONNX (dynamic batch, height, width)
next to its model.yaml and a metadata JSON (bands, scaling, tile, overlap); the graph the ONNX
backends run is this export too (``graphs.py``)."""

from __future__ import annotations

from pathlib import Path


from bandbridge.bundle import load_bundle
from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.gate import CHECK_FILE
from bandbridge.inference.runtime.compose import agree, write_graph
from bandbridge.fileio import atomic_paths, atomic_write_bytes, check_writable
from bandbridge.spec import (BUNDLE_META, FLOOR_DIR, ONNX_FILE, ModelSpec, read_spec, resolve_model_folder,
                             write_metadata_json)


def export_onnx(model: str | Path, out_dir: str | Path | None = None, opset: int = 17,
                overwrite: bool = False, floor: bool = True) -> Path:
    """``model.onnx`` (dynamic batch, height, width; context input where the generator takes
    one), model.yaml, metadata.json and the check sample in ``out_dir`` (the ONNX backends' own
    graph, built into the cache, is this export too, ``floor=False``: the graph alone).
    ``interop/qgis.py`` adds the QGIS graph."""
    return write_export(*export_target(model, out_dir, overwrite), opset, floor)


def export_target(model: str | Path, out_dir: str | Path | None = None,
                  overwrite: bool = False) -> tuple[Path, ModelSpec, Path]:
    """``(bundle folder, its spec, export folder)``, with every check on the output made before
    anything is written."""
    folder = resolve_model_folder(model)
    spec = read_spec(folder)
    out = Path(out_dir) if out_dir else folder.parent / f"{folder.name}-onnx"
    if out.exists() and not out.is_dir():
        raise BandbridgeError(f"--output {out} is a file; export writes a folder (model.onnx, "
                              "model.yaml, metadata.json): give a folder path")
    if (out / ONNX_FILE).exists() and not overwrite:
        raise BandbridgeError(f"--output {out} already holds an export ({ONNX_FILE}); pass "
                              "--overwrite to replace it (or choose another folder)")
    check_writable(out, "--output")
    return folder, spec, out


def write_export(folder: Path, spec: ModelSpec, out: Path, opset: int = 17, floor: bool = True) -> Path:
    """Write the export of the bundle in ``folder`` into ``out`` (checked by
    :func:`export_target`), its floor's into ``out/floor`` (``floor``), and check the graph
    against torch; returns ``out``."""
    net = load_bundle(folder).generator.eval()
    out.mkdir(parents=True, exist_ok=True)
    n = max(spec.size_multiple, 64)
    x = example(1, spec.in_channels, n, n)
    args, names = (x,), ["input"]
    axes = {"input": {0: "batch", 2: "height", 3: "width"},
            "output": {0: "batch", 2: "height_out", 3: "width_out"}}
    if spec.uses_context:  # a second input: the tiles' context (lat, lon, GSD, sensor index)
        args, names = (x, _context([[45.0, 10.0, 10.0, 0.0]], spec)), ["input", "context"]
        axes["context"] = {0: "batch"}
    with atomic_paths([out / ONNX_FILE]) as (tmp,):
        try:
            write_graph(net, args, names, axes, tmp, spec.in_channels, opset)
        except Exception as e:  # noqa: BLE001 - report any exporter failure as one message
            raise BandbridgeError(f"ONNX export of {folder} failed: {e}") from None
    atomic_write_bytes(out / BUNDLE_META, (folder / BUNDLE_META).read_bytes())
    if (folder / CHECK_FILE).exists():  # the precision gate's sample travels with the model
        atomic_write_bytes(out / CHECK_FILE, (folder / CHECK_FILE).read_bytes())
    write_metadata_json(spec, out / "metadata.json")
    _check(out, net, spec, n)
    if floor and (folder / FLOOR_DIR).is_dir():  # the export gives files of another sensor to it too
        write_export(folder / FLOOR_DIR, read_spec(folder / FLOOR_DIR), out / FLOOR_DIR, opset)
    return out


def _check(out: Path, net, spec, n: int) -> None:
    """The exported graph must agree with torch on a fresh input of another size."""
    import onnxruntime as ort
    import torch
    x = example(2, spec.in_channels, n, 2 * n, seed=1)
    context = spec.uses_context
    ctx = _context([[47.0, -99.0, 5.0, 0.0], [-33.9, 151.2, 20.0, -1.0]], spec) if context else None
    with torch.inference_mode():
        ref = net(x, ctx).numpy()
    sess = ort.InferenceSession(str(out / ONNX_FILE), providers=["CPUExecutionProvider"])
    feed = {"input": x.numpy()} | ({"context": ctx.numpy()} if context else {})
    got = sess.run(["output"], feed)[0]
    agree(got, ref, net, "ONNX export")


def example(*shape: int, seed: int = 0):
    """A uniform [0, 1) input of ``shape`` drawn from a seeded generator: the export and its check
    see the same numbers every run, so a graph near the agreement bound cannot pass one run and
    fail the next (a backend chosen by the check would change from run to run)."""
    import torch
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _context(rows: list[list[float]], spec):
    """Example context rows: the given (lat, lon, GSD, sensor) and, for generators that normalise
    per image, plausible image statistics (lows 0.05, highs 0.4)."""
    import torch
    c = spec.n_stats // 2
    return torch.tensor([r + [0.05] * c + [0.4] * c for r in rows])
