"""CycleGAN's reconstruction terms (Zhu et al. 2017), over valid pixels.

G: A → B and F: B → A; x ∈ A ``(B, Ci, H, W)``, y ∈ B ``(B, Ct, H, W)``; masks ``(B, 1, H, W)``
bool (True = valid).
- cycle consistency (eq. 2):  L_cyc = E‖F(G(x)) − x‖₁ + E‖G(F(y)) − y‖₁
- identity mapping (§5.2, from Taigman et al. 2017):  L_id = E‖G(y) − y‖₁ + E‖F(x) − x‖₁
Both are the same sum of one L1 per domain, so one function serves both. When the two domains
have different band counts (RGB → thermal), an image enters the other generator through
:func:`as_bands`: one band repeated, or several averaged to one.
"""

from __future__ import annotations

from torch import Tensor

from bandbridge.losses.reconstruction import masked_l1


def two_domain_l1(x: Tensor, x_hat: Tensor, mx: Tensor, y: Tensor, y_hat: Tensor,
                  my: Tensor) -> Tensor:
    """``‖x̂ − x‖₁ + ‖ŷ − y‖₁`` over valid pixels: L_cyc with x̂ = F(G(x)), ŷ = G(F(y)); L_id
    with x̂ = F(x), ŷ = G(y)."""
    return masked_l1(x_hat, x, mx) + masked_l1(y_hat, y, my)


def can_swap_bands(n_from: int, n_to: int) -> bool:
    """Whether :func:`as_bands` can show an image of ``n_from`` bands to a generator of
    ``n_to`` (equal counts, or one of them a single band)."""
    return n_from == n_to or 1 in (n_from, n_to)


def as_bands(t: Tensor, n: int) -> Tensor:
    """``t (B, C, H, W)`` as ``n`` bands for the identity term: itself (C = n), its one band
    repeated (C = 1), or the mean of its bands (n = 1: an RGB image seen as gray)."""
    c = t.shape[1]
    if c == n:
        return t
    if c == 1:
        return t.expand(-1, n, -1, -1)
    if n == 1:
        return t.mean(1, keepdim=True)
    raise ValueError(f"cannot show {c} bands as {n}")
