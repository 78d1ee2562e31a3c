"""int8 post-training quantisation of a bundle's ONNX graph (onnxruntime's static quantiser,
QDQ format), for the ``onnx`` and ``openvino`` backends at ``--precision int8``; ``graphs.py``
builds it once into the cache.

Weights are quantised per output channel (int8), activations per tensor (uint8) with ranges
calibrated on the bundle's check sample, its mirror images and brighter and darker copies. The
last three convolutions on every path to the output — the residual's output layers and the fixed
linear anchor — and the ops after them stay fp32: the anchor carries most of the answer, and
quantising it moved the 8-bit NAIP map by 0.6 DN on average on the check tile (refused by the
gate). The context features stay fp32 too (:func:`feature_nodes`). Whether int8 is used at all is the precision gate's decision, as for every candidate; the
calibration tile is also the gate's check tile, so ``bandbridge bench --holdout`` and the README's
figures on other dates are the held-out word on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INT8_FILE = "model-int8.onnx"
FP32_TAIL_CONVS = 3  # convolutions (from the output back) kept in fp32 on every path


def fp32_tail(graph, convs: int = FP32_TAIL_CONVS) -> list[str]:
    """Names of the nodes from the graph's output back to, and including, the ``convs``-th
    convolution on every path (the ops that stay fp32)."""
    producer = {o: n for n in graph.node for o in n.output}
    keep, seen, stack = [], set(), [(o.name, 0) for o in graph.output]
    while stack:
        tensor, n_conv = stack.pop()
        node = producer.get(tensor)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        keep.append(node.name)
        is_conv = node.op_type in ("Conv", "ConvTranspose")
        n_conv += is_conv
        if is_conv and n_conv >= convs:
            continue
        stack.extend((i, n_conv) for i in node.input)
    return keep


def feature_nodes(graph) -> list[str]:
    """Names of the nodes of the context features (models/features.py: the module a learner
    calls ``features``, as the exporter scopes it). They stay fp32: their window sums add up to
    45² inputs, and uint8 activations lose the local means and deviations every later layer reads
    (rgb2nir-photo's check tile: mean |Δ| 9e-3 from fp32 with them quantised)."""
    return [n.name for n in graph.node if "/features/" in n.name]


CALIBRATION_GAINS = (0.6, 0.8, 1.0, 1.25, 1.6)


def calibration_feeds(sample, takes_context: bool, n_stats: int = 0) -> list[dict[str, np.ndarray]]:
    """The check tile and its mirror images, each at ``CALIBRATION_GAINS`` brightness (clipped
    to [0, 1]; the per-image statistics, the last ``n_stats`` context entries, scaled alike), as
    onnxruntime feeds. The gains widen the calibrated ranges to scenes brighter and darker than
    the one tile: calibrated on the tile alone, other NAIP dates moved by up to 3 DN."""
    feeds = []
    for gain in CALIBRATION_GAINS:
        for flip in ((), (3,), (2,), (2, 3)):
            x = np.flip(sample.x, flip) if flip else sample.x
            feed = {"input": np.ascontiguousarray(np.clip(x * gain, 0, 1), np.float32)}
            if takes_context:
                # no georeference (a photo): lat, lon and GSD are NaN, which no range can hold
                # (onnxruntime's calibration fails on them); the generator never reads them
                # unless it has a location prior, and the gate judges the result either way
                ctx = np.nan_to_num(sample.context.astype(np.float32), nan=0.0)
                if n_stats:
                    ctx[:, -n_stats:] = np.clip(ctx[:, -n_stats:] * gain, 0, 1)
                feed["context"] = ctx
            feeds.append(feed)
    return feeds


def quantize_graph(src: Path, dst: Path, sample, n_stats: int = 0) -> None:
    """Write the int8 (QDQ) version of the fp32 graph ``src`` to ``dst`` (atomically)."""
    import logging

    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    from bandbridge.errors import BandbridgeError
    from bandbridge.fileio import atomic_paths
    model = onnx.load(str(src))
    takes_context = any(i.name == "context" for i in model.graph.input)

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calibration_feeds(sample, takes_context, n_stats))

        def get_next(self):
            return next(self.it, None)

    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # its "consider pre-processing" advice is noise here
    try:
        with atomic_paths([dst]) as (tmp,):
            quantize_static(str(src), str(tmp), Feeds(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax,
                            nodes_to_exclude=fp32_tail(model.graph) + feature_nodes(model.graph))
            if not any(n.op_type == "QuantizeLinear" for n in onnx.load(str(tmp)).graph.node):
                raise BandbridgeError("int8: nothing in this model's graph is quantised (its context "
                                      "features and last layers stay fp32, and that is all of it); use "
                                      "--precision fp32")
    finally:
        logging.getLogger().setLevel(level)

