"""Paired datasets: random augmented crops for training, a fixed tile grid for evaluation.

A sample is ``{"input": (Ci,h,w), "target": (Ct,h·s,w·s), "mask": (1,h·s,w·s), "meta": {...}}``
with s the super-resolution scale (1 for translation). Mask is True where both sides are valid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from bandbridge.bands import get_scaling
from bandbridge.config import BandSel, DataConfig, Source
from bandbridge.data.context import context_row, pixel_latlon
from bandbridge.data.degrade import bicubic_down, degrade, modcrop
from bandbridge.data.items import Item
from bandbridge.data.reader import Raster, read_raster
from bandbridge.errors import BandbridgeError
from bandbridge.radiometry import augment_radiometry, image_stats


def read_side(path: str, sel: BandSel) -> Raster:
    """Read one side of a pair with its band selection and scaling (shared with prediction)."""
    return read_raster(path, get_scaling(sel.scaling, sel.vmin, sel.vmax), sel.bands,
                       band_names=sel.band_names, sensor=sel.sensor)


@dataclass
class LoadedPair:
    item: Item
    x: torch.Tensor  # (Ci, H, W)
    y: torch.Tensor  # (Ct, H·s, W·s)
    mask: torch.Tensor  # (1, H·s, W·s) bool
    source: Source
    crs: object = None  # the input's georeference, for locations
    transform: object = None
    latlon: tuple[float, float] | None = None  # from a sidecar file, for the whole image
    stats: torch.Tensor | None = None  # (2·Ci,) the input's per-image statistics (radiometry.py)
    hr_only: bool = False  # layout 'hr': training crops make their input from the target

    @property
    def group(self) -> str:
        """``source/group``: the split group validation may score apart (the item's id when the
        split gave it none)."""
        return f"{self.source.name}/{self.item.group or self.item.id}"

    def location(self, row: float, col: float) -> tuple[float, float]:
        """(lat, lon) in degrees of an input pixel position; NaN when unknown."""
        if self.crs is not None and self.transform is not None:
            return pixel_latlon(self.crs, self.transform, row, col)
        return self.latlon if self.latlon is not None else (float("nan"), float("nan"))

    def context(self, row: float, col: float, sensors: list[str]) -> list[float]:
        """The generator's context row at an input pixel position: place, GSD and sensor
        (:func:`context_row`), then the whole image's statistics."""
        return context_row(*self.location(row, col), self.source.gsd, self.source.sensor_name,
                           sensors) + self.stats.tolist()


def load_hr(item: Item, src: Source, scale: int) -> LoadedPair:
    """A high-resolution-only item (layout 'hr'): the target cropped to a multiple of the scale,
    the input its MATLAB-bicubic downscale rounded to 8 bits (data/degrade.py)."""
    b = read_side(item.target_path, src.target)
    y = modcrop(torch.from_numpy(b.data), scale)
    mask = modcrop(torch.from_numpy(b.mask), scale)
    if y.shape[-1] < 16 * scale or y.shape[-2] < 16 * scale:
        raise BandbridgeError(f"{item.target_path}: {b.shape[0]}×{b.shape[1]} is too small for "
                              f"×{scale} super-resolution (at least {16 * scale} px a side)")
    if not bool(mask.any()):
        raise BandbridgeError(f"{item.target_path}: no valid pixels (all nodata); remove it")
    x = bicubic_down(y, scale)
    lr_mask = F.avg_pool2d(mask[None, None].float(), scale)[0, 0] == 1.0
    return LoadedPair(item, x, y, mask[None], src, b.crs, b.transform,
                      stats=torch.from_numpy(image_stats(x.numpy(), lr_mask.numpy())), hr_only=True)


def load_pair(item: Item, src: Source, scale: int = 1) -> LoadedPair | None:
    """Read both sides of ``item``; sizes must agree (target = scale × input). None for a
    region of the item without valid pixels."""
    if src.layout == "hr":
        p = load_hr(item, src, scale)
        return cut_region(p, scale) if item.region else p
    a = read_side(item.input_path, src.input)
    b = a if item.input_path == item.target_path and src.input == src.target else \
        read_side(item.target_path, src.target)
    (h, w), (ht, wt) = a.shape, b.shape
    if (ht, wt) != (h * scale, w * scale):
        want = f"{h * scale}×{w * scale}" + (f" (= {scale} × input)" if scale > 1 else "")
        raise BandbridgeError(
            f"pair '{item.id}': input {item.input_path} is {h}×{w} but target {item.target_path} "
            f"is {ht}×{wt}; expected {want}. Resample one side onto the other's grid")
    mask = torch.from_numpy(b.mask) & torch.from_numpy(a.mask).repeat_interleave(scale, 0).repeat_interleave(scale, 1)
    if not bool(mask.any()):
        raise BandbridgeError(f"pair '{item.id}' ({item.input_path}): no valid pixels "
                              "(all nodata); remove it from the source")
    pair = LoadedPair(item, torch.from_numpy(a.data), torch.from_numpy(b.data), mask[None], src,
                      a.crs, a.transform, stats=torch.from_numpy(image_stats(a.data, a.mask)))
    return cut_region(pair, scale) if item.region else pair


