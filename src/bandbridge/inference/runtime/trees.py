"""A boosted-tree learner (models/learner.py, kind ``gbm``) as one ONNX graph: its context
features exported from torch, then each target band's LightGBM model converted by onnxmltools to
an ``ai.onnx.ml`` TreeEnsembleRegressor (no hand-written tree code), joined with the reshapes
between them. onnxruntime (and QGIS Deepness, which runs on it) runs it; OpenVINO has no tree
ensembles, so the backend choice never offers it one (``select.py``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

ML_DOMAIN = "ai.onnx.ml"
TREE_OPSET = 15  # the highest onnxmltools' LightGBM converter writes; its tree node is ml opset 1


def is_tree_learner(net) -> bool:
    """A boosted-tree learner, or a blend with one among its parts: its graph is built here."""
    if getattr(net, "kind", None) == "blend":
        return any(is_tree_learner(p) for p in net.parts)
    return getattr(net, "kind", None) == "gbm" and hasattr(net, "tree_texts")


def has_trees(net) -> bool:
    """A tree learner, or a network anchored on one (``anchor: learner``): no graph of it can be
    traced from torch alone."""
    return is_tree_learner(net) or is_tree_learner(getattr(net, "spectral", None))


def tree_graph(net, in_channels: int, path: Path, opset: int = 17, tile: int | None = None) -> None:
    """Write ``net`` (a gbm PixelLearner, or a blend of learners) to ``path`` as ONNX: input
    ``input`` ``(B, Ci, H, W)`` (static ``(1, Ci, tile, tile)`` when ``tile`` is given), output
    ``output`` ``(B, Ct, H, W)`` in [0, 1]."""
    import onnx
    onnx.save(learner_model(net, in_channels, opset, tile), str(path))


def learner_model(net, in_channels: int, opset: int = 17, tile: int | None = None):
    """The ONNX model of a learner: a blend's parts (each its own graph, names prefixed) averaged,
    a gbm learner's trees, or any other learner traced from torch."""
    import onnx
    from onnx import TensorProto, helper
    if getattr(net, "kind", None) == "blend":
        parts = [onnx.compose.add_prefix(learner_model(p, in_channels, opset, tile), f"p{i}_")
                 for i, p in enumerate(net.parts)]
        nodes, inits = [], []
        for i, m in enumerate(parts):
            for nd in m.graph.node:
                nd.input[:] = ["input" if v == f"p{i}_input" else v for v in nd.input]
                nodes.append(nd)
            inits += list(m.graph.initializer)
        nodes += [helper.make_node("Sum", [f"p{i}_output" for i in range(len(parts))], ["sum"]),
                  helper.make_node("Div", ["sum", "n_parts"], ["output"])]
        inits.append(helper.make_tensor("n_parts", TensorProto.FLOAT, [], [float(len(parts))]))
        g0 = parts[0].graph
        graph = helper.make_graph(nodes, "bandbridge_blend", [_renamed(g0.input[0], "input")],
                                  [_renamed(g0.output[0], "output")], inits)
        return _with_opsets(graph, parts)
    if not is_tree_learner(net):
        return _traced(net, in_channels, opset, tile)
    return _trees(net, in_channels, opset, tile)


