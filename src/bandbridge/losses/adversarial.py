"""Adversarial objectives as pairs of small functions on critic scores (logits), plus the
WGAN-GP gradient penalty.

``d_loss(real, fake)`` is what the critic minimises; ``g_loss(fake)`` what the generator
minimises. Scores are any shape; losses are means over all elements.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def vanilla_d(real: Tensor, fake: Tensor) -> Tensor:
    """−E[log D(x,y)] − E[log(1 − D(x,G(x)))], with D = sigmoid(score)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def vanilla_g(fake: Tensor) -> Tensor:
    """Non-saturating: −E[log D(x,G(x))]."""
    return F.softplus(-fake).mean()


def lsgan_d(real: Tensor, fake: Tensor) -> Tensor:
    """½E[(D(x,y) − 1)²] + ½E[D(x,G(x))²]."""
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def lsgan_g(fake: Tensor) -> Tensor:
    return 0.5 * ((fake - 1) ** 2).mean()


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    """E[max(0, 1 − D(x,y))] + E[max(0, 1 + D(x,G(x)))]."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g(fake: Tensor) -> Tensor:
    """−E[D(x,G(x))]: the hinge's generator term and WGAN's alike."""
    return -fake.mean()


def wgan_d(real: Tensor, fake: Tensor) -> Tensor:
    """E[D(x,G(x))] − E[D(x,y)]: the negative Wasserstein estimate (penalty added separately)."""
    return fake.mean() - real.mean()


ADVERSARIAL: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "vanilla": (vanilla_d, vanilla_g),
    "lsgan": (lsgan_d, lsgan_g),
    "hinge": (hinge_d, hinge_g),
    "wgan-gp": (wgan_d, hinge_g),
}


def gradient_penalty(critic: Callable[[Tensor, Tensor], Tensor], cond: Tensor, real: Tensor,
                     fake: Tensor) -> Tensor:
    """E[(‖∇_ŷ D(x, ŷ)‖₂ − 1)²] with ŷ = ε·y + (1 − ε)·G(x), ε ~ U[0, 1] per sample.

    The gradient is taken with respect to the interpolated target only (the condition x is the
    same on both sides of the pair). ``fake`` should be detached from the generator.
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    y_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(cond, y_hat)
    (grad,) = torch.autograd.grad(score.sum(), y_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return ((norm - 1) ** 2).mean()
