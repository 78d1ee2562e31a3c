"""``blend``: the mean of several fitted learners' predictions — what the selection core hands
back when averaging its best learners of distinct families scores lower out of fold than any one
of them. ``model.yaml`` keeps ``{"name": "blend", "args": {"parts": [each part's args]}}``."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from bandbridge.learners.base import Learner, learner_graph, learner_module, renamed, with_opsets


class BlendModule(nn.Module):
    """The mean of the parts' modules, each clamped to [0, 1]: ``(B, Ci, H, W) → (B, Ct, H, W)``."""

    kind = "blend"

    def __init__(self, in_channels: int = 3, out_channels: int = 1, parts: list[dict] = ()):
        super().__init__()
        if len(parts) < 2:
            raise ValueError("a blend needs two or more parts")
        self.out_channels = out_channels
        self.parts = nn.ModuleList(learner_module(in_channels, out_channels, a) for a in parts)

    @property
    def halo(self) -> int:
        return max(p.halo for p in self.parts)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        phi: dict[tuple, Tensor] = {}  # parts with the same features share them: computed once
        out = []
        for p in self.parts:
            f = p.features
            key = (f.windows, f.products, f.exact)
            if key not in phi:
                phi[key] = f(x.float())
            out.append(p.on_features(phi[key].to(p.feature_dtype())).float().clamp(0.0, 1.0))
        return torch.stack(out).mean(0).to(x.dtype)


class Blend(Learner):
    kind = "blend"
    module_class = BlendModule

    def __init__(self, parts: list[Learner]):
        super().__init__(any(p.context for p in parts))
        self.parts = list(parts)

    @property
    def name(self) -> str:
        return "blend"

    @property
    def cost(self) -> int:
        """Dearer than its dearest part: it computes every part."""
        return max(p.cost for p in self.parts) + 1

    @classmethod
    def candidates(cls) -> list:
        return []  # the selection core blends its best candidates of three families

    def clone(self) -> "Blend":
        return Blend([p.clone() for p in self.parts])

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "Blend":
        for p in self.parts:
            p.fit(X, Y, bands)
        return self

    def predict(self, X: np.ndarray, bands: int) -> np.ndarray:
        return np.mean([p.predict(X, bands) for p in self.parts], axis=0)

    def args(self) -> dict:
        return {"parts": [p.args() for p in self.parts]}

    def generator(self) -> dict:
        return {"name": "blend", "args": self.args()}

    @classmethod
    def empty(cls, in_channels: int, out_channels: int, **args) -> BlendModule:
        return BlendModule(in_channels, out_channels, args["parts"])

    def load(self, m: BlendModule) -> None:
        for p, mp in zip(self.parts, m.parts):
            p.load(mp)

    @classmethod
    def graph(cls, m: BlendModule, in_channels: int, opset: int = 17, tile: int | None = None):
        """Each part's graph (names prefixed), their outputs summed and divided by their count."""
        import onnx
        from onnx import TensorProto, helper
        parts = [onnx.compose.add_prefix(learner_graph(p, in_channels, opset, tile), f"p{i}_")
                 for i, p in enumerate(m.parts)]
        nodes, inits = [], []
        for i, g in enumerate(parts):
            for nd in g.graph.node:
                nd.input[:] = ["input" if v == f"p{i}_input" else v for v in nd.input]
                nodes.append(nd)
            inits += list(g.graph.initializer)
        nodes += [helper.make_node("Sum", [f"p{i}_output" for i in range(len(parts))], ["sum"]),
                  helper.make_node("Div", ["sum", "n_parts"], ["output"])]
        inits.append(helper.make_tensor("n_parts", TensorProto.FLOAT, [], [float(len(parts))]))
        g0 = parts[0].graph
        graph = helper.make_graph(nodes, "bandbridge_blend", [renamed(g0.input[0], "input")],
                                  [renamed(g0.output[0], "output")], inits)
        return with_opsets(graph, parts)
