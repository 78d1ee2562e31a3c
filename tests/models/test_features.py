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
