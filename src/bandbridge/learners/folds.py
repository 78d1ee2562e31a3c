"""The pixels a choice is made on, and spatial cross-validation folds that never leak.

Neighbouring pixels are near-copies: a fold that tests on pixels next to its training pixels
scores memory, not transfer. So folds are whole groups of images when there are two or more
groups (each group of near-copy images held out whole), else blocks of rows or columns of each
image (along its longer side) with a **buffer** of at least the largest context window between a
held-out block and any training pixel — no training pixel's feature window reaches into it, and
no held-out pixel has a training neighbour closer than the buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bandbridge.errors import BandbridgeError
from bandbridge.learners.base import PRODUCTS, WINDOWS
from bandbridge.models.features import ContextFeatures

FOLDS = 4
MAX_PIXELS = 200_000  # pixels a choice (and the refit) is made on, spread over every image


@dataclass
class Pixels:
    """Valid pixels of a set of images: features, targets and where each came from."""

    X: np.ndarray  # (N, F) float32 context features φ (bands first)
    Y: np.ndarray  # (N, Ct) float32 targets
    image: np.ndarray  # (N,) index of the image
    group: np.ndarray  # (N,) index of the image's group (near-copies share one)
    pos: np.ndarray  # (N,) row or column along the image's longer side
    length: np.ndarray  # (n_images,) that side's length
    bands: int  # input bands (the first columns of X)
    total: int  # valid pixels the images hold (N ≤ total: a uniform sample when larger)

    def __len__(self) -> int:
        return len(self.X)


def image_features(x: torch.Tensor) -> torch.Tensor:
    """``φ(x)`` of a whole image ``(Ci, H, W)`` → ``(F, H, W)``: the features every candidate's
    columns come from (the direct box filters: what trees will split on in every tile)."""
    with torch.inference_mode():
        return ContextFeatures(x.shape[0], WINDOWS, PRODUCTS, exact=True)(x[None].float())[0]


def gather(images: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], groups: list[str],
           max_pixels: int = MAX_PIXELS, seed: int = 0, extra: list[torch.Tensor] | None = None
           ) -> tuple[Pixels, list[np.ndarray]]:
    """:class:`Pixels` of ``images`` (``(x (Ci, H, W), y (Ct, H, W), mask (H, W) bool)``), each
    with its group name; a uniform sample of ``max_pixels`` of all valid pixels when they hold
    more. ``extra``: per-image maps ``(K, H, W)`` (e.g. a model's output) gathered at the same
    pixels, returned as ``(N, K)`` arrays."""
    rng = np.random.default_rng(seed)
    total = sum(int(m.sum()) for _, _, m in images)
    keep = min(1.0, max_pixels / max(total, 1))
    names = sorted(set(groups))
    cols: dict[str, list] = {k: [] for k in ("X", "Y", "image", "group", "pos", "extra")}
    length = []
    for i, (x, y, m) in enumerate(images):
        h, w = m.shape
        rows, cs = np.nonzero(m.numpy())
        if keep < 1.0:
            pick = rng.random(len(rows)) < keep
            rows, cs = rows[pick], cs[pick]
        f = image_features(x).numpy()
        cols["X"].append(f[:, rows, cs].T.astype(np.float32))
        cols["Y"].append(y.numpy()[:, rows, cs].T.astype(np.float32))
        cols["image"].append(np.full(len(rows), i))
        cols["group"].append(np.full(len(rows), names.index(groups[i])))
        cols["pos"].append(rows if h >= w else cs)
        length.append(max(h, w))
        if extra is not None:
            cols["extra"].append(extra[i].numpy()[:, rows, cs].T.astype(np.float32))
    cat = {k: np.concatenate(v) for k, v in cols.items() if v}
    px = Pixels(cat["X"], cat["Y"], cat["image"], cat["group"], cat["pos"], np.array(length),
                images[0][0].shape[0], total)
    return px, ([cat["extra"]] if extra is not None else [])


def pair_groups(pairs: list) -> list[str]:
    """How the core groups loaded pairs (``LoadedPair``): by source when there are two or more
    sources (leave-one-source-out), else each image's split group (near-copies share one)."""
    many = len({p.source.name for p in pairs}) >= 2
    return [p.source.name if many else p.group for p in pairs]


def pair_pixels(pairs: list, groups: list[str] | None = None, **kw) -> tuple[Pixels, list[np.ndarray]]:
    """:func:`gather` of loaded pairs' input, target and valid mask; ``groups`` default to
    :func:`pair_groups`."""
    return gather([(p.x, p.y, p.mask[0]) for p in pairs],
                  pair_groups(pairs) if groups is None else groups, **kw)


@dataclass(frozen=True)
class Fold:
    train: np.ndarray  # indices into Pixels
    test: np.ndarray
    what: str  # "group roadscene/FLIR_00012" or "cols 0–63 (buffer 45)"


def spatial_folds(px: Pixels, k: int = FOLDS, buffer: int = max(WINDOWS)) -> list[Fold]:
    """Leave-group-out folds when the pixels come from two or more groups (groups dealt round
    into at most ``k`` folds), else ``k`` blocks along each image's longer side, training pixels
    at least ``buffer`` px from the held-out block."""
    groups = np.unique(px.group)
    if len(groups) >= 2:
        held = [groups[j::min(k, len(groups))] for j in range(min(k, len(groups)))]
        return [Fold(np.flatnonzero(~t), np.flatnonzero(t), f"{len(h)} group(s) held out")
                for h, t in ((h, np.isin(px.group, h)) for h in held)]
    L = px.length[px.image]
    lo_of = lambda j: (L * j) // k  # noqa: E731 - the block edges of each pixel's image
    out = []
    for j in range(k):
        lo, hi = lo_of(j), lo_of(j + 1)
        test = (px.pos >= lo) & (px.pos < hi)
        train = (px.pos < lo - buffer) | (px.pos >= hi + buffer)
        if test.any() and train.any():
            out.append(Fold(np.flatnonzero(train), np.flatnonzero(test),
                            f"block {j + 1}/{k} of the longer side (buffer {buffer} px)"))
    return out


def too_small(px: Pixels, k: int = FOLDS, buffer: int = max(WINDOWS)) -> BandbridgeError:
    """The one-line refusal when ``px`` holds no spatial fold: one group of images too short for
    a held-out block and its buffer (what a user can change is the images)."""
    longest = int(px.length.max()) if len(px.length) else 0
    need = buffer * k // (k - 1) + 1 if k > 1 else buffer + 1
    return BandbridgeError(
        f"{len(px):,} pixel(s) of images at most {longest} px on their longer side are too small to hold "
        f"any out: spatial folds need a longer side above {need} px (a held-out block of 1/{k} and a "
        f"{buffer} px buffer) or two or more images; give larger images or more of them")
