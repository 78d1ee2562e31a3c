"""The context windows by nested sums (models/features.py): equal to the direct box filters to
float32 rounding, the same in every tile, and a cost that does not grow with the window."""

import pytest
import torch

from bandbridge.models.features import ContextFeatures, box_mean_direct, box_means

WINDOWS = (3, 5, 15, 45, 7, 29)  # 3 → 15 → 45 nested (15 = 5·3 via 5), 7 and 29 by halving


@pytest.mark.parametrize("graph", [False, True], ids=["shifted-adds", "depthwise-convs"])
@pytest.mark.parametrize("side", [7, 300, 1068])
def test_nested_sums_equal_the_direct_filters(side, graph):
    """Every window's mean within 1e-6 of the float64 direct filter (float32's own rounding of a
    sum of up to 45² values; an 8-bit DN is 3.9e-3), up to the 1024² tiles learners predict on
    plus their halo, by shifted additions (eager torch) and by depthwise convolutions (what an
    ONNX export holds). Windows wider than the image replicate its edges."""
    g = torch.Generator().manual_seed(side)
    x = torch.rand(1, 2, side, side + 5, generator=g)
    for k, got in zip(WINDOWS, box_means(x, WINDOWS, graph=graph, channels=2)):
        want = box_mean_direct(x.double(), k)
        assert got.shape == x.shape
        err = float((got.double() - want).abs().max())
        assert err < 1e-6, (side, k, err)


def test_features_equal_the_exact_ones():
    """The served features against the exact ones the core fits on (direct filters), on an
    8-bit-like image with a flat field, where a local standard deviation is the square root of
    a variance near zero: means and products to 1e-6, deviations to 2e-3 absolute on flat windows
    (the square root of float32 rounding) and 1e-4 relative elsewhere."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 3, 520, 520, generator=g) * 40).round() / 255 + 0.2
    x[..., 100:200, 100:200] = 0.5
    run, exact = (ContextFeatures(3, (5, 15, 45), True, exact=e)(x) for e in (False, True))
    c = 3
    for w in range(3):
        mu = slice(c + 2 * c * w, c + 2 * c * w + c)
        sd = slice(c + 2 * c * w + c, c + 2 * c * (w + 1))
        assert float((run[:, mu] - exact[:, mu]).abs().max()) < 1e-6
        d, ref = (run[:, sd] - exact[:, sd]).abs(), exact[:, sd]
        assert float(d.max()) < 2e-3
        assert float((d / ref.clamp_min(1e-12))[ref > 0.02].max()) < 1e-4
    assert torch.equal(run[:, -6:], exact[:, -6:])  # products: as they were


def test_nested_sums_are_the_same_in_every_tile():
    """A tile cut with an overlap of half the largest window computes, away from its edges,
    bit for bit what the whole image does: each sum adds its inputs in an order fixed by the
    window, not by where the tile starts."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 400, 380, generator=g)
    f = ContextFeatures(3, (5, 15, 45), True)
    whole = f(x)
    halo = 22
    for top, left in [(0, 0), (130, 90), (250, 200)]:
        tile = f(x[..., top:top + 150, left:left + 180])
        t0, l0 = (halo if top else 0), (halo if left else 0)
        inner = tile[..., t0:150 - halo, l0:180 - halo]
        ref = whole[..., top + t0:top + 150 - halo, left + l0:left + 180 - halo]
        assert torch.equal(inner, ref)


def test_the_widest_window_costs_a_few_additions():
    """The exported graph has no AveragePool whose kernel is the window, and a window three
    times wider (135 px after 45) adds the same handful of nodes as 45 did after 15."""
    from bandbridge.learners.base import traced
    ops = {}
    for windows in [(5, 15), (5, 15, 45), (5, 15, 45, 135)]:
        g = traced(ContextFeatures(3, windows, True).eval(), 3, 17, None)
        names = [n.op_type for n in g.graph.node]
        assert "AveragePool" not in names
        ops[len(windows)] = len(names)
    assert ops[3] - ops[2] == ops[4] - ops[3]


def test_the_exported_graph_holds_convolutions_and_is_seamless_in_onnxruntime():
    """The ONNX graph of the features computes the window sums as depthwise convolutions, equal
    to eager torch's to float32 rounding, and the same in every tile of onnxruntime, bit for bit."""
    import io

    import numpy as np
    import onnx
    import onnxruntime as ort
    f = ContextFeatures(3, (5, 15, 45), True).eval()
    buf = io.BytesIO()
    torch.onnx.export(f, torch.rand(1, 3, 64, 64), buf, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}}, opset_version=17,
                      dynamo=False)
    graph = onnx.load_from_string(buf.getvalue())
    assert sum(n.op_type == "Conv" for n in graph.graph.node) == 6  # a row and a column a window
    run = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 400, 380, generator=g)
    whole = run.run(None, {"input": x.numpy()})[0]
    assert float(np.abs(whole - f(x).numpy()).max()) < 1e-5
    halo = 22
    for top, left in [(0, 0), (130, 90), (250, 200)]:
        tile = run.run(None, {"input": x[..., top:top + 150, left:left + 180].contiguous().numpy()})[0]
        t0, l0 = (halo if top else 0), (halo if left else 0)
        assert np.array_equal(tile[..., t0:150 - halo, l0:180 - halo],
                              whole[..., top + t0:top + 150 - halo, left + l0:left + 180 - halo])
