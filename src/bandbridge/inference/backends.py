"""Backends run a generator on a batch of tiles: ``(B, Ci, h, w)`` float32 model values →
``(B, Co, h·s, w·s)``. Numpy in, numpy out, so the predictor is backend-agnostic.

- ``torch``: fp32, or bf16 weights + channels_last on CPUs with native bf16 (AMX/AVX512-BF16),
  used only if its error on a check tile stays within ``BF16_TOLERANCE`` of fp32.
- ``onnx``: onnxruntime on an exported model; imports no torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bandbridge.errors import BandbridgeError
from bandbridge.inference.spec import ONNX_FILE, ModelSpec
from bandbridge.radiometry import image_stats

BF16_TOLERANCE = 5e-3  # max |Δ| vs fp32 in model units: 1.3 DN of 8-bit, 0.005 reflectance


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class TorchBackend:
    """The bundle's generator in torch. With precision 'auto' the first batch it sees decides:
    bf16 if the CPU has native bf16 and bf16's max |Δ| from fp32 on that (real) batch is within
    ``BF16_TOLERANCE``, fp32 otherwise."""

    name = "torch"

    def __init__(self, spec: ModelSpec, precision: str = "auto", threads: int | None = None,
                 compile: bool = False):
        import torch

        from bandbridge.bundle import load_bundle
        if precision not in ("auto", "fp32", "bf16"):
            raise BandbridgeError(f"unknown precision '{precision}'; choose auto, fp32 or bf16")
        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        self.fp32 = fuse_conv_bn(load_bundle(spec.folder).generator.eval())
        self.net, self.dtype, self.bf16_error = None, torch.float32, None
        self.requested, self.compile = precision, compile
        self.precision = precision if precision != "auto" else "auto"
        if precision == "fp32" or (precision == "auto" and not cpu_has_bf16()):
            self._use(self.fp32, "fp32")

    def _use(self, net, precision: str) -> None:
        self.precision = precision
        self.dtype = self.torch.bfloat16 if precision == "bf16" else self.torch.float32
        self.net = self.torch.compile(net) if self.compile else net

    def _run(self, net, x: np.ndarray, dtype, context: np.ndarray | None = None) -> np.ndarray:
        t = self.torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
        t = t.contiguous(memory_format=self.torch.channels_last)
        ctx = None if context is None else self.torch.from_numpy(np.asarray(context, np.float32))
        with self.torch.inference_mode():
            return net(t, ctx).float().numpy()

    def calibrate(self, x: np.ndarray, context: np.ndarray | None = None) -> None:
        """Measure bf16 against fp32 on ``x`` and pick the precision."""
        bf = _bf16_copy(self.fp32)
        ref = self._run(self.fp32, x, self.torch.float32, context)
        self.bf16_error = float(np.abs(self._run(bf, x, self.torch.bfloat16, context) - ref).max())
        ok = self.requested == "bf16" or self.bf16_error <= BF16_TOLERANCE
        self._use(bf if ok else self.fp32, "bf16" if ok else "fp32")

    def __call__(self, x: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        if self.net is None:
            self.calibrate(x[:1], None if context is None else context[:1])
        return self._run(self.net, x, self.dtype, context)


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


def _bf16_copy(net):
    import copy

    import torch
    return copy.deepcopy(net).to(dtype=torch.bfloat16, memory_format=torch.channels_last).eval()


class OnnxBackend:
    name = "onnx"
    precision = "fp32"
    bf16_error = None

    def __init__(self, spec: ModelSpec, threads: int | None = None):
        path = spec.folder / ONNX_FILE
        if not path.exists():
            raise BandbridgeError(f"{spec.folder}: no {ONNX_FILE} (nor generator.safetensors); pass a "
                                  "model bundle, or run `bandbridge export` on it for an ONNX folder")
        try:
            import onnxruntime as ort
        except ImportError:
            raise BandbridgeError("the onnx backend needs onnxruntime: pip install 'bandbridge[onnx]'") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.enable_cpu_mem_arena = False  # the arena keeps its peak; tiles are large and few
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for bad models
            why = "empty file" if path.stat().st_size == 0 else str(e).splitlines()[0][:160]
            raise BandbridgeError(f"{path}: not a readable ONNX model ({why}); run `bandbridge "
                                  "export` again") from None
        ctx = [i for i in self.session.get_inputs() if i.name == "context"]
        self.takes_context = bool(ctx)
        self.context_width = ctx[0].shape[1] if ctx and isinstance(ctx[0].shape[1], int) else 4

    def __call__(self, x: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        feed = {"input": np.ascontiguousarray(x, np.float32)}
        if self.takes_context:
            if context is None:  # unknown place and sensor; statistics of each input itself
                context = np.tile(np.array([[np.nan, np.nan, np.nan, -1.0]], np.float32), (len(x), 1))
                if self.context_width > 4:
                    valid = np.ones(x.shape[2:], bool)
                    context = np.concatenate([context, [image_stats(t, valid) for t in x]], 1)
            feed["context"] = np.asarray(context, np.float32)
        return self.session.run(["output"], feed)[0]


def make_backend(spec: ModelSpec, backend: str = "auto", precision: str = "auto",
                 threads: int | None = None, compile: bool = False):
    """``auto``: onnx for an export folder without torch weights, torch otherwise."""
    has_torch_weights = (spec.folder / "generator.safetensors").exists()
    if backend == "auto":
        backend = "torch" if has_torch_weights else "onnx"
    if backend == "onnx":
        return OnnxBackend(spec, threads)
    if backend == "torch":
        if not has_torch_weights:
            raise BandbridgeError(f"{spec.folder}: no generator.safetensors for the torch backend")
        return TorchBackend(spec, precision, threads, compile)
    raise BandbridgeError(f"unknown backend '{backend}'; choose auto, torch or onnx")
