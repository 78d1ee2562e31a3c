"""Sentinel-2's coarse bands sharpened by a residual network of DSen2's family (Lanaras et al.
2018; UP42's AESR): the four 10 m bands and the coarse bands upsampled onto their grid in, each
coarse band's upsampled input plus the network's correction out (issue 96).

Input ``(B, 4 + 8 + 8, H, W)``: B02, B03, B04, B08 (reflectance); the eight coarse bands B01, B05,
B06, B07, B8A, B09, B11, B12 upsampled onto the same grid (reflectance, 0 where a band is absent);
eight planes of 1.0 where that band is present, 0.0 where not. Output ``(B, 8, H, W)``: the upsampled
bands plus the correction (an absent band's output means nothing; callers take the present ones).

The body is EDSR's residual stack (``models/layers.ResBlock``) between a 3×3 head and a 3×3 tail
whose weights start at zero, so the untrained network returns the upsampled bands exactly. Its
size is fixed by a budget, not tuned: at most 40,000 multiply-adds a pixel (a 10980² tile within a
few times a plain predict); 24 features and 3 blocks do 37,152 (:func:`multiply_adds`), and an
output pixel sees the input within ``2 + 2 · n_blocks`` = 8 pixels (what a tile's overlap covers).

:func:`refine` runs it on numpy arrays in overlapping tiles, so a large raster needs no large tensor.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bandbridge.models.layers import ResBlock

S2_FINE = ["B02", "B03", "B04", "B08"]  # the guides, in the input's order
S2_COARSE = ["B01", "B05", "B06", "B07", "B8A", "B09", "B11", "B12"]  # the upsampled bands and the output's order
BETWEEN = 2  # the 60 m run's 20 m bands, read beside its guides: each this many times coarser than its 10 m grid


class S2Residual(nn.Module):
    """``y = up + tail(body(head(x')))/gain``, ``up`` the input's upsampled bands, ``x'`` the input
    with its reflectance lifted by ``gain`` (mostly under 0.3, to unit scale inside)."""

    def __init__(self, in_channels: int = 20, out_channels: int = 8, nf: int = 24, n_blocks: int = 3,
                 res_scale: float = 0.1, gain: float = 4.0):
        super().__init__()
        self.fine = in_channels - 2 * out_channels  # the guides in front of the upsampled bands and their planes
        if self.fine < 0:
            raise ValueError(f"s2-residual takes guides, {out_channels} upsampled bands and {out_channels} "
                             f"presence planes: {in_channels} input channels are too few")
        self.out_channels, self.gain = out_channels, gain
        self.head = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.body = nn.Sequential(*[ResBlock(nf, res_scale) for _ in range(n_blocks)], nn.ReLU(True))
        self.tail = nn.Conv2d(nf, out_channels, 3, 1, 1)
        nn.init.zeros_(self.tail.weight), nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        k = self.fine + self.out_channels  # reflectance channels; the presence planes stay 0/1
        up = x[:, self.fine:k]
        lifted = torch.cat([x[:, :k] * self.gain, x[:, k:]], 1)
        return up + self.tail(self.body(self.head(lifted))) / self.gain


def multiply_adds(in_channels: int = 20, out_channels: int = 8, nf: int = 24, n_blocks: int = 3) -> int:
    """The multiply-adds :class:`S2Residual` does a pixel: its head and tail 3×3 convolutions and two
    3×3 ``nf``-to-``nf`` convolutions a block (37,152 for 20 → 8 channels, 24 features, 3 blocks)."""
    return 9 * nf * (in_channels + out_channels + 2 * n_blocks * nf)


def reach(net: S2Residual) -> int:
    """How far, in pixels, an output pixel sees the input: one per 3×3 convolution."""
    return sum(1 for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))


def stacked(guides: np.ndarray, up: np.ndarray, names: list[str]) -> np.ndarray:
    """The network's input ``(20, H, W)`` float32 of ``guides (4, H, W)`` and ``up (T, H, W)``, the
    bands ``names`` upsampled (see the module); unknown values (NaN) as 0."""
    if len(names) != len(up) or any(n not in S2_COARSE for n in names) or len(set(names)) != len(names):
        raise ValueError(f"s2-residual sharpens distinct bands of {S2_COARSE}: got {names} for {len(up)} bands")
    x = np.zeros((len(S2_FINE) + 2 * len(S2_COARSE), *guides.shape[1:]), np.float32)
    x[:len(S2_FINE)] = guides
    for band, plane in zip(names, up):
        i = S2_COARSE.index(band)
        x[len(S2_FINE) + i] = plane
        x[len(S2_FINE) + len(S2_COARSE) + i] = 1.0
    return np.nan_to_num(x, nan=0.0)


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along a side of ``n``: every ``tile − 2·overlap`` pixels, the last flush with the end."""
    if n <= tile:
        return [0]
    step = tile - 2 * overlap
    out = list(range(0, n - tile, step))
    return out + [n - tile]


def refine(net: S2Residual, guides: np.ndarray, up: np.ndarray, names: list[str], tile: int = 512,
           overlap: int = 16) -> np.ndarray:
    """The network's output ``(T, H, W)`` float32 for the bands ``names``, from ``guides (4, H, W)``
    (B02, B03, B04, B08 reflectance) and ``up (T, H, W)`` those bands upsampled onto the guides' grid
    (reflectance), run in ``tile²`` tiles that overlap by ``overlap`` pixels a side (at least the
    network's :func:`reach`, so the tiles join seamlessly: the output is the whole image's)."""
    if overlap < reach(net) or tile <= 2 * overlap:
        raise ValueError(f"refine: an overlap of {overlap} under the network's reach {reach(net)}, or a tile of "
                         f"{tile} not above twice it")
    stacked(guides[:, :1, :1], up[:, :1, :1], names)  # the names checked before any tile runs
    h, w = guides.shape[1:]
    rows = [S2_COARSE.index(b) for b in names]
    out = np.empty((len(names), h, w), np.float32)
    param = next(net.parameters())
    with torch.no_grad():
        for r in _starts(h, tile, overlap):
            for c in _starts(w, tile, overlap):
                x = stacked(guides[:, r:r + tile, c:c + tile], up[:, r:r + tile, c:c + tile], names)  # one tile's input
                y = net(torch.from_numpy(x[None]).to(param).contiguous(memory_format=torch.channels_last))[0, rows].cpu().numpy()
                # each tile gives the pixels at least ``overlap`` in from its inner edges (all of them at the image's)
                r0, c0 = (overlap if r else 0), (overlap if c else 0)
                out[:, r + r0:r + y.shape[1], c + c0:c + y.shape[2]] = y[:, r0:, c0:]
    return out
