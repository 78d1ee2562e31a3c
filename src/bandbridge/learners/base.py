"""The contract every per-pixel learner kind keeps, in the spirit of scikit-learn's estimators.

A kind is one class (one file under ``learners/``) that is both an estimator on pixels and the
recipe of its torch form:

- ``fit(X, Y, bands) → self`` on context features ``X (N, F)`` (``φ(x)``: the bands first, then
  their local means and standard deviations, then their products; :data:`WINDOWS`) and targets
  ``Y (N, Ct)`` in model values [0, 1]; a context learner sees all of ``φ``, else the bands alone;
- ``predict(X, bands) → (N, Ct)`` clipped to [0, 1];
- ``args()``: the typed arguments ``model.yaml`` keeps (``kind``, ``windows``, ``products`` and
  the kind's own), from which :meth:`Learner.empty` rebuilds the module a bundle's weights load
  into (safetensors: loading never unpickles);
- ``module(in_channels, out_channels)``: the fitted learner on whole images, ``(B, Ci, H, W) →
  (B, Ct, H, W)`` in [0, 1], computing exactly what ``predict`` computes on every pixel;
- ``onnx(in_channels)``: the same as one ONNX graph;
- ``runs_on``: the backends and precisions its graph runs on (:data:`TARGETS`); the backend
  choice offers no other and a flag that asks for one is refused in one line.

``tests/learners/test_contract.py`` holds every registered kind to this (registry.py).
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import Annotated, ClassVar

import numpy as np
import torch
from pydantic import Field, ValidationError
from torch import Tensor, nn

from bandbridge.data_config import Strict
from bandbridge.machine import BACKENDS, PRECISIONS
from bandbridge.models.features import ContextFeatures

WINDOWS, PRODUCTS = (5, 15, 45), True  # the context every candidate's features come from
TARGETS = frozenset(BACKENDS + PRECISIONS)
MAX_WINDOW = 255  # px: the widest context window a saved learner may ask for
CONTEXT_COST = 10  # Learner.cost of computing φ's windows, above every head's


class LearnerArgs(Strict):
    """The arguments ``model.yaml`` keeps for a learner, checked before any module is built: a
    kind's own (e.g. the MLP's width) are declared by its ``args_type``."""

    kind: str
    windows: list[Annotated[int, Field(ge=3, le=MAX_WINDOW)]] = []
    products: bool = False


class LearnerModule(nn.Module):
    """A learner on whole images: the context features ``φ(x)`` (``features``), then the kind's
    map of them (:meth:`on_features`), clamped to [0, 1] at inference. Input ``(B, Ci, H, W)``
    model values; edge pixels need the context windows' halo (``max(windows) // 2``)."""

    kind: str  # the Learner kind whose module this is (set by Learner.empty)
    exact_features: bool = False  # direct box filters, not running sums (models/features.py)

    def __init__(self, in_channels: int, out_channels: int, windows=(), products: bool = False):
        super().__init__()
        self.out_channels = out_channels
        self.features = ContextFeatures(in_channels, tuple(windows), products, self.exact_features)

    @property
    def halo(self) -> int:
        """Pixels whose output depends on pixels this far away (the largest window's half)."""
        return max(self.features.windows or (1,)) // 2

    def feature_dtype(self) -> torch.dtype:
        """The precision the features are computed in: the weights' (bf16 under a bf16 backend)."""
        p = next(iter(self.parameters()), None)
        return p.dtype if p is not None else torch.float32

    def on_features(self, f: Tensor) -> Tensor:
        """The kind's map of features ``f (B, F, H, W)`` → ``(B, Ct, H, W)``, unclamped."""
        raise NotImplementedError

    def raw(self, x: Tensor) -> Tensor:
        """The learner before clamping (what a network's residual is added to for the anchors
        0.1.0 fitted inside a run: ``anchor: true`` and ``{windows: …}``)."""
        return self.on_features(self.features(x.to(self.feature_dtype())))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        y = self.raw(x)
        return y.to(x.dtype) if self.training else y.clamp(0.0, 1.0).to(x.dtype)


