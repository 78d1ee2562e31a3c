"""A generator as one ONNX graph, whatever it holds: traced from torch where the tracer can
export all of it; else a learner's own graph (its kind's ``graph``, learners/: boosted trees
converted by their kind, a blend's parts averaged), or for a network's residual on such a learner
(models/anchored.py) the learner's graph and the residual traced from torch, added and clipped
to [0, 1] — two graphs, no module swapped; a fallback to the floor (models/fallback.py) around
such a generator, its graph and the fallback's traced beside it. Export, the QGIS graph and the ONNX backends' cache
all write their graph here."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from bandbridge.errors import BandbridgeError
from bandbridge.learners.base import renamed, with_opsets
from bandbridge.learners.registry import graph_flips, learner_graph, traceable
from bandbridge.models.anchor import image_stats
from bandbridge.models.anchored import Anchored
from bandbridge.models.fallback import Fallback


def write_graph(net, args: tuple, names: list[str], axes: dict | None, path: Path,
                in_channels: int, opset: int = 17, tile: int | None = None) -> None:
    """Write ``net`` (eval mode) to ``path``: inputs ``names`` fed ``args`` (``input``, and
    ``context`` where the generator takes one), output ``output``; ``axes`` the dynamic axes
    (None: the shapes of ``args``, e.g. ``(1, Ci, tile, tile)``)."""
    import onnx
    if traceable(net):
        _export(net, args, path, names, axes, opset)
    else:
        onnx.save(graph_of(net, args, names, axes, in_channels, opset, tile), str(path))


def graph_of(net, args: tuple, names: list[str], axes: dict | None, in_channels: int,
             opset: int = 17, tile: int | None = None):
    """``net``'s ONNX model, as :func:`write_graph` writes it."""
    import onnx
    if traceable(net):
        buf = io.BytesIO()
        _export(net, args, buf, names, axes, opset)
        return onnx.load_from_string(buf.getvalue())
    if isinstance(net, Fallback):
        return fallback_model(net, args, names, axes, in_channels, opset, tile)
    if isinstance(net, Anchored):
        return anchored_model(net, args, names, axes, in_channels, opset, tile)
    return learner_graph(net, in_channels, opset, tile)


def _export(net, args: tuple, path, names: list[str], axes: dict | None, opset: int) -> None:
    with warnings.catch_warnings():  # tracer warnings on shape branches; the check decides
        warnings.simplefilter("ignore")
        torch.onnx.export(net, args, path if isinstance(path, io.BytesIO) else str(path),
                          input_names=names, output_names=["output"], dynamic_axes=axes,
                          opset_version=opset, dynamo=False)


class Residual(torch.nn.Module):
    """``w·R(x)`` of an anchored generator as a module of its own, to be traced."""

    def __init__(self, net: Anchored):
        super().__init__()
        self.net = net

    def forward(self, x, context=None):
        return self.net.weighted_residual(x, context)


def anchored_model(net: Anchored, args: tuple, names: list[str], axes: dict | None,
                   in_channels: int, opset: int = 17, tile: int | None = None):
    """The learner's graph plus the residual's, traced from torch, summed and clipped to [0, 1]:
    what :class:`Anchored` computes."""
    import onnx
    from onnx import TensorProto, helper
    if not net.clamp_learner:
        raise BandbridgeError("an unclamped anchor is a linear map, which the tracer exports whole")
    anchor = onnx.compose.add_prefix(learner_graph(net.learner, in_channels, opset, tile), "a_")
    buf = io.BytesIO()
    _export(Residual(net).eval(), args, buf, names, axes, opset)
    residual = onnx.compose.add_prefix(onnx.load_from_string(buf.getvalue()), "r_")
    nodes, inits = _joined(((anchor, "a_"), (residual, "r_")), names)
    nodes += [helper.make_node("Add", ["a_output", "r_output"], ["anchored"]),
              helper.make_node("Clip", ["anchored", "lo_out", "hi_out"], ["output"])]
    inits += [helper.make_tensor("lo_out", TensorProto.FLOAT, [], [0.0]),
              helper.make_tensor("hi_out", TensorProto.FLOAT, [], [1.0])]
    inputs = [renamed(v, v.name[2:]) for v in residual.graph.input if v.name[2:] in names]
    graph = helper.make_graph(nodes, "bandbridge_anchored", inputs,
                              [renamed(residual.graph.output[0], "output")], inits)
    return with_opsets(graph, [anchor, residual])


