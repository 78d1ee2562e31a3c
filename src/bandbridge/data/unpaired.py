"""Unpaired data for CycleGAN: domain A (the input images) and domain B (the target images) of
layout 'unpaired' sources, read apart and sampled apart.

Each side is read with its own band selection and scaling (``read_side`` through ``load_pair``
on a one-sided view of the source) and loaded as a pair of an image with itself, so the crops,
flips, resampling, masks and per-image statistics of the paired datasets apply unchanged. A
training sample is ``{"a": A crop, "b": B crop}``: the two crops come from independent random
streams (image, window, flips), so a crop meets its registered partner, where one exists, only
by chance (about 1 in the number of images) and never at the same window.
"""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset

from bandbridge.config import Config, Source
from bandbridge.data.datamodule import PairedDataModule, attach_locations, check_channels
from bandbridge.data.datasets import (EpochSampler, LoadedPair, RandomCropDataset, TileDataset,
                                      load_pair)
from bandbridge.data.items import discover_unpaired
from bandbridge.errors import BandbridgeError

SIDES = ("input", "target")  # domain A, domain B
# Domain B's crops use seed + B_STREAM. A crop's generator is seeded with seed · 1 000 003 + index,
# and torch's CPU generator keeps only the low 32 bits of a seed: 2147 · 1 000 003 ≈ 2³¹ puts B's
# draws half that space away from A's (an offset of 2³² would repeat A's draws exactly).
B_STREAM = 2147


def side_view(src: Source, side: str) -> Source:
    """``src`` seen from one side: that side's band selection on both ends, so an image loads
    as a pair with itself (its crops and statistics are that side's own)."""
    sel = src.input if side == "input" else src.target
    return src.model_copy(update={"input": sel, "target": sel})


class UnpairedCrops(Dataset):
    """Sample ``i``: ``{"a": a[i], "b": b[i]}``, two crops drawn apart (see the module doc)."""

    def __init__(self, a: RandomCropDataset, b: RandomCropDataset):
        self.a, self.b = a, b

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, i: int) -> dict:
        return {"a": self.a[i], "b": self.b[i]}


class UnpairedDataModule(PairedDataModule):
    """Sources → each split's A and B images → loaders: unpaired crops for training, and for
    validation two tile loaders (A tiles to translate, B tiles as the real distribution).
    The loader settings and the rank's share of the crops are the paired module's."""

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.sides: dict[str, dict[str, list[LoadedPair]]] = {}

    def load_split(self, split: str) -> dict[str, list[LoadedPair]]:
        if split not in self.sides:
            found = discover_unpaired(self.cfg.data)[split]
            srcs = self.cfg.data.sources
            self.sides[split] = {}
            for side in SIDES:
                loaded = (load_pair(it, side_view(srcs[it.source], side)) for it in found[side])
                self.sides[split][side] = [p for p in loaded if p is not None]
                attach_locations(self.sides[split][side], self.cfg.data.root)
        return self.sides[split]

    def setup(self, stage: str | None = None) -> None:
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
        for split in needed.get(stage or "fit", ("train", "val")):
            for side, images in self.load_split(split).items():
                if not images:
                    raise BandbridgeError(
                        f"the '{split}' split has no {side} images: no {side} file of "
                        "data.sources is assigned to it. Add files or adjust the split patterns")
        for side in SIDES:  # one network per direction: each side's band count is one
            check_channels({s: d[side] for s, d in self.sides.items()})

    @property
    def channels(self) -> tuple[int, int]:
        """(bands of domain A, bands of domain B)."""
        train = self.sides["train"]
        return train["input"][0].x.shape[0], train["target"][0].x.shape[0]

    def train_dataloader(self) -> DataLoader:
        d, seed = self.cfg.data, self.cfg.train.seed
        rank, world = self._world()
        a, b = (RandomCropDataset(self.sides["train"][side], d, 1, d.samples_per_epoch, s)
                for side, s in zip(SIDES, (seed, seed + B_STREAM)))
        return self._loader(UnpairedCrops(a, b),
                            EpochSampler(max(d.samples_per_epoch // world, 1), rank, world))

    def _tiles(self, split: str) -> list[DataLoader]:
        """[A tiles, B tiles] of ``split`` (each side's images on the evaluation grid)."""
        return [self._loader(TileDataset(self.sides[split][side], self.cfg.data, 1))
                for side in SIDES]

    def val_dataloader(self) -> list[DataLoader]:
        return self._tiles("val")

    def test_dataloader(self) -> list[DataLoader]:
        return self._tiles("test")
