"""``ContextFeatures``' eager form (written into one tensor) equals its graph form (fresh tensors, what
ONNX export, tracing and autograd use) bit for bit, for every shape of features the learners ask for."""

import pytest
import torch

from bandbridge.models.features import ContextFeatures


@pytest.mark.parametrize("windows", [(), (3, 9), (5, 15, 45)])
@pytest.mark.parametrize("products", [False, True])
@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_the_eager_form_is_the_graph_form(windows, products, exact, dtype):
    x = torch.rand(2, 4, 37, 29, generator=torch.Generator().manual_seed(3)).to(dtype)
    f = ContextFeatures(4, windows, products, exact)
    with torch.inference_mode():
        eager, graph = f(x), f.graph_forward(x)
    assert eager.shape == (2, f.out_channels, 37, 29) and eager.dtype == dtype
    assert torch.equal(eager, graph)


def test_the_graph_form_serves_autograd():
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    y = ContextFeatures(3, (3,), True)(x)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_each_block_holds_its_feature():
    x = torch.rand(1, 2, 12, 12, generator=torch.Generator().manual_seed(0))
    f = ContextFeatures(2, (3,), True)(x)
    assert torch.equal(f[:, :2], x)  # the bands
    assert torch.allclose(f[:, 2:4].mean(), x.mean(), atol=0.05)  # their local means
    assert (f[:, 4:6] >= 0).all()  # deviations
    assert torch.equal(f[0, 6], x[0, 0] * x[0, 0]) and torch.equal(f[0, 7], x[0, 0] * x[0, 1])
    assert torch.equal(f[0, 8], x[0, 1] * x[0, 1])


@pytest.mark.parametrize("windows", [(), (3, 9), (5, 15, 45)])
@pytest.mark.parametrize("products", [False, True])
def test_the_weighted_sum_is_the_map_of_the_features_held_whole(windows, products):
    """``weighted`` (an affine learner's engine: ``w·φ + b`` summed window by window, the products as
    ``Σ_i x_i·(Σ_j w_ij·x_j)``) is the 1×1 map of ``φ`` held whole, eagerly and as an ONNX graph."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'bandbridge[onnx]')")
    g = torch.Generator().manual_seed(5)
    x = torch.rand(2, 4, 53, 47, generator=g)
    f = ContextFeatures(4, windows, products)
    w, b = torch.randn(3, f.out_channels, generator=g), torch.randn(3, generator=g)
    with torch.inference_mode():
        whole = torch.nn.functional.conv2d(f(x), w[:, :, None, None], b)
        assert torch.allclose(f(x, (w, b)), whole, atol=1e-4, rtol=0)

    class Head(torch.nn.Module):
        def forward(self, v):
            return f(v, (w, b))
    import io
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(Head(), (x,), buf, input_names=["x"], output_names=["y"], dynamo=False)
    graph = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    assert abs(graph.run(None, {"x": x.numpy()})[0] - whole.numpy()).max() < 1e-4


def test_an_affine_learners_output_is_its_map_of_the_features_and_never_holds_them():
    from bandbridge.learners.base import LearnerModule
    from bandbridge.learners.linear import AffineModule
    m = AffineModule(3, 2, (5, 15), True).eval()
    m.head.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    seen = []
    hook = m.features.register_forward_hook(lambda mod, i, out: seen.append(out.shape[1]))
    with torch.inference_mode():
        y, held = m(x), LearnerModule.raw(m, x).clamp(0.0, 1.0)  # the base class holds φ whole
    hook.remove()
    assert torch.allclose(y, held, atol=1e-5, rtol=0)
    assert seen[0] == 2 and seen[1] == m.features.out_channels  # the fused pass returned the 2 outputs, not φ