def cut_region(p: LoadedPair, scale: int = 1) -> LoadedPair | None:
    """The band ``item.region`` of a pair (rows or columns, fractions of the input), or None
    when it holds no valid pixel. The statistics stay the whole image's: prediction normalises
    a scene by its own, whole."""
    axis, a, b = p.item.region
    n = p.x.shape[1 if axis == "rows" else 2]
    i0, i1 = round(a * n), round(b * n)
    if i1 - i0 < 8:
        raise BandbridgeError(f"pair '{p.item.label}': the region is {i1 - i0} px of {n}; "
                              "too thin (at least 8 px): widen the split's regions")
    dim = 1 if axis == "rows" else 2
    x = p.x.narrow(dim, i0, i1 - i0)
    y = p.y.narrow(dim, i0 * scale, (i1 - i0) * scale)
    mask = p.mask.narrow(dim, i0 * scale, (i1 - i0) * scale)
    if not bool(mask.any()):  # a cloud-masked band of one date: nothing to learn or score
        return None
    tr = p.transform
    if tr is not None:
        from rasterio.transform import Affine
        tr = tr @ (Affine.translation(0, i0) if axis == "rows" else Affine.translation(i0, 0))
    return dataclasses.replace(p, x=x.contiguous(), y=y.contiguous(), mask=mask.contiguous(),
                               transform=tr)


def _crop(p: LoadedPair, r: int, c: int, size: int, scale: int):
    """Crop an input window of ``size`` at (r, c) (LR pixels); zero-pad past the edges."""
    def cut(t, r, c, s):
        out = torch.zeros((t.shape[0], s, s), dtype=t.dtype)
        h, w = t.shape[1:]
        rr, cc = slice(max(r, 0), min(r + s, h)), slice(max(c, 0), min(c + s, w))
        out[:, rr.start - r:rr.stop - r, cc.start - c:cc.stop - c] = t[:, rr, cc]
        return out
    s = scale
    return cut(p.x, r, c, size), cut(p.y, r * s, c * s, size * s), cut(p.mask, r * s, c * s, size * s)


def batch_context(batch: dict, sensors: list[str] | None = None) -> torch.Tensor | None:
    """``(B, 4 + 2·Ci)`` context of a batch's crops: :func:`context_row` then the images'
    statistics (``batch["stats"]``), or None."""
    meta = batch.get("meta", {})
    if "lat" not in meta:
        return None
    rows = [context_row(float(a), float(o), float(g), s, sensors or [])
            for a, o, g, s in zip(meta["lat"], meta["lon"], meta["gsd"], meta.get("sensor", [""] * len(meta["lat"])))]
    ctx = torch.tensor(rows, dtype=torch.float32)
    if "stats" in batch:
        ctx = torch.cat([ctx, batch["stats"].float()], 1)
    return ctx


def _meta(p: LoadedPair, r: int, c: int, size: int) -> dict:
    lat, lon = p.location(r + size / 2, c + size / 2)  # the crop's centre
    return {"id": p.item.id, "path": p.item.input_path, "row": r, "col": c,
            "source": p.source.name, "group": p.group,
            "sensor": p.source.sensor_name,
            "gsd": float(p.source.gsd or 0.0), "lat": lat, "lon": lon}