def anchored_graph(net, args: tuple, names: list[str], axes: dict | None, path: Path,
                   in_channels: int, opset: int = 17, tile: int | None = None) -> None:
    """Write a network anchored on a tree learner to ``path``: the anchor's graph
    (:func:`learner_model`: onnxmltools' trees) plus the residual traced from torch with the
    anchor swapped for zeros and the output left unclamped, summed and clipped to [0, 1] — what
    the generator computes (models/anchor.py: anchored_output). Inputs ``names`` (``input``, and
    ``context`` where the network takes one), output ``output``."""
    import io

    import onnx
    import torch
    from onnx import TensorProto, helper
    anchor = onnx.compose.add_prefix(learner_model(net.spectral, in_channels, opset, tile), "a_")
    spectral, net.spectral = net.spectral, _zeros(net.spectral.out_channels)
    net.clamp_output = False
    try:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, args, buf, input_names=names, output_names=["output"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
    finally:
        net.spectral, net.clamp_output = spectral, True
    residual = onnx.compose.add_prefix(onnx.load_from_string(buf.getvalue()), "r_")
    nodes, inits = [], []
    for m, pre in ((anchor, "a_"), (residual, "r_")):
        for nd in m.graph.node:
            nd.input[:] = [v[len(pre):] if v.startswith(pre) and v[len(pre):] in names else v
                           for v in nd.input]
            nodes.append(nd)
        inits += list(m.graph.initializer)
    nodes += [helper.make_node("Add", ["a_output", "r_output"], ["anchored"]),
              helper.make_node("Clip", ["anchored", "lo_out", "hi_out"], ["output"])]
    inits += [helper.make_tensor("lo_out", TensorProto.FLOAT, [], [0.0]),
              helper.make_tensor("hi_out", TensorProto.FLOAT, [], [1.0])]
    inputs = [_renamed(v, v.name[2:]) for v in residual.graph.input if v.name[2:] in names]
    graph = helper.make_graph(nodes, "bandbridge_anchored_trees", inputs,
                              [_renamed(residual.graph.output[0], "output")], inits)
    model = _with_opsets(graph, [anchor, residual])
    onnx.save(model, str(path))


def _zeros(out_channels: int):
    """Stands in for a tree anchor while the residual is traced: zeros of the output's shape."""
    import torch

    class Zeros(torch.nn.Module):
        def forward(self, x):
            return x[:, :1].mul(0.0).expand(-1, out_channels, -1, -1)
    return Zeros()


def _with_opsets(graph, parts: list):
    """A checked model of ``graph`` with the highest opset of each domain its ``parts`` use."""
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


def _renamed(value_info, name: str):
    v = type(value_info)()
    v.CopyFrom(value_info)
    v.name = name
    return v


def _traced(net, in_channels: int, opset: int, tile: int | None, output: str = "output"):
    """A module without trees (a learner, or a learner's context features) traced from torch:
    ``input`` → ``output``."""
    import io

    import onnx
    import torch
    n = tile or 64
    buf = io.BytesIO()
    axes = None if tile else {"input": {0: "batch", 2: "height", 3: "width"},
                              output: {0: "batch", 2: "height", 3: "width"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.rand(1, in_channels, n, n),), buf, input_names=["input"],
                          output_names=[output], dynamic_axes=axes, opset_version=opset, dynamo=False)
    return onnx.load_from_string(buf.getvalue())


def _trees(net, in_channels: int, opset: int, tile: int | None):
    """A gbm learner: its features traced from torch, its trees converted by onnxmltools."""
    import lightgbm as lgb
    import onnx
    import onnxmltools
    from onnx import TensorProto, helper
    from onnxmltools.convert.common.data_types import FloatTensorType

    feats = _traced(net.features, in_channels, opset, tile, "features")
    n = tile or 64
    f = net.features.out_channels
    nodes, inits = list(feats.graph.node), list(feats.graph.initializer)
    nodes += [helper.make_node("Transpose", ["features"], ["nhwc"], perm=[0, 2, 3, 1]),
              helper.make_node("Shape", ["nhwc"], ["nhwc_shape"]),
              helper.make_node("Reshape", ["nhwc", "flat_shape"], ["flat"]),
              helper.make_node("Slice", ["nhwc_shape", "zero", "three"], ["bhw"])]
    inits += [helper.make_tensor("flat_shape", TensorProto.INT64, [2], [-1, f]),
              helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
              helper.make_tensor("three", TensorProto.INT64, [1], [3]),
              helper.make_tensor("ct", TensorProto.INT64, [1], [net.out_channels]),
              helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]),
              helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0])]
    ml = 1
    bands = []
    for k, text in enumerate(net.tree_texts()):
        g = onnxmltools.convert_lightgbm(lgb.Booster(model_str=text), initial_types=[
            ("X", FloatTensorType([None, f]))], target_opset=TREE_OPSET)
        ml = max([ml] + [o.version for o in g.opset_import if o.domain == ML_DOMAIN])
        (tree,) = [nd for nd in g.graph.node if nd.domain == ML_DOMAIN]
        tree.input[0], tree.output[0], tree.name = "flat", f"band{k}", f"trees{k}"
        nodes.append(tree)
        bands.append(f"band{k}")
    nodes += [helper.make_node("Concat", bands, ["y_flat"], axis=1),
              helper.make_node("Concat", ["bhw", "ct"], ["y_shape"], axis=0),
              helper.make_node("Reshape", ["y_flat", "y_shape"], ["y_nhwc"]),
              helper.make_node("Transpose", ["y_nhwc"], ["y"], perm=[0, 3, 1, 2]),
              helper.make_node("Clip", ["y", "lo", "hi"], ["output"])]
    shape_in = [1, in_channels, n, n] if tile else ["batch", in_channels, "height", "width"]
    shape_out = [1, net.out_channels, n, n] if tile else ["batch", net.out_channels, "height", "width"]
    graph = helper.make_graph(nodes, "bandbridge_tree_learner",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape_in)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape_out)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid(ML_DOMAIN, ml)],
                              producer_name="bandbridge")
    model.ir_version = min(model.ir_version, feats.ir_version)
    onnx.checker.check_model(model)
    return model


def max_tree_gap(path: Path, net, in_channels: int, side: int = 96, seed: int = 0,
                 width: int | None = None) -> float:
    """The largest |ONNX − torch| of the tree graph at ``path`` on a random image (model values):
    LightGBM compares in float64, onnxruntime's trees in float32."""
    import onnxruntime as ort
    import torch
    x = torch.from_numpy(np.random.default_rng(seed).random((1, in_channels, side, width or side + 8),
                                                            dtype=np.float32))
    with torch.inference_mode():
        ref = net(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(np.abs(sess.run(["output"], {"input": x.numpy()})[0] - ref).max())


TREE_FLIPS = 1e-3  # share of pixels a tree graph may split differently from torch (see agree)


def agree(got: np.ndarray, ref: np.ndarray, trees: bool, what: str) -> None:
    """An exported graph's output against torch's: within 1e-4 everywhere — or, for a graph with
    trees over context features, on all but a ``TREE_FLIPS`` share of pixels. Box-filter sums
    round differently in onnxruntime and torch (1e-7), so a pixel whose feature sits that close to
    a split threshold takes the other branch: a different leaf there, the same model."""
    from bandbridge.errors import BandbridgeError
    d = np.abs(got - ref)
    bad = float((d > 1e-4).mean())
    if (bad > TREE_FLIPS) if trees else bool(bad):
        raise BandbridgeError(f"{what} differs from torch by {float(d.max()):.2e} on {bad:.2%} of "
                              f"pixels (> 1e-4{f' on more than {TREE_FLIPS:.1%}' if trees else ''})")
