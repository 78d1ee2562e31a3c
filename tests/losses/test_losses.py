import math

import pytest
import torch

from bandbridge.losses import ADVERSARIAL, gradient_penalty, masked_l1


def test_gradient_penalty_on_a_linear_critic():
    # D(x, y) = Σ a·y has ∇_y D = a everywhere: ‖∇‖₂ = |a|·√N, so GP = (|a|·√N − 1)² exactly,
    # whatever the interpolation ε.
    a = 0.05
    n = 1 * 8 * 8

    def critic(cond, y):
        return (a * y).flatten(1).sum(1)

    real, fake, cond = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8), torch.rand(3, 3, 8, 8)
    gp = gradient_penalty(critic, cond, real, fake)
    assert float(gp) == pytest.approx((a * math.sqrt(n) - 1) ** 2, rel=1e-5)


def test_gradient_penalty_is_zero_for_unit_gradient_and_differentiable():
    w = torch.full((1, 1, 4, 4), 0.25, requires_grad=True)  # ‖w‖₂ = 1

    def critic(cond, y):
        return (w * y).flatten(1).sum(1)

    gp = gradient_penalty(critic, torch.rand(2, 3, 4, 4), torch.rand(2, 1, 4, 4),
                          torch.rand(2, 1, 4, 4))
    assert float(gp) == pytest.approx(0.0, abs=1e-10)
    w2 = torch.full((1, 1, 4, 4), 0.5, requires_grad=True)
    gp2 = gradient_penalty(lambda c, y: (w2 * y).flatten(1).sum(1), None, torch.rand(2, 1, 4, 4),
                           torch.rand(2, 1, 4, 4))
    gp2.backward()
    assert w2.grad is not None and float(w2.grad.abs().sum()) > 0  # penalty trains the critic


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_signs(name):
    d_loss, g_loss = ADVERSARIAL[name]
    good, bad = torch.full((4, 1, 3, 3), 5.0), torch.full((4, 1, 3, 3), -5.0)
    # A critic that scores real high and fake low has a lower loss than the reverse ...
    assert d_loss(good, bad) < d_loss(bad, good)
    # ... and a generator whose fakes score high has a lower loss than one whose fakes score low.
    assert g_loss(good) < g_loss(bad)


def test_adversarial_values():
    r, f = torch.tensor([2.0]), torch.tensor([-1.0])
    assert float(ADVERSARIAL["wgan-gp"][0](r, f)) == pytest.approx(-3.0)
    assert float(ADVERSARIAL["hinge"][0](r, f)) == pytest.approx(0.0)
    assert float(ADVERSARIAL["lsgan"][0](r, f)) == pytest.approx(0.5 * 1 + 0.5 * 1)
    assert float(ADVERSARIAL["vanilla"][0](r, f)) == pytest.approx(
        math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)))


def test_masked_l1_ignores_masked_pixels():
    pred = torch.tensor([[[[0.0, 1.0], [0.5, 0.2]]]])
    target = torch.tensor([[[[0.0, 0.0], [0.0, 0.2]]]])
    mask = torch.tensor([[[[True, False], [True, True]]]])
    assert float(masked_l1(pred, target, mask)) == pytest.approx(0.5 / 3)
