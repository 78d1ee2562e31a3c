"""``gbm``: gradient-boosted trees, one LightGBM model per target band, on the bands or on ``φ``.

LightGBM, not scikit-learn's histogram GBM: its text model format needs no pickle (a bundle keeps
it as bytes in a ``uint8`` buffer, so safetensors holds it and loading never unpickles), it trains
on a Dask cluster, and onnxmltools converts it to ONNX trees. The trees run in LightGBM itself or
in onnxruntime's tree ensemble, never in hand-written code. OpenVINO has no tree ensembles and an
int8 or bf16 graph would split on rounded features, so its graph runs on torch and onnxruntime at
fp32 only (``runs_on``).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from torch import Tensor

from pydantic import Field

from bandbridge.errors import BandbridgeError
from bandbridge.learners.base import Learner, LearnerArgs, LearnerModule, traced
from bandbridge.learners.tree_text import booster, checked_tree_text

PARAMS = dict(n_estimators=200, learning_rate=0.08, num_leaves=31, min_child_samples=20, max_bin=127,
              subsample=1.0, colsample_bytree=1.0, reg_lambda=0.0)
CHUNK = 1 << 20  # pixels per LightGBM call: bounds the float64 copy of the features
ML_DOMAIN = "ai.onnx.ml"
TREE_OPSET = 15  # the highest onnxmltools' LightGBM converter writes; its tree node is ml opset 1


MAX_TREE_BYTES = 1 << 30  # a band's text model larger than this is not a model this project wrote


class GBMArgs(LearnerArgs):
    gbm_bytes: list[Annotated[int, Field(gt=0, le=MAX_TREE_BYTES)]] = Field(min_length=1)


class TreesModule(LearnerModule):
    """The trees as LightGBM text models (one per target band) in the ``trees`` buffer
    (``gbm_bytes``: each model's length), run by LightGBM on float32 features."""

    exact_features = True  # thresholds sit between feature values 1e-6 apart: no running sums

    def __init__(self, in_channels: int, out_channels: int, windows=(), products: bool = False,
                 gbm_bytes: list[int] | None = None):
        super().__init__(in_channels, out_channels, windows, products)
        if not gbm_bytes or len(gbm_bytes) != out_channels:
            raise ValueError(f"a gbm learner needs gbm_bytes, one length per target band "
                             f"({out_channels})")
        self.gbm_bytes = [int(n) for n in gbm_bytes]
        self.register_buffer("trees", torch.zeros(sum(self.gbm_bytes), dtype=torch.uint8))
        self._boosters: list | None = None

    def feature_dtype(self) -> torch.dtype:
        return torch.float32  # trees split on float32 thresholds (float32_thresholds)

    def set_trees(self, texts: list[str]) -> None:
        raw = [t.encode() for t in texts]
        self.gbm_bytes = [len(r) for r in raw]
        self.trees = torch.frombuffer(bytearray(b"".join(raw)), dtype=torch.uint8).clone()
        self._boosters = None

    def tree_texts(self, where: str = "the gbm learner") -> list[str]:
        """The LightGBM text models held in ``trees``, one per target band, each checked by the
        project's own parser (``tree_text.py``) before LightGBM sees it; ``where`` names the
        bundle in a refusal."""
        raw, out, at = self.trees.numpy().tobytes(), [], 0
        if sum(self.gbm_bytes) != len(raw):
            raise BandbridgeError(f"{where}: gbm_bytes add up to {sum(self.gbm_bytes)} bytes, the "
                                  f"trees hold {len(raw)}; the bundle is damaged: copy it again")
        for k, n in enumerate(self.gbm_bytes):
            out.append(checked_tree_text(raw[at:at + n], self.features.out_channels,
                                         f"{where}, band {k}"))
            at += n
        return out

    def check_data(self, where: str) -> None:
        """Refuse trees that are not a model this project wrote, before anything runs them."""
        self._boosters = [booster(t, f"{where}, band {k}") for k, t in enumerate(self.tree_texts(where))]

    def boosters(self) -> list:
        if self._boosters is None:
            self.check_data("the gbm learner")
        return self._boosters

    def on_features(self, f: Tensor) -> Tensor:
        b, c, h, w = f.shape
        a = f.detach().permute(0, 2, 3, 1).reshape(-1, c).cpu().numpy()
        out = np.empty((len(a), self.out_channels), np.float32)
        for i in range(0, len(a), CHUNK):
            part = a[i:i + CHUNK].astype(np.float64)
            for k, booster in enumerate(self.boosters()):
                out[i:i + CHUNK, k] = booster.predict(part, num_threads=0)
        y = torch.from_numpy(out).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return y.to(f.device).contiguous()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._boosters = None


class GBM(Learner):
    kind = "gbm"
    head_cost = 3
    module_class = TreesModule
    args_type = GBMArgs
    runs_on = frozenset({"torch", "onnx", "fp32"})
    traceable = False
    # share of pixels whose exported graph may take the other branch of a split than torch: box
    # sums round differently in onnxruntime (1e-7), so a feature that close to a threshold flips
    graph_flips = 1e-3

    def __init__(self, context: bool = True, **params):
        super().__init__(context)
        self.params = PARAMS | params

    @classmethod
    def candidates(cls) -> list["GBM"]:
        return [cls(context=False), cls(context=True)]

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "GBM":
        import lightgbm as lgb
        A = self.columns(X, bands).astype(np.float64)
        self.trees_ = []
        for k in range(Y.shape[1]):
            m = lgb.LGBMRegressor(**self.params, random_state=0, deterministic=True,
                                  force_col_wise=True, verbose=-1, n_jobs=0)
            m.fit(A, Y[:, k].astype(np.float64))
            self.trees_.append(float32_thresholds(m.booster_.model_to_string()))
        return self

    def predict(self, X: np.ndarray, bands: int) -> np.ndarray:
        import lightgbm as lgb
        # float32 as given: LightGBM widens each value exactly (a float64 copy would double the
        # memory of a strip of features for nothing)
        A = np.ascontiguousarray(self.columns(X, bands), np.float32)
        return np.clip(np.stack([lgb.Booster(model_str=t).predict(A) for t in self.trees_], 1), 0, 1)

    def args(self) -> dict:
        return super().args() | {"gbm_bytes": [len(t.encode()) for t in self.trees_]}

    def load(self, m: TreesModule) -> None:
        m.set_trees(self.trees_)

    @classmethod
    def graph(cls, m: TreesModule, in_channels: int, opset: int = 17, tile: int | None = None):
        """The features traced from torch, then each band's trees converted by onnxmltools to an
        ``ai.onnx.ml`` TreeEnsembleRegressor, joined by the reshapes between them."""
        import lightgbm as lgb
        import onnx
        import onnxmltools
        from onnx import TensorProto, helper
        from onnxmltools.convert.common.data_types import FloatTensorType

        feats = traced(m.features, in_channels, opset, tile, "features")
        n, f = tile or 64, m.features.out_channels
        nodes, inits = list(feats.graph.node), list(feats.graph.initializer)
        nodes += [helper.make_node("Transpose", ["features"], ["nhwc"], perm=[0, 2, 3, 1]),
                  helper.make_node("Shape", ["nhwc"], ["nhwc_shape"]),
                  helper.make_node("Reshape", ["nhwc", "flat_shape"], ["flat"]),
                  helper.make_node("Slice", ["nhwc_shape", "zero", "three"], ["bhw"])]
        inits += [helper.make_tensor("flat_shape", TensorProto.INT64, [2], [-1, f]),
                  helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
                  helper.make_tensor("three", TensorProto.INT64, [1], [3]),
                  helper.make_tensor("ct", TensorProto.INT64, [1], [m.out_channels]),
                  helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]),
                  helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0])]
        ml, bands = 1, []
        for k, text in enumerate(m.tree_texts()):
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
        shape_out = [1, m.out_channels, n, n] if tile else ["batch", m.out_channels, "height", "width"]
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


def float32_thresholds(text: str) -> str:
    """A LightGBM text model with every split threshold ``t`` replaced by the largest float32
    ``≤ t``. For float32 features ``f ≤ t`` exactly when ``f ≤ that float32``, so predictions do
    not change — and onnxruntime's float32 trees then split every pixel exactly as LightGBM does."""
    def floor32(v: str) -> str:
        t = float(v)
        t32 = np.float32(t)
        if float(t32) > t:
            t32 = np.nextafter(t32, np.float32(-np.inf))
        return repr(float(t32))
    out = []
    for line in text.splitlines():
        if line.startswith("tree_sizes="):  # byte sizes of the trees, which change: LightGBM
            continue  # reads the trees one by one without them
        if line.startswith("threshold="):
            line = "threshold=" + " ".join(floor32(v) for v in line[len("threshold="):].split())
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