class FallbackHead(torch.nn.Module):
    """``y + (1 − w)(F(x) − y)`` of a fallback generator (models/fallback.py) given the wrapped
    generator's output ``y``, as a module of its own, to be traced."""

    def __init__(self, net: Fallback):
        super().__init__()
        self.net = net

    def forward(self, x, inner, context=None):
        w = self.net.guard(image_stats(x, context, self.net.in_bands)).to(inner.dtype)[:, None, None, None]
        return inner + (1 - w) * (self.net.floor(x) - inner)


def fallback_model(net: Fallback, args: tuple, names: list[str], axes: dict | None,
                   in_channels: int, opset: int = 17, tile: int | None = None):
    """The wrapped generator's graph (trees and all) and the fallback's, traced from torch, in
    one model: what :class:`Fallback` computes."""
    import onnx
    from onnx import helper
    x = args[0]
    own = names if net.passes_context else names[:1]
    own_axes = None if axes is None else {k: v for k, v in axes.items() if k in own or k == "output"}
    inner = onnx.compose.add_prefix(graph_of(net.model, args[:len(own)], own, own_axes, in_channels, opset, tile),
                                    "m_")
    head_names = ["input", "inner", *names[1:]]
    head_axes = None if axes is None else {**axes, "inner": axes.get("output", {})}
    buf = io.BytesIO()
    with torch.inference_mode():
        y = net.model(*args[:len(own)])
    _export(FallbackHead(net).eval(), (x, y, *args[1:]), buf, head_names, head_axes, opset)
    head = onnx.compose.add_prefix(onnx.load_from_string(buf.getvalue()), "h_")
    nodes, inits = _joined(((inner, "m_"), (head, "h_")), names, {"h_inner": "m_output"})
    nodes.append(helper.make_node("Identity", [head.graph.output[0].name], ["output"]))
    inputs = [renamed(v, v.name[2:]) for v in head.graph.input if v.name[2:] in names]
    graph = helper.make_graph(nodes, "bandbridge_fallback", inputs,
                              [renamed(head.graph.output[0], "output")], inits)
    return with_opsets(graph, [inner, head])


def _joined(parts, names: list[str], links: dict[str, str] | None = None) -> tuple[list, list]:
    """The nodes and initialisers of prefixed graphs ``parts`` (``(model, prefix)``) as one: each
    graph's inputs among ``names`` read the shared inputs, and ``links`` (prefixed name → prefixed
    name) feed one graph's output into another's input."""
    links = links or {}
    nodes, inits = [], []
    for m, pre in parts:
        for nd in m.graph.node:
            nd.input[:] = [links.get(v, v[len(pre):] if v.startswith(pre) and v[len(pre):] in names else v)
                           for v in nd.input]
            nodes.append(nd)
        inits += list(m.graph.initializer)
    return nodes, inits


def agree(got: np.ndarray, ref: np.ndarray, net, what: str) -> None:
    """An exported graph's output against torch's: within 1e-4 everywhere — or, where a learner
    kind of ``net`` may split a pixel differently (``graph_flips``: trees over context features,
    whose box sums round differently in onnxruntime and torch), on all but that share of
    pixels: a different leaf there, the same model."""
    flips = graph_flips(net)
    d = np.abs(got - ref)
    bad = float((d > 1e-4).mean())
    if bad > flips:
        raise BandbridgeError(f"{what} differs from torch by {float(d.max()):.2e} on {bad:.2%} of "
                              f"pixels (> 1e-4{f' on more than {flips:.1%}' if flips else ''})")