class RandomCropDataset(Dataset):
    """``length`` random crops drawn from the pairs (probability ∝ source weight × area),
    flipped and rotated identically on input, target and mask."""

    def __init__(self, pairs: list[LoadedPair], cfg: DataConfig, scale: int, length: int,
                 seed: int = 0):
        self.pairs, self.scale, self.length, self.seed = pairs, scale, length, seed
        self.size = cfg.patch_size // scale
        self.flip, self.rot90 = cfg.flip, cfg.rot90
        self.resample = list(cfg.resample)
        self.augment, self.degrade = cfg.augment, cfg.degrade
        w = np.array([p.source.weight * p.x.shape[1] * p.x.shape[2] for p in pairs], float)
        self.p = torch.tensor(w / w.sum())

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        # Each draw is a pure function of (seed, i): no shared RNG, so resumes, worker
        # processes and DDP ranks are reproducible (indices come from EpochSampler).
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        k = int(torch.multinomial(self.p, 1, generator=g))
        pair = self.pairs[k]
        if pair.hr_only:
            return self._hr_crop(pair, g)
        # Multi-scale: a window f× larger, averaged down by f, mimics a coarser sensor (GSD × f).
        f = self.resample[int(torch.randint(0, len(self.resample), (), generator=g))]
        size = self.size * f
        h, w = pair.x.shape[1:]
        r = int(torch.randint(0, max(h - size, 0) + 1, (), generator=g))
        c = int(torch.randint(0, max(w - size, 0) + 1, (), generator=g))
        x, y, m = _crop(pair, r, c, size, self.scale)
        if f > 1:
            x, y = F.avg_pool2d(x[None], f)[0], F.avg_pool2d(y[None], f)[0]
            m = F.avg_pool2d(m[None].float(), f)[0] == 1.0  # valid only if the whole block is
        x, y, m = self._flip_rotate((x, y, m), g)
        stats = pair.stats
        if self.augment.active and self.scale == 1:
            src = pair.source
            x, y, stats = augment_radiometry(x, y, m, stats, role_names(src.input.bands, x.shape[0]),
                                             role_names(src.target.bands, y.shape[0]), self.augment, g)
        meta = _meta(pair, r, c, size)
        meta["gsd"] *= f
        return {"input": x.contiguous(), "target": y.contiguous(), "mask": m.contiguous(),
                "stats": stats, "meta": meta}


    def _flip_rotate(self, ts: tuple[torch.Tensor, ...], g: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The same random flips and 90° rotation of every tensor (draws from ``g``)."""
        if self.flip and torch.rand((), generator=g) < 0.5:
            ts = tuple(t.flip(-1) for t in ts)
        if self.flip and torch.rand((), generator=g) < 0.5:
            ts = tuple(t.flip(-2) for t in ts)
        if self.rot90:
            q = int(torch.randint(0, 4, (), generator=g))
            ts = tuple(torch.rot90(t, q, (-2, -1)) for t in ts)
        return ts

    def _hr_crop(self, pair: LoadedPair, g: torch.Generator) -> dict:
        """A random high-resolution crop (any offset), flipped/rotated, and its input made on
        the fly (data/degrade.py)."""
        s, size = self.scale, self.size * self.scale
        h, w = pair.y.shape[1:]
        r = int(torch.randint(0, max(h - size, 0) + 1, (), generator=g))
        c = int(torch.randint(0, max(w - size, 0) + 1, (), generator=g))
        y, m = pair.y[:, r:r + size, c:c + size], pair.mask[:, r:r + size, c:c + size]
        if y.shape[-2:] != (size, size):  # an image smaller than a crop: pad, masked out
            pad = (0, size - y.shape[-1], 0, size - y.shape[-2])
            y, m = F.pad(y, pad), F.pad(m, pad)
        y, m = self._flip_rotate((y, m), g)
        x = degrade(y, s, self.degrade, g)
        meta = _meta(pair, r // s, c // s, self.size)
        return {"input": x.contiguous(), "target": y.contiguous(), "mask": m.contiguous(),
                "stats": pair.stats, "meta": meta}


class EpochSampler(Sampler[int]):
    """Yields ``n`` indices unique to (epoch, rank): ``((epoch · world) + rank) · n + k``.

    Lightning calls ``set_epoch`` before each epoch's iterator is made, so the crops of an epoch
    depend on nothing but the seed, the epoch and the rank.
    """

    def __init__(self, n: int, rank: int = 0, world: int = 1):
        self.n, self.rank, self.world, self.epoch = n, rank, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        base = (self.epoch * self.world + self.rank) * self.n
        return iter(range(base, base + self.n))

    def __len__(self) -> int:
        return self.n


def grid_windows(h: int, w: int, size: int) -> list[tuple[int, int]]:
    """Top-left corners of non-overlapping ``size`` tiles covering (h, w); the last row/column
    is shifted back inside the image (images smaller than a tile get one padded tile)."""
    def starts(n):
        if n <= size:
            return [0]
        s = list(range(0, n - size + 1, size))
        return s if s[-1] == n - size else s + [n - size]
    return [(r, c) for r in starts(h) for c in starts(w)]


class TileDataset(Dataset):
    """Deterministic evaluation tiles: a grid over every pair, at most ``max_tiles`` in all
    (evenly spaced through the list when there are more)."""

    def __init__(self, pairs: list[LoadedPair], cfg: DataConfig, scale: int):
        self.pairs, self.scale = pairs, scale
        self.size = cfg.patch_size // scale
        tiles = [(k, r, c) for k, p in enumerate(pairs)
                 for r, c in grid_windows(p.x.shape[1], p.x.shape[2], self.size)]
        if len(tiles) > cfg.max_eval_tiles:
            pick = np.linspace(0, len(tiles) - 1, cfg.max_eval_tiles).round().astype(int)
            tiles = [tiles[i] for i in pick]
        self.tiles = tiles

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, i: int) -> dict:
        k, r, c = self.tiles[i]
        x, y, m = _crop(self.pairs[k], r, c, self.size, self.scale)
        return {"input": x, "target": y, "mask": m, "stats": self.pairs[k].stats,
                "meta": _meta(self.pairs[k], r, c, self.size)}


def role_names(bands, n: int) -> list[str]:
    """The band names augmentation keys its per-band terms on (haze by wavelength): the
    selected bands as named, or "other" for each when they are not named one per band."""
    names = [str(b) for b in (bands or [])]
    return names if len(names) == n else ["other"] * n
