"""The fixed spatial context features ``φ(x)`` every context learner and context anchor is a
function of: the bands, their local means and standard deviations, their pairwise products."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SHIFT = 0.5  # subtracted before the sums of squares: model values sit in [0, 1], so they stay small


class ContextFeatures(nn.Module):
    """The anchor's fixed spatial context ``φ(x) (B, F, H, W)``: the bands, their local means
    and standard deviations over ``k × k`` windows (``windows``, px) and, with ``products``, the
    bands' pairwise products ``x_i·x_j`` (i ≤ j). The windows are box filters with edge replication,
    by nested sums (:func:`window_sums`: the 45 px window is nine 15 px ones, four additions, not 45 a
    pixel and axis); tiles need an overlap of half the largest window to stay seamless. Computed in
    float32 at least (bf16 sums would lose the means), whatever precision the map on them runs in.
    Nested sums round like the direct filters (~1e-7) but in another order: trees, whose thresholds sit
    between feature values that close, keep the direct filters the core fits on (``exact``,
    :func:`box_mean_direct`), so they split every pixel as fitted."""

    def __init__(self, channels: int, windows: tuple[int, ...] = (), products: bool = False,
                 exact: bool = False):
        super().__init__()
        self.channels, self.windows, self.products = channels, tuple(int(k) for k in windows), products
        self.exact = exact
        for k in self.windows:
            if k < 3 or k % 2 == 0:
                raise ValueError(f"anchor windows must be odd sizes >= 3, got {k}")

    @property
    def out_channels(self) -> int:
        c = self.channels
        return c + 2 * c * len(self.windows) + (c * (c + 1) // 2 if self.products else 0)

    def forward(self, x: Tensor, head: tuple[Tensor, Tensor] | None = None) -> Tensor:
        if head is not None:  # w, b: the weighted sum of φ, not φ
            return self.weighted(x, *head)
        if torch.onnx.is_in_onnx_export() or torch.jit.is_tracing() or (x.requires_grad and torch.is_grad_enabled()):
            return self.graph_forward(x)  # out= writes neither export nor differentiate
        dtype, x = x.dtype, x.to(torch.promote_types(x.dtype, torch.float32))  # never below float32
        # Written into one tensor: the graph form's fresh tensors and their concatenation cost as much as the
        # sums (first-touch page faults); bitwise equal (tests/models/test_features.py compares the two forms).
        c = self.channels
        out = torch.empty((x.shape[0], self.out_channels, *x.shape[2:]), dtype=x.dtype)
        out[:, :c] = x
        at = c
        if self.windows:
            for m in self.window_means(x, graph=False):
                mu, mu2 = m.chunk(2, 1)
                torch.add(mu, SHIFT, out=out[:, at:at + c])
                v = out[:, at + c:at + 2 * c]
                torch.mul(mu, mu, out=v)
                torch.sub(mu2, v, out=v)
                v.clamp_(min=0.0).sqrt_()
                at += 2 * c
        if self.products:
            for i in range(c):
                torch.mul(x[:, i:i + 1], x[:, i:], out=out[:, at:at + c - i])
                at += c - i
        return out.to(dtype)

    def graph_forward(self, x: Tensor) -> Tensor:
        """:meth:`forward` as a graph of fresh tensors (what ONNX export, tracing and autograd need)."""
        dtype, x = x.dtype, x.to(torch.promote_types(x.dtype, torch.float32))  # never below float32
        feats = [x]
        if self.windows:
            for m in self.window_means(x, graph=torch.onnx.is_in_onnx_export()):
                mu, mu2 = m.chunk(2, 1)
                feats += [mu + SHIFT, (mu2 - mu * mu).clamp_min(0.0).sqrt()]
        if self.products:
            c = self.channels
            feats += [x[:, i:i + 1] * x[:, j:j + 1] for i in range(c) for j in range(i, c)]
        return torch.cat(feats, 1).to(dtype)

    def weighted(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        """``w·φ(x) + b (B, O, H, W)`` (``w (O, F)``, ``b (O,)``) with ``φ`` never held whole: each window's part
        summed as its means are made, the products' as ``Σ_i x_i·(Σ_{j≥i} w_ij·x_j)``. A 10-band ``φ`` is 125
        channels, and writing and reading them cost more than their sums for a map to a few outputs (an affine
        learner: OpenVINO 0.18 s a 920² tile against 0.24; an MLP's 32 units: the products' part costs more folded,
        so it is not). The same terms as ``w·φ(x)``, added in another order (~1e-6); computed here, in the
        features' scope, so int8 graphs keep it fp32 like the features (``runtime/quantize.feature_nodes``)."""
        dtype, x = x.dtype, x.to(torch.promote_types(x.dtype, torch.float32))  # never below float32
        c, w = self.channels, w.to(x.dtype)
        out = mix(w[:, :c], x) + b.to(x.dtype)[:, None, None]
        at = c
        for m in (self.window_means(x, graph=torch.onnx.is_in_onnx_export()) if self.windows else ()):
            mu, mu2 = m.chunk(2, 1)  # the means of x − SHIFT: the feature is mu + SHIFT
            sd = (mu2 - mu * mu).clamp_min(0.0).sqrt()
            out = out + mix(w[:, at:at + 2 * c], torch.cat([mu, sd], 1)) \
                + (SHIFT * w[:, at:at + c].sum(1))[:, None, None]
            at += 2 * c
        for i in range(c if self.products else 0):
            out = out + x[:, i:i + 1] * mix(w[:, at:at + c - i], x[:, i:])
            at += c - i
        return out.to(dtype)

    def window_means(self, x: Tensor, graph: bool) -> list[Tensor]:
        """Each window's means of ``x − SHIFT`` and its square ``(B, 2C, H, W)`` (squares stay small)."""
        s = x - SHIFT
        s2 = torch.cat([s, s * s], 1)
        if self.exact:
            return [box_mean_direct(s2, k) for k in self.windows]
        return box_means(s2, self.windows, graph=graph, channels=2 * self.channels)


