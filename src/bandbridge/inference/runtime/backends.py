"""Backends run a generator on a batch of tiles: ``(B, Ci, h, w)`` float32 model values →
``(B, Co, h·s, w·s)``. Numpy in, numpy out, so the predictor, its tiling, blending and writer are
the same whichever runs the network: torch, onnxruntime or OpenVINO, on the ONNX graphs of
``graphs.py`` (int8: ``quantize.py``). Which backend a job gets — a named one, or with
``auto`` the fastest candidate that passes the precision gate (``gate.py``), measured once per
model and machine — is ``select.make_backend``'s decision; this module does not choose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bandbridge import machine
from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.graphs import load_graph, unreadable
from bandbridge.spec import ModelSpec
from bandbridge.radiometry import image_stats

BACKENDS, PRECISIONS = ("auto", *machine.BACKENDS), ("auto", *machine.PRECISIONS)


class Backend(Protocol):
    """What runs a generator: ``(B, Ci, h, w)`` float32 model values (and the tiles' context
    rows, or None) → ``(B, Co, h·s, w·s)``, numpy in and out."""

    name: str  # torch, onnx or openvino
    precision: str  # fp32, bf16 or int8

    def __call__(self, x: np.ndarray, context: np.ndarray | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Chosen:
    """A backend as ``select.make_backend`` hands it out: it runs as ``backend`` does, with why it
    was chosen (``choice``, one line) and the probe's cached record (None where none was measured)."""

    backend: Backend
    choice: str
    record: dict | None = None

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def precision(self) -> str:
        return self.backend.precision

    def __call__(self, x: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        return self.backend(x, context)


class TorchBackend:
    """The bundle's generator in torch at a fixed precision (fp32 or bf16)."""

    name = "torch"

    def __init__(self, spec: ModelSpec, precision: str = "fp32", threads: int | None = None,
                 compile: bool = False, channels_last: bool = True):
        import torch

        from bandbridge.bundle import load_bundle
        if precision not in ("fp32", "bf16"):
            raise BandbridgeError(f"--precision {precision}: the torch backend runs fp32 or bf16")
        if not (spec.folder / "generator.safetensors").exists():
            raise BandbridgeError(f"{spec.folder}: no generator.safetensors for the torch backend; "
                                  "use --backend onnx on an ONNX export")
        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        net = fuse_conv_bn(load_bundle(spec.folder).generator.eval())
        self.precision = precision
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        # channels_last: oneDNN's preferred layout on CPUs (no reorder per convolution)
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        net = net.to(dtype=self.dtype, memory_format=self.layout)
        self.net = torch.compile(net) if compile else net

    def __call__(self, x: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        t = self.torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.dtype)
        t = t.contiguous(memory_format=self.layout)
        ctx = None if context is None else self.torch.from_numpy(np.asarray(context, np.float32))
        with self.torch.inference_mode():
            return self.net(t, ctx).float().numpy()


def fuse_conv_bn(net):
    """Fold every eval-mode BatchNorm that directly follows a convolution into that
    convolution's weights (in place; identical outputs up to rounding, one pass less)."""
    import torch
    from torch import nn
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                with torch.no_grad():
                    conv.weight.mul_(scale[:, None, None, None])
                    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
                seq[i + 1] = nn.Identity()
    return net


def _feed(x: np.ndarray, context: np.ndarray | None, width: int | None) -> dict[str, np.ndarray]:
    """An ONNX graph's inputs: the tiles and, where it takes ``width`` context columns, the given
    rows, else unknown place and sensor with each tile's own statistics (as the torch generator
    does when it gets none)."""
    feed = {"input": np.ascontiguousarray(x, np.float32)}
    if width is not None and context is not None:
        feed["context"] = np.asarray(context, np.float32)
    elif width is not None:
        ctx = np.tile(np.array([[np.nan, np.nan, np.nan, -1.0]], np.float32), (len(x), 1))
        valid = np.ones(x.shape[2:], bool)
        feed["context"] = (np.concatenate([ctx, [image_stats(t, valid) for t in x]], 1) if width > 4 else ctx
                           ).astype(np.float32)
    return feed


class OnnxBackend:
    """onnxruntime's CPU provider with every graph optimisation: fp32 (on x86 its CPU kernels
    have no faster float type), or the int8 graph."""

    name = "onnx"

    def __init__(self, spec: ModelSpec, threads: int | None = None, precision: str = "fp32"):
        try:
            import onnxruntime as ort
        except ImportError:
            raise BandbridgeError("the onnx backend needs onnxruntime: pip install 'bandbridge[onnx]'") from None
        self.precision = precision
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.enable_cpu_mem_arena = False  # the arena keeps its peak; tiles are large and few

        def session(path: Path):
            try:
                return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for bad models
                raise unreadable(path, e) from None
        self.session = load_graph(spec, precision, session)
        ctx = [i for i in self.session.get_inputs() if i.name == "context"]
        self.context_width = (ctx[0].shape[1] if isinstance(ctx[0].shape[1], int) else 4) if ctx else None

    def __call__(self, x: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        return self.session.run(["output"], _feed(x, context, self.context_width))[0]


def openvino_bf16() -> bool:
    """Whether OpenVINO's CPU plugin offers bf16 on this machine."""
    try:
        import openvino as ov
        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - not installed, or no CPU plugin: no bf16
        return False


class OpenVinoBackend:
    """OpenVINO's CPU plugin on the ONNX graph, compiled once per input shape (the predictor
    uses one tile shape, plus a smaller last batch): static shapes let it pick its fastest
    kernels."""

    name = "openvino"

    def __init__(self, spec: ModelSpec, precision: str = "fp32", threads: int | None = None):
        try:
            import openvino as ov
        except ImportError:
            raise BandbridgeError("the openvino backend needs OpenVINO: pip install "
                                  "'bandbridge[openvino]'") from None
        if precision == "bf16" and not openvino_bf16():
            raise BandbridgeError("--precision bf16: OpenVINO offers bf16 only on CPUs with AMX or "
                                  "AVX512-BF16, and this one has neither; use --precision fp32")
        self.core = ov.Core()

        def read(path: Path):
            try:
                return self.core.read_model(str(path))
            except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError for any bad graph
                raise unreadable(path, e) from None
        self.model = load_graph(spec, precision, read)
        names = [i.get_any_name() for i in self.model.inputs]
        self.context_width = self.model.input("context").get_partial_shape()[1].get_length() \
            if "context" in names else None
        self.precision = precision
        self.config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or (os.cpu_count() or 1),
                       "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        self.compiled: dict[tuple, object] = {}

    def _request(self, shape: tuple[int, ...]):
        if shape not in self.compiled:
            m = self.model.clone()
            m.reshape({"input": list(shape)} | ({"context": [shape[0], self.context_width]}
                                                 if self.context_width is not None else {}))
            try:
                self.compiled[shape] = self.core.compile_model(m, "CPU", self.config).create_infer_request()
            except RuntimeError as e:  # OpenVINO's CPU plugin has no kernel for a node at this precision
                why = next((line.strip() for line in str(e).splitlines() if "implementation" in line),
                           str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__)
                raise BandbridgeError(f"OpenVINO {self.precision} cannot compile this model's graph "
                                      f"({why[:120]}); use --precision fp32 or another --backend") from None
        return self.compiled[shape]

    def forget(self, shape: tuple[int, ...]) -> None:
        """Release the compiled request of one input shape (and the activations it holds)."""
        self.compiled.pop(tuple(shape), None)

    def __call__(self, x: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        req = self._request(tuple(x.shape))  # reuses its output buffer: copied
        return np.array(req.infer(_feed(x, context, self.context_width))[0], copy=True)


def check_choice(backend: str, precision: str) -> None:
    """Refuse a ``--backend``/``--precision`` pair that no machine runs (before any work)."""
    if backend not in BACKENDS:
        raise BandbridgeError(f"--backend {backend}: unknown; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise BandbridgeError(f"--precision {precision}: unknown; choose one of {', '.join(PRECISIONS)}")
    if backend == "onnx" and precision == "bf16":
        raise BandbridgeError("--precision bf16: the onnx backend runs fp32 on CPUs; use --backend "
                              "torch or openvino for bf16")
    if backend == "torch" and precision == "int8":
        raise BandbridgeError("--precision int8: the torch backend runs fp32 or bf16; use --backend "
                              "onnx or openvino for int8")


def build_backend(spec: ModelSpec, backend: str, precision: str, threads: int | None = None,
                  compile: bool = False) -> Backend:
    """One named backend at one named precision; no gate (an explicit choice is the user's)."""
    check_choice(backend, precision)
    why = spec.refusal(backend, precision)
    if why:
        raise BandbridgeError(f"--backend {backend} --precision {precision}: {why}; use one of "
                              "those (or --backend auto)")
    if backend == "torch":
        return TorchBackend(spec, precision, threads, compile)
    if backend == "onnx":
        return OnnxBackend(spec, threads, precision)
    if backend == "openvino":
        return OpenVinoBackend(spec, precision, threads)
    raise BandbridgeError(f"--backend {backend}: name one backend here (torch, onnx or openvino)")

