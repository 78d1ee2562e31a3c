"""The ONNX graphs the ``onnx`` and ``openvino`` backends run: an export folder's own, else built
once from the bundle into the cache (``cache.py``: keyed by the bundle's content, verified by
their own hash) — fp32 by ``export.py``, int8 by ``quantize.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

from bandbridge.errors import BandbridgeError
from bandbridge.spec import ONNX_FILE, ModelSpec

T = TypeVar("T")


def onnx_file(spec: ModelSpec) -> Path:
    """The model's ONNX graph: an export folder's own, else the bundle exported once into the
    cache (keyed by the bundle's content)."""
    own = spec.folder / ONNX_FILE
    if own.exists() or not (spec.folder / "generator.safetensors").exists():
        if not own.exists():
            raise BandbridgeError(f"{spec.folder}: no {ONNX_FILE} (nor generator.safetensors); pass "
                                  "a model bundle, or run `bandbridge export` on it for an ONNX folder")
        return own
    from bandbridge.inference.runtime.cache import artefact, cache_dir, model_key
    try:
        import onnx  # noqa: F401 - the exporter needs it
    except ImportError:
        raise BandbridgeError("the onnx and openvino backends export the model with onnx: "
                              "pip install 'bandbridge[onnx]'") from None

    def build(path: Path) -> None:
        from bandbridge.inference.runtime.export import export_onnx
        export_onnx(spec.folder, path.parent, overwrite=True, floor=False)
    return artefact(cache_dir() / "onnx" / model_key(spec.folder) / ONNX_FILE, build)


def int8_file(spec: ModelSpec) -> Path:
    """The model's int8 graph, built once from its fp32 graph into the cache (keyed by the
    bundle's content, verified by its own hash) and calibrated on the bundle's check sample."""
    from bandbridge.inference.runtime.cache import artefact, cache_dir, model_key
    from bandbridge.inference.runtime.gate import load_check_sample
    from bandbridge.inference.runtime.quantize import INT8_FILE, quantize_graph
    try:
        import onnxruntime.quantization  # noqa: F401 - part of onnxruntime
    except ImportError:
        raise BandbridgeError("--precision int8 quantises with onnxruntime: pip install "
                              "'bandbridge[onnx]'") from None
    sample = load_check_sample(spec.folder)
    if sample is None:
        raise BandbridgeError(f"{spec.folder}: --precision int8 needs the bundle's check sample "
                              "(check.safetensors) to calibrate on; use --precision fp32")
    # the fp32 graph found (built again if a cache clear removed it) only when int8 is built
    return artefact(cache_dir() / "onnx" / model_key(spec.folder) / INT8_FILE,
                    lambda p: quantize_graph(onnx_file(spec), p, sample, spec.n_stats))


def graph_file(spec: ModelSpec, precision: str) -> Path:
    """The ONNX graph a backend runs at ``precision``: fp32 (and bf16, which OpenVINO applies
    itself), or the int8 graph quantised from it."""
    return int8_file(spec) if precision == "int8" else onnx_file(spec)


def load_graph(spec: ModelSpec, precision: str, load: Callable[[Path], T]) -> T:
    """``load(path)`` of the model's graph at ``precision`` (:func:`graph_file`). A cached graph
    removed between finding and reading it (``bandbridge cache clear`` from another shell while a
    predict starts) is built again, once; a graph that is there but unreadable is ``load``'s own
    one-line refusal."""
    path = graph_file(spec, precision)
    try:
        return load(path)
    except BandbridgeError:
        if path.exists():
            raise
    return load(graph_file(spec, precision))


def unreadable(path: Path, e: Exception) -> BandbridgeError:
    """The one-line refusal of a graph file a runtime cannot read (``e`` the runtime's own)."""
    try:
        why = "empty file" if path.stat().st_size == 0 else \
            (str(e).strip().splitlines() or [type(e).__name__])[-1][:160]
    except OSError:
        why = "the file is gone"
    return BandbridgeError(f"{path}: not a readable ONNX model ({why}); run `bandbridge export` again")