class Learner:
    """One per-pixel learner kind (see the module's docstring). Subclasses set ``kind``,
    ``module_class`` and, where their graph cannot run everywhere, ``runs_on``."""

    kind: ClassVar[str]
    module_class: ClassVar[type[LearnerModule]]
    args_type: ClassVar[type[LearnerArgs]] = LearnerArgs
    runs_on: ClassVar[frozenset[str]] = TARGETS
    traceable: ClassVar[bool] = True  # torch's ONNX tracer exports its module (else: graph())
    graph_flips: ClassVar[float] = 0.0  # share of pixels its graph may compute otherwise than torch
    head_cost: ClassVar[int] = 1  # the map on φ, ranked: 0 constant, 1 affine, 2 MLP, 3 trees

    def __init__(self, context: bool = True, windows: tuple[int, ...] = WINDOWS,
                 products: bool = PRODUCTS):
        self.context = context
        self.windows, self.products = tuple(windows), bool(products)  # the φ a context learner sees

    # ------------------------------------------------------------------ estimator
    @property
    def cost(self) -> int:
        """What serving it costs, ranked (lower is cheaper): the context features cost more than
        any map of the bands alone (learner_kinds.json), then its head."""
        return CONTEXT_COST * self.context + self.head_cost

    @property
    def name(self) -> str:
        """What the out-of-fold table calls this configured learner, e.g. ``gbm-context``."""
        return f"{self.kind}-{'context' if self.context else 'bands'}"

    @property
    def family(self) -> str:
        """The row a table shows: the name without its parameter (``ridge-context λ=0.01`` →
        ``ridge-context``)."""
        return family(self.name)

    def clone(self) -> "Learner":
        """An unfitted copy with the same configuration (scikit-learn's ``clone``)."""
        new = copy.copy(self)
        new.__dict__ = {k: v for k, v in self.__dict__.items() if not k.endswith("_")}
        return new

    def columns(self, X: np.ndarray, bands: int) -> np.ndarray:
        return X if self.context else X[:, :bands]

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "Learner":
        raise NotImplementedError

    def predict(self, X: np.ndarray, bands: int) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ saved form
    def args(self) -> dict:
        """``model.generator.args`` of this learner (``model.generator.name``: ``learner``)."""
        return {"kind": self.kind, "windows": list(self.windows) if self.context else [],
                "products": self.products if self.context else False}

    def generator(self) -> dict:
        """``model.generator`` for a bundle: ``{"name": "learner", "args": {...}}``."""
        return {"name": "learner", "args": self.args()}

    @classmethod
    def empty(cls, in_channels: int, out_channels: int, **args) -> LearnerModule:
        """The module of ``args`` (``model.yaml``, checked by ``args_type``), its weights to be
        loaded."""
        try:
            typed = cls.args_type.model_validate({"kind": cls.kind} | args).model_dump()
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"{cls.kind} learner: {where}: {err['msg']}") from None
        typed.pop("kind")
        m = cls.module_class(in_channels, out_channels, **typed)
        m.kind = cls.kind  # which kind's graph() exports it
        return m

    def load(self, m: LearnerModule) -> None:
        """Copy the fitted state into the module ``m`` (of :meth:`empty`)."""
        raise NotImplementedError

    def module(self, in_channels: int, out_channels: int) -> LearnerModule:
        """The fitted learner on whole images, in eval mode."""
        m = self.empty(in_channels, out_channels, **self.args())
        with torch.no_grad():
            self.load(m)
        return m.requires_grad_(False).eval()

    def onnx(self, in_channels: int, out_channels: int, opset: int = 17, tile: int | None = None):
        """The fitted learner as an ONNX ``ModelProto``: input ``input (B, Ci, H, W)``, output
        ``output (B, Ct, H, W)`` in [0, 1]."""
        return self.graph(self.module(in_channels, out_channels), in_channels, opset, tile)

    @classmethod
    def graph(cls, m: LearnerModule, in_channels: int, opset: int = 17, tile: int | None = None):
        """The ONNX model of a module of this kind (a loaded bundle's): traced from torch."""
        return traced(m, in_channels, opset, tile)

    @classmethod
    def candidates(cls) -> list["Learner"]:
        """The configurations of this kind the selection core tries (registry.candidates)."""
        return [cls()]


KINDS: dict[str, type[Learner]] = {}  # the registry (registry.py fills it: one line a kind)


def learner_module(in_channels: int, out_channels: int, args: dict) -> LearnerModule:
    """The empty module of one learner's ``args`` (``{kind, windows, …}``)."""
    kind = args.get("kind", "linear")
    if kind not in KINDS or kind == "blend":
        raise ValueError(f"learner kind must be one of {[k for k in KINDS if k != 'blend']}, "
                         f"got '{kind}'")
    return KINDS[kind].empty(in_channels, out_channels, **args)


def learner_graph(m: nn.Module, in_channels: int, opset: int = 17, tile: int | None = None):
    """The ONNX model of a learner module (a loaded bundle's), by its kind."""
    return KINDS[m.kind].graph(m, in_channels, opset, tile)


def family(name: str) -> str:
    """A candidate's family, the row a table shows: ``ridge-context λ=0.01`` → ``ridge-context``."""
    return name.split(" ")[0]


def traced(m: nn.Module, in_channels: int, opset: int, tile: int | None, output: str = "output"):
    """A module without trees traced from torch: ``input`` → ``output`` (dynamic batch, height
    and width unless ``tile`` fixes them)."""
    import onnx
    n = tile or 64
    buf = io.BytesIO()
    axes = None if tile else {"input": {0: "batch", 2: "height", 3: "width"},
                              output: {0: "batch", 2: "height", 3: "width"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m.eval(), (torch.rand(1, in_channels, n, n),), buf, input_names=["input"],
                          output_names=[output], dynamic_axes=axes, opset_version=opset, dynamo=False)
    return onnx.load_from_string(buf.getvalue())


def with_opsets(graph, parts: list):
    """A checked ONNX model of ``graph`` with the highest opset of each domain its ``parts`` use."""
    import onnx
    from onnx import helper
    ops: dict[str, int] = {}
    for m in parts:
        for o in m.opset_import:
            ops[o.domain] = max(ops.get(o.domain, 0), o.version)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in ops.items()],
                              producer_name="bandbridge")
    model.ir_version = min(m.ir_version for m in parts)
    onnx.checker.check_model(model)
    return model


def renamed(value_info, name: str):
    """A copy of an ONNX graph input or output under another name."""
    v = type(value_info)()
    v.CopyFrom(value_info)
    v.name = name
    return v
