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
    return getattr(net, "kind", None) == "gbm" and hasattr(net, "tree_texts")


def tree_graph(net, in_channels: int, path: Path, opset: int = 17, tile: int | None = None) -> None:
    """Write ``net`` (a gbm PixelLearner) to ``path`` as ONNX: input ``input`` ``(B, Ci, H, W)``
    (static ``(1, Ci, tile, tile)`` when ``tile`` is given), output ``output`` ``(B, Ct, H, W)``
    clamped to [0, 1]."""
    import io

    import lightgbm as lgb
    import onnx
    import onnxmltools
    import torch
    from onnx import TensorProto, helper
    from onnxmltools.convert.common.data_types import FloatTensorType

    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.f = net.features

        def forward(self, x):
            return self.f(x)

    n = tile or 64
    x = torch.rand(1, in_channels, n, n)
    buf = io.BytesIO()
    axes = None if tile else {"input": {0: "batch", 2: "height", 3: "width"},
                              "features": {0: "batch", 2: "height", 3: "width"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Features().eval(), (x,), buf, input_names=["input"],
                          output_names=["features"], dynamic_axes=axes, opset_version=opset,
                          dynamo=False)
    feats = onnx.load_from_string(buf.getvalue())
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
    onnx.save(model, str(path))


def max_tree_gap(path: Path, net, in_channels: int, side: int = 96, seed: int = 0) -> float:
    """The largest |ONNX − torch| of the tree graph at ``path`` on a random image (model values):
    LightGBM compares in float64, onnxruntime's trees in float32."""
    import onnxruntime as ort
    import torch
    x = torch.from_numpy(np.random.default_rng(seed).random((1, in_channels, side, side + 8),
                                                            dtype=np.float32))
    with torch.inference_mode():
        ref = net(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(np.abs(sess.run(["output"], {"input": x.numpy()})[0] - ref).max())