def mix(w: Tensor, x: Tensor) -> Tensor:
    """``w (O, C)`` applied to every pixel of ``x (B, C, H, W)`` → ``(B, O, H, W)``: a matrix product in eager torch
    (oneDNN's 1×1 convolution reorders a few channels into its blocked layout at every call: twice the time, measured),
    a 1×1 convolution in a graph (what every runtime fuses)."""
    if torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
        return F.conv2d(x, w[:, :, None, None])
    return torch.einsum("oc,bchw->bohw", w, x)


def box_means(x: Tensor, windows: tuple[int, ...], graph: bool = False, channels: int | None = None
              ) -> list[Tensor]:
    """Means over ``k × k`` windows centred on each pixel, edges replicated, for every ``k`` in
    ``windows``: ``(B, C, H, W)`` each, by nested sums: shifted additions (:func:`window_sums`),
    or with ``graph`` (an ONNX export) the same sums as depthwise convolutions
    (:func:`conv_window_sums`; ``channels``: C, a constant of the graph). Graph runtimes run the
    convolutions faster, eager torch the additions; both add the same terms, nested the same
    way, in float32."""
    big = max(windows) // 2
    pad = F.pad(x, (big, big, big, big), mode="replicate")
    sums = conv_window_sums(pad, windows, channels or x.shape[1]) if graph else window_sums(pad, windows)
    h, w = x.shape[-2:]
    return [sums[k][..., big - k // 2:big - k // 2 + h, big - k // 2:big - k // 2 + w] / (k * k)
            for k in windows]


def window_sums(x: Tensor, windows: tuple[int, ...]) -> dict[int, Tensor]:
    """Sums over every ``k × k`` window of ``x (B, C, H, W)`` that fits in it, for each ``k`` in
    ``windows``: ``{k: (B, C, H - k + 1, W - k + 1)}``, the window's top-left corner at each place.

    A window ``m`` times as wide as a smaller one already summed is ``m × m`` of those side by
    side: ``2 (m - 1)`` additions of shifted copies, whatever ``k`` (the defaults 5, 15, 45 are
    each three of the one before: 5 → 15 → 45 costs four additions a step). Any other window is
    summed along each axis by halving (``S_k = S_h + S_{k-h}`` shifted by ``h``): about
    ``2 log2 k`` additions. Every sum adds at most ``k²`` inputs in an order fixed by the
    window, not by where the tile starts, so a pixel's features are the same in every tile."""
    out: dict[int, Tensor] = {}
    for k, j in nesting(windows):
        out[k] = nested(out[j], j, k // j) if j else axis_sum(axis_sum(x, k, 2), k, 3)
    return out


def nesting(windows: tuple[int, ...]) -> list[tuple[int, int | None]]:
    """Each window ``k`` (smallest first) with the largest smaller window ``j`` it is a whole
    multiple of (summed from ``j``'s sums), or None (summed from the pixels)."""
    done: list[int] = []
    plan = []
    for k in sorted(set(windows)):
        plan.append((k, max((j for j in done if k % j == 0), default=None)))
        done.append(k)
    return plan


def conv_window_sums(x: Tensor, windows: tuple[int, ...], channels: int) -> dict[int, Tensor]:
    """:func:`window_sums` as depthwise convolutions with kernels of ones: a window ``m`` times
    as wide as one already summed is a row then a column of ``m`` taps dilated by the smaller
    window; any other a row then a column of ``k`` taps. Every output pixel adds the same taps in
    the same order wherever it sits, so tiles stay seamless."""
    out: dict[int, Tensor] = {}
    for k, j in nesting(windows):
        src, m, d = (out[j], k // j, j) if j else (x, k, 1)
        row = torch.ones(channels, 1, 1, m, dtype=x.dtype)
        out[k] = F.conv2d(F.conv2d(src, row, dilation=(1, d), groups=channels), row.transpose(2, 3),
                          dilation=(d, 1), groups=channels)
    return out


def nested(s: Tensor, j: int, m: int) -> Tensor:
    """Sums over ``(m·j)²`` windows from those over ``j²`` windows ``s``."""
    for dim in (2, 3):
        n = s.shape[dim] - (m - 1) * j
        s = sum(s.narrow(dim, a * j, n) for a in range(1, m)) + s.narrow(dim, 0, n)
    return s


def axis_sum(x: Tensor, k: int, dim: int, cache: dict | None = None) -> Tensor:
    """Sums of ``k`` consecutive values along ``dim`` (length ``L - k + 1``), by halving."""
    cache = {1: x} if cache is None else cache
    if k not in cache:
        h = k // 2
        a, b = axis_sum(x, h, dim, cache), axis_sum(x, k - h, dim, cache)
        n = x.shape[dim] - k + 1
        cache[k] = a.narrow(dim, 0, n) + b.narrow(dim, h, n)
    return cache[k]


def box_mean_direct(x: Tensor, k: int) -> Tensor:
    """:func:`box_means` by direct separable averaging (``k`` additions a pixel and axis)."""
    p = k // 2
    x = F.avg_pool2d(F.pad(x, (0, 0, p, p), mode="replicate"), (k, 1), 1)
    return F.avg_pool2d(F.pad(x, (p, p, 0, 0), mode="replicate"), (1, k), 1)
